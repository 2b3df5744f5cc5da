/*
 * Usage and cost (usage.h): the price table of a pipeline file, and the
 * `usage` object built from the stages' counters.
 */
#include "usage.h"
#include "job.h"
#include "pipeline.h"
#include "util.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRICE_MAX 1e6     /* per million units, or per hour: no real price is higher */
#define PRICE_RATES_MAX 256

/* The counters a rate may price, and the unit its price is per. */
static const struct {
	const char *name;
	double unit;
} priceable[] = {
	{ "input_tokens", 1e6 },  { "output_tokens", 1e6 }, { "characters", 1e6 },
	{ "requests", 1e6 },      { "cache_hits", 1e6 },    { "cache_misses", 1e6 },
	{ "cpu_seconds", 3600 },  { "wall_seconds", 3600 }, { "attempts", 1e6 },
	{ NULL, 0 }
};

static double counter_unit(const char *name)
{
	for (size_t i = 0; priceable[i].name; i++)
		if (!strcmp(priceable[i].name, name))
			return priceable[i].unit;
	return 0;
}

static int fail_line(const char *file, int line, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int fail_line(const char *file, int line, char *err, size_t errlen, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	util_errf(err, errlen, "%s:%d: prices: %s", file, line, msg);
	return -1;
}

static int number_of(const config_setting_t *s, double *v)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT: *v = config_setting_get_int(s); return 0;
	case CONFIG_TYPE_INT64: *v = (double)config_setting_get_int64(s); return 0;
	case CONFIG_TYPE_FLOAT: *v = config_setting_get_float(s); return 0;
	default: return -1;
	}
}

/* One entry of `rates`: { model = "..."; COUNTER = PRICE; ... } or the same
 * with stage = "...". */
static int parse_rate(const config_setting_t *g, const char *file, price_table *t, char *err,
		      size_t errlen)
{
	int line = (int)config_setting_source_line(g), n_prices = 0;
	const char *model = NULL, *stage = NULL;

	if (!config_setting_is_group(g))
		return fail_line(file, line, err, errlen, "each rate must be a group { model = "
				 "\"...\"; input_tokens = 3.0; }");
	config_setting_lookup_string(g, "model", &model);
	config_setting_lookup_string(g, "stage", &stage);
	if (!model == !stage || (config_setting_get_member(g, "model") && !model) ||
	    (config_setting_get_member(g, "stage") && !stage))
		return fail_line(file, line, err, errlen, "a rate names one model = \"...\" or "
				 "one stage = \"...\" (a string)");
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(m);
		int ml = (int)config_setting_source_line(m);
		double v;

		if (!strcmp(name, "model") || !strcmp(name, "stage"))
			continue;
		if (!strcmp(name, "reasoning_tokens"))
			return fail_line(file, ml, err, errlen, "reasoning_tokens are part of "
					 "output_tokens and billed as such: price output_tokens");
		if (!counter_unit(name)) {
			strbuf sb = { 0 };
			for (size_t k = 0; priceable[k].name; k++)
				sb_printf(&sb, "%s%s", k ? ", " : "", priceable[k].name);
			fail_line(file, ml, err, errlen, "unknown counter \"%s\" (valid: %s)", name,
				  sb.buf);
			sb_free(&sb);
			return -1;
		}
		if (model && !strstr(name, "_tokens"))
			return fail_line(file, ml, err, errlen, "a model's rate prices tokens; put "
					 "\"%s\" in a stage's rate", name);
		if (number_of(m, &v) < 0 || !isfinite(v) || v < 0 || v > PRICE_MAX)
			return fail_line(file, ml, err, errlen, "\"%s\" must be a number from 0 to "
					 "%g", name, PRICE_MAX);
		for (size_t k = 0; k < t->n; k++) {
			const price_rate *o = &t->rates[k];
			if (!strcmp(o->counter, name) && ((model && o->model && !strcmp(o->model, model)) ||
			    (stage && o->stage && !strcmp(o->stage, stage))))
				return fail_line(file, ml, err, errlen, "%s for %s \"%s\" is priced "
						 "twice (first at line %d)", name, model ? "model" :
						 "stage", model ? model : stage, o->line);
		}
		if (t->n >= PRICE_RATES_MAX)
			return fail_line(file, ml, err, errlen, "more than %d prices", PRICE_RATES_MAX);
		t->rates = xrealloc(t->rates, (t->n + 1) * sizeof(*t->rates));
		price_rate *r = &t->rates[t->n++];
		memset(r, 0, sizeof(*r));
		r->model = model ? xstrdup(model) : NULL;
		r->stage = stage ? xstrdup(stage) : NULL;
		snprintf(r->counter, sizeof(r->counter), "%s", name);
		r->price = v;
		r->line = ml;
		n_prices++;
	}
	if (!n_prices)
		return fail_line(file, line, err, errlen, "a rate with no price (add e.g. "
				 "input_tokens = 3.0;)");
	return 0;
}

