/*
 * Usage and cost of a job: the pipeline's optional price table (`prices`,
 * doc/pipeline.md "Prices"), parsed and checked with file:line errors, and
 * the `usage` object of the job record and the status response, built from
 * each stage's counters (svc->usage, the file cache, CPU, wall time).
 */
#ifndef VG_USAGE_H
#define VG_USAGE_H

#include <stddef.h>
#include <libconfig.h>
#include <jansson.h>

struct pipeline;
struct job;

typedef struct price_rate {
	char *model;          /* friendly model name, or NULL */
	char *stage;          /* stage id, or NULL */
	char counter[33];
	double price;         /* per million units; per hour for *_seconds */
	int line;
} price_rate;

typedef struct price_table {
	char currency[4];     /* "" when the pipeline has no price table */
	price_rate *rates;
	size_t n;
	int line;
} price_table;

/* Parses the `prices` group grp into t. 0, or -1 with "file:line: ..." in
 * err. The model and stage names are checked by prices_check. */
int prices_parse(const config_setting_t *grp, const char *file, price_table *t, char *err,
		 size_t errlen);

/* Checks that every rate names a model of the pipeline or one of its
 * stages. 0, or -1 with "file:line: ..." in err. */
int prices_check(const price_table *t, const struct pipeline *p, const char *file, char *err,
		 size_t errlen);

void prices_free(price_table *t);

/* What value units of counter cost on a stage (id, and model when it is
 * a model stage, else NULL): a rate for the stage wins over one for its
 * model (model rates price *_tokens counters only). *priced = 1 when a
 * rate applied. */
double prices_cost(const price_table *t, const char *stage, const char *model,
		   const char *counter, double value, int *priced);

/* The job's `usage` object (doc/api.md) from its stages' counters
 * (j->stages[i].usage) and the pipeline's prices. j->lock held. Returns a
 * new reference. */
json_t *usage_build_locked(const struct pipeline *p, const struct job *j);

/* The friendly model a stage's usage is billed under: the stage's model or
 * the job's, for stages whose plugin is of kind "model"; else NULL. */
const char *usage_stage_model(const struct pipeline *p, size_t stage, const char *job_model);

#endif
