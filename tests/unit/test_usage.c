/*
 * core/usage.c: what a price table makes of the stages' counters, and the
 * `usage` object of the job record and the status response.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "job.h"
#include "pipeline.h"
#include "usage.h"
#include "util.h"

static plugin_registry *reg;
static char *dir;

static int group_setup(void **state)
{
	(void)state;
	reg = th_registry();
	dir = th_tmpdir();
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	registry_free(reg);
	th_rmdir(dir);
	return 0;
}

/* explain and refine are model stages (testplug is of kind "model");
 * narrate is priced by its stage. */
static const char PRICED[] =
	"models = ( { name = \"m1\"; id = \"x\"; }, { name = \"m2\"; id = \"y\"; } );\n"
	"stages = (\n"
	" { id = \"explain\"; plugin = \"testplug\"; inputs = [\"question\"]; },\n"
	" { id = \"refine\"; plugin = \"testplug\"; model = \"m2\"; inputs = [\"explain\"]; },\n"
	" { id = \"narrate\"; plugin = \"testplug\"; inputs = [\"explain\"]; }\n"
	");\n"
	"prices = { currency = \"USD\"; rates = (\n"
	" { model = \"m1\"; input_tokens = 3.0; output_tokens = 15.0; },\n"
	" { model = \"m2\"; input_tokens = 1.25; output_tokens = 10.0; },\n"
	" { stage = \"refine\"; output_tokens = 20.0; },\n"
	" { stage = \"narrate\"; characters = 16.0; cpu_seconds = 0.36; }\n"
	"); };\n";

static pipeline *load(const char *text)
{
	char err[2048] = "";
	pipeline *p = th_pipeline(reg, dir, "u.cfg", text, err, sizeof(err), NULL);

	if (!p)
		fail_msg("pipeline failed to load: %s", err);
	return p;
}

static json_t *counters(const char *json)
{
	json_t *o = json_loads(json, 0, NULL);
	assert_non_null(o);
	return o;
}

static void test_cost_sum(void **state)
{
	pipeline *p = load(PRICED);
	char err[256];
	job *j = job_create(dir, "q", "m1", "Joanna", err, sizeof(err));
	json_t *u, *stages;
	int priced;

	(void)state;
	assert_non_null(j);
	/* 3 $/M tokens for m1 input, the stage's own rate beats its model's */
	assert_true(fabs(prices_cost(&p->prices, "explain", "m1", "input_tokens", 1e6,
				     &priced) - 3.0) < 1e-9);
	assert_int_equal(priced, 1);
	assert_true(fabs(prices_cost(&p->prices, "refine", "m2", "output_tokens", 1e6,
				     &priced) - 20.0) < 1e-9);
	prices_cost(&p->prices, "narrate", NULL, "requests", 5, &priced);
	assert_int_equal(priced, 0);

	j->n_stages = 3;
	j->stages = xcalloc(3, sizeof(*j->stages));
	j->stages[0].usage = counters("{\"input_tokens\": 1000, \"output_tokens\": 2000,"
				      " \"wall_seconds\": 1.5, \"attempts\": 1}");
	j->stages[1].usage = counters("{\"input_tokens\": 4000, \"output_tokens\": 500,"
				      " \"reasoning_tokens\": 300}");
	j->stages[2].usage = counters("{\"characters\": 500, \"cpu_seconds\": 100,"
				      " \"cache_hits\": 3, \"requests\": 2}");
	u = usage_build_locked(p, j);
	/* explain: 1000*3/1e6 + 2000*15/1e6 = 0.033; refine: 4000*1.25/1e6 +
	 * 500*20/1e6 = 0.015; narrate: 500*16/1e6 + 100*0.36/3600 = 0.018 */
	stages = json_object_get(u, "stages");
	assert_int_equal(json_array_size(stages), 3);
	assert_true(fabs(json_number_value(json_object_get(json_array_get(stages, 0), "cost")) -
			 0.033) < 1e-12);
	assert_string_equal(json_string_value(json_object_get(json_array_get(stages, 1),
							      "model")), "m2");
	assert_true(fabs(json_number_value(json_object_get(json_array_get(stages, 1), "cost")) -
			 0.015) < 1e-12);
	assert_true(fabs(json_number_value(json_object_get(json_array_get(stages, 2), "cost")) -
			 0.018) < 1e-12);
	assert_string_equal(json_string_value(json_object_get(json_object_get(u, "cost"),
							      "currency")), "USD");
	assert_true(fabs(json_number_value(json_object_get(json_object_get(u, "cost"), "total")) -
			 0.066) < 1e-12);
	/* totals add up, whole counts stay integers */
	json_t *t = json_object_get(u, "totals");
	assert_int_equal(json_integer_value(json_object_get(t, "input_tokens")), 5000);
	assert_int_equal(json_integer_value(json_object_get(t, "output_tokens")), 2500);
	assert_int_equal(json_integer_value(json_object_get(t, "reasoning_tokens")), 300);
	assert_int_equal(json_integer_value(json_object_get(t, "characters")), 500);
	assert_true(json_is_real(json_object_get(t, "wall_seconds")));

	/* the job shows it, and job.json keeps it */
	job_set_usage_locked(j, u);
	json_t *resp = job_response_locked(j);
	assert_true(json_equal(json_object_get(resp, "usage"), u));
	json_decref(resp);
	assert_non_null(strstr(j->usage_text, "\"currency\":\"USD\""));
	job_free(j);
	pipeline_free(p);
}

static void test_no_prices(void **state)
{
	pipeline *p = load("stages = ( { id = \"a\"; plugin = \"testplug\"; inputs = "
			   "[\"question\"]; } );\n");
	char err[256];
	job *j = job_create(dir, "q", "m", "Joanna", err, sizeof(err));
	json_t *u;

	(void)state;
	j->n_stages = 1;
	j->stages = xcalloc(1, sizeof(*j->stages));
	u = usage_build_locked(p, j);
	/* nothing ran: no stage entry; no price table: cost null */
	assert_int_equal(json_array_size(json_object_get(u, "stages")), 0);
	assert_true(json_is_null(json_object_get(u, "cost")));
	json_decref(u);
	j->stages[0].usage = counters("{\"input_tokens\": 7}");
	u = usage_build_locked(p, j);
	json_t *s0 = json_array_get(json_object_get(u, "stages"), 0);
	assert_string_equal(json_string_value(json_object_get(s0, "stage")), "a");
	assert_true(json_is_null(json_object_get(s0, "cost")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(s0, "counters"),
							    "input_tokens")), 7);
	json_decref(u);
	job_free(j);
	pipeline_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cost_sum),
		cmocka_unit_test(test_no_prices),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