int prices_parse(const config_setting_t *grp, const char *file, price_table *t, char *err,
		 size_t errlen)
{
	const config_setting_t *cur, *rates;
	const char *c = NULL;

	memset(t, 0, sizeof(*t));
	t->line = (int)config_setting_source_line(grp);
	if (!config_setting_is_group(grp))
		return fail_line(file, t->line, err, errlen, "must be a group { currency = \"USD\";"
				 " rates = ( ... ); }");
	for (int i = 0; i < config_setting_length(grp); i++) {
		const config_setting_t *m = config_setting_get_elem(grp, (unsigned)i);
		const char *name = config_setting_name(m);
		if (strcmp(name, "currency") && strcmp(name, "rates"))
			return fail_line(file, (int)config_setting_source_line(m), err, errlen,
					 "unknown key \"%s\" (valid: currency, rates)", name);
	}
	cur = config_setting_get_member(grp, "currency");
	if (!cur || !(c = config_setting_get_string(cur)) || strlen(c) != 3 ||
	    !isupper((unsigned char)c[0]) || !isupper((unsigned char)c[1]) ||
	    !isupper((unsigned char)c[2]))
		return fail_line(file, cur ? (int)config_setting_source_line(cur) : t->line, err, errlen,
				 "currency must be a three-letter code such as \"USD\"");
	snprintf(t->currency, sizeof(t->currency), "%s", c);
	rates = config_setting_get_member(grp, "rates");
	if (!rates || !config_setting_is_list(rates))
		return fail_line(file, rates ? (int)config_setting_source_line(rates) : t->line, err,
				 errlen, "rates must be a list ( { model = \"...\"; "
				 "input_tokens = 3.0; }, ... )");
	for (int i = 0; i < config_setting_length(rates); i++)
		if (parse_rate(config_setting_get_elem(rates, (unsigned)i), file, t, err, errlen) < 0)
			return -1;
	return 0;
}

int prices_check(const price_table *t, const pipeline *p, const char *file, char *err,
		 size_t errlen)
{
	for (size_t i = 0; i < t->n; i++) {
		const price_rate *r = &t->rates[i];
		if (r->model && !pipeline_model(p, r->model))
			return fail_line(file, r->line, err, errlen, "model \"%s\" is not in "
					 "\"models\"", r->model);
		if (r->stage && pipeline_stage_index(p, r->stage) < 0)
			return fail_line(file, r->line, err, errlen, "no stage \"%s\"", r->stage);
	}
	return 0;
}

void prices_free(price_table *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->rates[i].model);
		free(t->rates[i].stage);
	}
	free(t->rates);
	memset(t, 0, sizeof(*t));
}

double prices_cost(const price_table *t, const char *stage, const char *model,
		   const char *counter, double value, int *priced)
{
	const price_rate *hit = NULL;
	double unit = counter_unit(counter);

	*priced = 0;
	if (!unit)
		return 0;
	for (size_t i = 0; i < t->n && !hit; i++)
		if (t->rates[i].stage && stage && !strcmp(t->rates[i].stage, stage) &&
		    !strcmp(t->rates[i].counter, counter))
			hit = &t->rates[i];
	for (size_t i = 0; i < t->n && !hit; i++)
		if (t->rates[i].model && model && !strcmp(t->rates[i].model, model) &&
		    !strcmp(t->rates[i].counter, counter))
			hit = &t->rates[i];
	if (!hit)
		return 0;
	*priced = 1;
	return value * hit->price / unit;
}

const char *usage_stage_model(const pipeline *p, size_t stage, const char *job_model)
{
	const stage_def *sd = &p->stages[stage];
	const char *kind = sd->plugin && sd->plugin->desc ? sd->plugin->desc->kind : NULL;

	if (!kind || strcmp(kind, "model"))
		return NULL;
	return sd->model ? sd->model : job_model;
}

/* Adds every number of src to the same key of dst. */
static void counters_add(json_t *dst, const json_t *src)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)src, k, v) {
		double cur = json_number_value(json_object_get(dst, k));
		if (json_is_number(v))
			json_object_set_new(dst, k, json_real(cur + json_number_value(v)));
	}
}

/* A copy of counters with whole numbers as integers (tokens, characters)
 * and seconds as they are. */
static json_t *counters_out(const json_t *src)
{
	json_t *o = json_object(), *v;
	const char *k;

	json_object_foreach((json_t *)src, k, v) {
		double d = json_number_value(v);
		if (d == floor(d) && d < 9e15 && !strstr(k, "_seconds"))
			json_object_set_new(o, k, json_integer((json_int_t)d));
		else
			json_object_set_new(o, k, json_real(round(d * 1000) / 1000));
	}
	return o;
}

/* The cost of one stage's counters; *any = 1 when a rate applied. */
static double stage_cost(const price_table *t, const char *stage, const char *model,
			 const json_t *counters, int *any)
{
	double sum = 0;
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)counters, k, v) {
		int priced;
		sum += prices_cost(t, stage, model, k, json_number_value(v), &priced);
		*any |= priced;
	}
	return sum;
}

json_t *usage_build_locked(const pipeline *p, const job *j)
{
	json_t *o = json_object(), *stages = json_array(), *totals = json_object();
	int priced = p->prices.currency[0] != '\0';
	double total = 0;

	for (size_t i = 0; i < p->n_stages && i < j->n_stages; i++) {
		const json_t *u = j->stages[i].usage;
		const char *model = usage_stage_model(p, i, j->model);
		json_t *s;
		int any = 0;

		if (!u || json_object_size(u) == 0)
			continue;
		s = json_pack("{s:s, s:s?, s:o}", "stage", p->stages[i].id, "model", model,
			      "counters", counters_out(u));
		if (priced) {
			double c = stage_cost(&p->prices, p->stages[i].id, model, u, &any);
			json_object_set_new(s, "cost", any ? json_real(c) : json_null());
			total += c;
		} else {
			json_object_set_new(s, "cost", json_null());
		}
		json_array_append_new(stages, s);
		counters_add(totals, u);
	}
	json_object_set_new(o, "stages", stages);
	json_object_set_new(o, "totals", counters_out(totals));
	json_decref(totals);
	if (priced)
		json_object_set_new(o, "cost", json_pack("{s:s, s:f}", "currency",
							 p->prices.currency, "total", total));
	else
		json_object_set_new(o, "cost", json_null());
	return o;
}
