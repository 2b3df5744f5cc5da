/*
 * Pipeline files: libconfig parsing, the stage graph (inputs, cycles,
 * repairs), and each stage's `settings` group handed to the settings engine
 * (settings.c). Every error reads "file:line: what is wrong".
 */
#include "pipeline.h"
#include "artifacts.h"
#include "hooks.h"
#include "job.h"
#include "settings.h"
#include "util.h"

#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PIPELINE_MAX (4u << 20)

/* ---- helpers ----------------------------------------------------------- */

typedef struct load_ctx {
	const char *file;
	char *err;
	size_t errlen;
} load_ctx;

static int fail_at(load_ctx *c, const config_setting_t *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail_at(load_ctx *c, const config_setting_t *s, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	int line = s ? config_setting_source_line(s) : 0;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	util_errf(c->err, c->errlen, "%s:%d: %s", c->file, line, msg);
	return -1;
}

/* Reads an expanded string member; *out NULL if absent. */
static int get_str(load_ctx *c, const config_setting_t *grp, const char *key, char **out)
{
	const config_setting_t *s = config_setting_get_member(grp, key);
	char e[512];

	*out = NULL;
	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return fail_at(c, s, "\"%s\" must be a string", key);
	*out = settings_expand(config_setting_get_string(s), e, sizeof(e));
	if (!*out)
		return fail_at(c, s, "\"%s\": %s", key, e);
	return 0;
}

static int get_num(load_ctx *c, const config_setting_t *grp, const char *key, double lo,
		   double hi, double *out, int *present)
{
	/* Keys that count things take whole numbers only. */
	static const char *const whole[] = { "progress", "retries", "max", "cache_max_mb",
					     "hook_instructions", "hook_memory_mb", NULL };
	const config_setting_t *s = config_setting_get_member(grp, key);
	double v;

	*present = 0;
	if (!s)
		return 0;
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT: v = config_setting_get_int(s); break;
	case CONFIG_TYPE_INT64: v = (double)config_setting_get_int64(s); break;
	case CONFIG_TYPE_FLOAT:
		for (const char *const *w = whole; *w; w++)
			if (!strcmp(*w, key))
				return fail_at(c, s, "\"%s\" must be a whole number", key);
		v = config_setting_get_float(s);
		break;
	default: return fail_at(c, s, "\"%s\" must be a number", key);
	}
	if (v < lo || v > hi)
		return fail_at(c, s, "\"%s\" is %g, must be from %g to %g", key, v, lo, hi);
	*out = v;
	*present = 1;
	return 0;
}

static int check_keys(load_ctx *c, const config_setting_t *grp, const char *const *valid,
		      const char *what)
{
	for (int i = 0; i < config_setting_length(grp); i++) {
		const config_setting_t *m = config_setting_get_elem(grp, (unsigned)i);
		const char *name = config_setting_name(m);
		int ok = 0;
		strbuf sb = { 0 };

		for (const char *const *v = valid; *v; v++)
			if (name && !strcmp(name, *v))
				ok = 1;
		if (ok)
			continue;
		for (const char *const *v = valid; *v; v++)
			sb_printf(&sb, "%s%s", v == valid ? "" : ", ", *v);
		fail_at(c, m, "unknown %s \"%s\" (valid: %s)", what, name ? name : "?",
			sb.buf ? sb.buf : "");
		sb_free(&sb);
		return -1;
	}
	return 0;
}

static int valid_id(const char *s)
{
	if (!s[0] || strlen(s) > 64)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return 0;
	return 1;
}

static char **str_array(load_ctx *c, const config_setting_t *arr, const char *key, size_t *n)
{
	char **v;
	char e[512];
	int len;

	*n = 0;
	if (!config_setting_is_array(arr) && !config_setting_is_list(arr)) {
		fail_at(c, arr, "\"%s\" must be a list of strings, like [\"a\", \"b\"]", key);
		return NULL;
	}
	len = config_setting_length(arr);
	v = xcalloc((size_t)len + 1, sizeof(*v));
	for (int i = 0; i < len; i++) {
		const config_setting_t *e1 = config_setting_get_elem(arr, (unsigned)i);
		if (config_setting_type(e1) != CONFIG_TYPE_STRING) {
			fail_at(c, arr, "\"%s\" must hold only strings", key);
			goto fail;
		}
		v[i] = settings_expand(config_setting_get_string(e1), e, sizeof(e));
		if (!v[i]) {
			fail_at(c, arr, "\"%s\": %s", key, e);
			goto fail;
		}
		*n = (size_t)i + 1;
	}
	return v;
fail:
	for (size_t i = 0; i < *n; i++)
		free(v[i]);
	free(v);
	*n = 0;
	return NULL;
}

/* ---- plugin settings --------------------------------------------------- */

/* Turns a libconfig scalar into the text the settings engine parses,
 * checking that its libconfig type fits the setting's. */
static int setting_text(load_ctx *c, const stage_def *st, const vg_setting *s,
			const config_setting_t *m, setting_value *out)
{
	char buf[64];
	int t = config_setting_type(m);
	int want_str = s->type == VG_SET_STRING || s->type == VG_SET_PATH ||
		       s->type == VG_SET_SECRET;

	out->name = s->name;
	out->line = config_setting_source_line(m);
	out->expand = t == CONFIG_TYPE_STRING;
	if (t == CONFIG_TYPE_STRING) {
		out->text = xstrdup(config_setting_get_string(m));
		return 0;
	}
	if (want_str)
		goto wrong;
	if (t == CONFIG_TYPE_INT && s->type != VG_SET_BOOL)
		snprintf(buf, sizeof(buf), "%d", config_setting_get_int(m));
	else if (t == CONFIG_TYPE_INT64 && s->type != VG_SET_BOOL)
		snprintf(buf, sizeof(buf), "%lld", config_setting_get_int64(m));
	else if (t == CONFIG_TYPE_FLOAT && s->type == VG_SET_DOUBLE)
		snprintf(buf, sizeof(buf), "%.17g", config_setting_get_float(m));
	else if (t == CONFIG_TYPE_BOOL && s->type == VG_SET_BOOL)
		snprintf(buf, sizeof(buf), "%s", config_setting_get_bool(m) ? "true" : "false");
	else
		goto wrong;
	out->text = xstrdup(buf);
	return 0;
wrong:
	return fail_at(c, m, "stage \"%s\": setting \"%s\" of plugin \"%s\" must be a %s",
		       st->id, s->name, st->plugin_name, settings_type_name(s->type));
}

/* The stage's `settings` group, handed to the settings engine. */
static int apply_settings(load_ctx *c, const pipeline *p, stage_def *st,
			  const config_setting_t *grp, const config_setting_t *stage_grp)
{
	const vg_plugin *pl = st->plugin->desc;
	int n = grp ? config_setting_length(grp) : 0, rc = -1;
	setting_value *vals;
	size_t nv = 0;
	settings_ctx ctx = {
		.file = c->file, .stage = st->id, .base_dir = p->dir,
		.stage_line = config_setting_source_line(stage_grp),
		.group_line = config_setting_source_line(grp ? grp : stage_grp),
	};

	if (grp && !config_setting_is_group(grp))
		return fail_at(c, grp, "stage \"%s\": \"settings\" must be a group { ... }", st->id);
	vals = xcalloc((size_t)n + 1, sizeof(*vals));
	for (int i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(grp, (unsigned)i);
		char e[768];

		if (settings_find(pl, config_setting_name(m), NULL, e, sizeof(e)) < 0) {
			fail_at(c, m, "stage \"%s\": %s", st->id, e);
			goto out;
		}
	}
	for (int i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(grp, (unsigned)i);
		vg_setting s;

		settings_find(pl, config_setting_name(m), &s, NULL, 0);
		if (setting_text(c, st, &s, m, &vals[nv]) < 0)
			goto out;
		nv++;
	}
	rc = settings_apply(&st->inst, pl, vals, nv, &ctx, c->err, c->errlen);
out:
	for (size_t i = 0; i < nv; i++)
		free((char *)vals[i].text);
	free(vals);
	return rc;
}

/* ---- stages, models, voices -------------------------------------------- */

/* Hooks compile when the pipeline loads, so `vidgen check` reports them.
 * grp holds the optional hook_instructions / hook_memory_mb limits. */
static int compile_hook(load_ctx *c, const pipeline *p, const char *what,
			const config_setting_t *grp, const char *key, const char *spec, void **out)
{
	char e[1024];
	double instr = 0, mb = 0;
	int present;

	if (!spec)
		return 0;
	if (get_num(c, grp, "hook_instructions", HOOK_MIN_INSTRUCTIONS, HOOK_MAX_INSTRUCTIONS,
		    &instr, &present) < 0 ||
	    get_num(c, grp, "hook_memory_mb", 1, 1024, &mb, &present) < 0)
		return -1;
	*out = hook_compile(spec, p->dir, e, sizeof(e));
	if (!*out)
		return fail_at(c, config_setting_get_member(grp, key), "%s: %s hook: %s", what,
			       key, e);
	if ((instr || mb) && hook_set_limits(*out, (long long)instr, (size_t)mb << 20, e,
					     sizeof(e)) != 0)
		return fail_at(c, config_setting_get_member(grp, key), "%s: %s hook: %s", what,
			       key, e);
	return 0;
}

static const char *const stage_keys[] = {
	"id", "plugin", "inputs", "status", "progress", "result", "model", "timeout",
	"retries", "on_error", "settings", "before", "after", "hook_instructions",
	"hook_memory_mb", NULL
};

static int parse_stage(load_ctx *c, pipeline *p, const config_setting_t *g,
		       const plugin_registry *reg, stage_def *st)
{
	const config_setting_t *m;
	double num;
	int present;
	char e[768];

	st->line = config_setting_source_line(g);
	st->progress = -1;
	if (!config_setting_is_group(g))
		return fail_at(c, g, "each stage must be a group { id = ...; plugin = ...; }");
	if (check_keys(c, g, stage_keys, "stage key") < 0)
		return -1;
	if (get_str(c, g, "id", &st->id) < 0)
		return -1;
	if (!st->id)
		return fail_at(c, g, "stage without \"id\"");
	if (!valid_id(st->id) || !strcmp(st->id, "question"))
		return fail_at(c, g, "stage id \"%s\" must be 1-64 of a-z 0-9 _ - and not "
			       "\"question\"", st->id);
	if (get_str(c, g, "plugin", &st->plugin_name) < 0)
		return -1;
	if (!st->plugin_name)
		return fail_at(c, g, "stage \"%s\" has no \"plugin\"", st->id);
	st->plugin = registry_find(reg, st->plugin_name, e, sizeof(e));
	if (!st->plugin)
		return fail_at(c, config_setting_get_member(g, "plugin"), "stage \"%s\": %s",
			       st->id, e);
	m = config_setting_get_member(g, "inputs");
	if (!m)
		return fail_at(c, g, "stage \"%s\" has no \"inputs\" (use [\"question\"] for the "
			       "user's question)", st->id);
	st->inputs = str_array(c, m, "inputs", &st->n_inputs);
	if (!st->inputs)
		return -1;
	if (st->n_inputs == 0)
		return fail_at(c, m, "stage \"%s\": \"inputs\" is empty", st->id);
	if (get_str(c, g, "status", &st->status) < 0 || get_str(c, g, "result", &st->result) < 0 ||
	    get_str(c, g, "model", &st->model) < 0 || get_str(c, g, "before", &st->hook_before) < 0 ||
	    get_str(c, g, "after", &st->hook_after) < 0)
		return -1;
	if (st->status && (!valid_id(st->status) || strlen(st->status) > 48))
		return fail_at(c, config_setting_get_member(g, "status"), "stage \"%s\": status "
			       "\"%s\" must be a short name of a-z 0-9 _ -", st->id, st->status);
	if (st->result && !job_field_valid(st->result))
		return fail_at(c, config_setting_get_member(g, "result"), "stage \"%s\": result "
			       "\"%s\" is not a response field (initial_explanation, "
			       "refined_explanation, video_url, s3_url)", st->id, st->result);
	if (get_num(c, g, "progress", 0, 100, &num, &present) < 0)
		return -1;
	if (present)
		st->progress = (int)num;
	if (get_num(c, g, "timeout", 0, 86400, &num, &present) < 0)
		return -1;
	if (present && num > 0 && num < 0.001)
		return fail_at(c, config_setting_get_member(g, "timeout"), "stage \"%s\": timeout "
			       "%g s is under a millisecond (0 means none)", st->id, num);
	st->timeout_ms = present ? (long)(num * 1000) : 0;
	if (get_num(c, g, "retries", 0, 10, &num, &present) < 0)
		return -1;
	st->retries = present ? (int)num : 0;
	m = config_setting_get_member(g, "on_error");
	if (m) {
		static const char *const keys[] = { "retry", "max", NULL };
		if (!config_setting_is_group(m))
			return fail_at(c, m, "stage \"%s\": on_error must be a group "
				       "{ retry = \"stage\"; max = 2; }", st->id);
		if (check_keys(c, m, keys, "on_error key") < 0 ||
		    get_str(c, m, "retry", &st->repair_stage) < 0)
			return -1;
		if (!st->repair_stage)
			return fail_at(c, m, "stage \"%s\": on_error needs \"retry\"", st->id);
		if (get_num(c, m, "max", 0, 10, &num, &present) < 0)
			return -1;
		st->max_repairs = present ? (int)num : 2;
	}
	{
		char what[96];
		snprintf(what, sizeof(what), "stage \"%s\"", st->id);
		if (compile_hook(c, p, what, g, "before", st->hook_before,
				 &st->hook_before_ref) < 0 ||
		    compile_hook(c, p, what, g, "after", st->hook_after, &st->hook_after_ref) < 0)
			return -1;
	}
	return apply_settings(c, p, st, config_setting_get_member(g, "settings"), g);
}

static int parse_models(load_ctx *c, pipeline *p, const config_setting_t *list)
{
	static const char *const keys[] = { "name", "id", "selectable", NULL };
	int n;

	if (!config_setting_is_list(list))
		return fail_at(c, list, "\"models\" must be a list ( { name = ...; id = ...; }, ... )");
	n = config_setting_length(list);
	p->models = xcalloc((size_t)n + 1, sizeof(*p->models));
	for (int i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		model_def *md = &p->models[i];
		const config_setting_t *sel;

		p->n_models = (size_t)i + 1;
		md->line = config_setting_source_line(g);
		if (!config_setting_is_group(g))
			return fail_at(c, g, "each model must be a group { name = ...; id = ...; }");
		if (check_keys(c, g, keys, "model key") < 0 || get_str(c, g, "name", &md->name) < 0 ||
		    get_str(c, g, "id", &md->id) < 0)
			return -1;
		if (!md->name || !md->name[0] || !md->id || !md->id[0])
			return fail_at(c, g, "a model needs a non-empty \"name\" and \"id\"");
		for (int k = 0; k < i; k++)
			if (!strcmp(p->models[k].name, md->name))
				return fail_at(c, g, "model \"%s\" is listed twice (first at line %d)",
					       md->name, p->models[k].line);
		sel = config_setting_get_member(g, "selectable");
		if (sel && config_setting_type(sel) != CONFIG_TYPE_BOOL)
			return fail_at(c, sel, "\"selectable\" must be true or false");
		md->selectable = sel ? config_setting_get_bool(sel) : 1;
	}
	return 0;
}

/* Kahn's algorithm; on a cycle names a stage on it. */
static int order_stages(load_ctx *c, pipeline *p, const config_setting_t *list)
{
	size_t n = p->n_stages, done = 0;
	int *indeg = xcalloc(n, sizeof(int));
	int rc = 0;

	p->order = xcalloc(n, sizeof(size_t));
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < p->stages[i].n_inputs; k++)
			if (p->stages[i].input_idx[k] != SIZE_MAX)
				indeg[i]++;
	while (done < n) {
		size_t pick = SIZE_MAX;
		for (size_t i = 0; i < n && pick == SIZE_MAX; i++)
			if (indeg[i] == 0)
				pick = i;
		if (pick == SIZE_MAX)
			break;
		indeg[pick] = -1;
		p->order[done++] = pick;
		for (size_t i = 0; i < n; i++)
			for (size_t k = 0; k < p->stages[i].n_inputs; k++)
				if (p->stages[i].input_idx[k] == pick)
					indeg[i]--;
	}
	if (done < n) {
		for (size_t i = 0; i < n; i++) {
			if (indeg[i] > 0) {
				rc = fail_at(c, config_setting_get_elem(list, (unsigned)i),
					     "stage \"%s\" is on a cycle of inputs", p->stages[i].id);
				break;
			}
		}
	}
	free(indeg);
	return rc;
}

/* 1 if stage `anc` is an input of `st`, directly or further up. */
static int is_ancestor(const pipeline *p, size_t st, size_t anc)
{
	const stage_def *s = &p->stages[st];

	for (size_t k = 0; k < s->n_inputs; k++) {
		size_t in = s->input_idx[k];
		if (in == SIZE_MAX)
			continue;
		if (in == anc || is_ancestor(p, in, anc))
			return 1;
	}
	return 0;
}

static int link_stages(load_ctx *c, pipeline *p, const config_setting_t *list)
{
	for (size_t i = 0; i < p->n_stages; i++) {
		stage_def *st = &p->stages[i];
		const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		const config_setting_t *in = config_setting_get_member(g, "inputs");

		st->input_idx = xcalloc(st->n_inputs, sizeof(size_t));
		for (size_t k = 0; k < st->n_inputs; k++) {
			int idx;
			if (!strcmp(st->inputs[k], "question")) {
				st->input_idx[k] = SIZE_MAX;
				continue;
			}
			idx = pipeline_stage_index(p, st->inputs[k]);
			if (idx < 0)
				return fail_at(c, in, "stage \"%s\": unknown input \"%s\" (not "
					       "\"question\" nor a stage id)", st->id, st->inputs[k]);
			if ((size_t)idx == i)
				return fail_at(c, in, "stage \"%s\" lists itself as an input", st->id);
			st->input_idx[k] = (size_t)idx;
		}
		if (st->model && !pipeline_model(p, st->model))
			return fail_at(c, config_setting_get_member(g, "model"), "stage \"%s\": "
				       "model \"%s\" is not in the pipeline's models list", st->id,
				       st->model);
	}
	if (order_stages(c, p, list) < 0)
		return -1;
	for (size_t i = 0; i < p->n_stages; i++) {
		stage_def *st = &p->stages[i];
		const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		int idx;

		if (!st->repair_stage)
			continue;
		idx = pipeline_stage_index(p, st->repair_stage);
		if (idx < 0 || !is_ancestor(p, i, (size_t)idx))
			return fail_at(c, config_setting_get_member(g, "on_error"), "stage \"%s\": "
				       "on_error.retry \"%s\" must be a stage this one depends on",
				       st->id, st->repair_stage);
		st->repair_idx = (size_t)idx;
	}
	return 0;
}

/* ---- the file ---------------------------------------------------------- */

static const char *const top_keys[] = {
	"name", "description", "voices", "default_voice", "models", "default_model",
	"question_hook", "hook_instructions", "hook_memory_mb", "cors_origins", "stages",
	"prices", "cache_max_mb", "artifacts", NULL
};

/* `artifacts`, else VIDGEN_ARTIFACTS: where stage outputs are shared
 * (artifacts.h); "" or absent in both: nowhere. */
static int parse_artifacts(load_ctx *c, pipeline *p, config_setting_t *root)
{
	const char *env = getenv("VIDGEN_ARTIFACTS");
	char e[512];

	if (get_str(c, root, "artifacts", &p->artifacts) < 0)
		return -1;
	if (p->artifacts && !p->artifacts[0]) {
		free(p->artifacts);
		p->artifacts = NULL;
	}
	if (p->artifacts && artifacts_locator_check(p->artifacts, e, sizeof(e)) < 0)
		return fail_at(c, config_setting_get_member(root, "artifacts"), "%s", e);
	if (p->artifacts || !env || !env[0])
		return 0;
	if (artifacts_locator_check(env, e, sizeof(e)) < 0) {
		util_errf(c->err, c->errlen, "VIDGEN_ARTIFACTS: %s", e);
		return -1;
	}
	p->artifacts = xstrdup(env);
	return 0;
}

/* The optional price table and the file cache's cap. */
static int parse_costs(load_ctx *c, pipeline *p, config_setting_t *root)
{
	const config_setting_t *m = config_setting_get_member(root, "prices");
	double mb = PIPELINE_CACHE_MB_DEFAULT;
	int present;

	if (get_num(c, root, "cache_max_mb", 0, 1024 * 1024, &mb, &present) < 0)
		return -1;
	p->cache_max_bytes = (long long)(mb * 1024 * 1024);
	if (!m)
		return 0;
	if (prices_parse(m, c->file, &p->prices, c->err, c->errlen) < 0 ||
	    prices_check(&p->prices, p, c->file, c->err, c->errlen) < 0)
		return -1;
	return 0;
}

static int parse_top(load_ctx *c, pipeline *p, config_t *cfg, const plugin_registry *reg)
{
	config_setting_t *root = config_root_setting(cfg), *m, *list;

	if (check_keys(c, root, top_keys, "top-level key") < 0)
		return -1;
	if (get_str(c, root, "name", &p->name) < 0 ||
	    get_str(c, root, "description", &p->description) < 0 ||
	    get_str(c, root, "default_voice", &p->default_voice) < 0 ||
	    get_str(c, root, "default_model", &p->default_model) < 0)
		return -1;
	if (get_str(c, root, "question_hook", &p->question_hook) < 0 ||
	    compile_hook(c, p, "question_hook", root, "question_hook", p->question_hook,
			 &p->question_hook_ref) < 0)
		return -1;
	m = config_setting_get_member(root, "voices");
	if (m) {
		p->voices = str_array(c, m, "voices", &p->n_voices);
		if (!p->voices)
			return -1;
	}
	if (p->default_voice && !pipeline_has_voice(p, p->default_voice))
		return fail_at(c, config_setting_get_member(root, "default_voice"),
			       "default_voice \"%s\" is not in \"voices\"", p->default_voice);
	if (!p->default_voice && p->n_voices)
		p->default_voice = xstrdup(p->voices[0]);
	m = config_setting_get_member(root, "cors_origins");
	if (m) {
		p->cors_origins = str_array(c, m, "cors_origins", &p->n_cors_origins);
		if (!p->cors_origins)
			return -1;
	}
	m = config_setting_get_member(root, "models");
	if (m && parse_models(c, p, m) < 0)
		return -1;
	if (p->default_model && !pipeline_model(p, p->default_model))
		return fail_at(c, config_setting_get_member(root, "default_model"),
			       "default_model \"%s\" is not in \"models\"", p->default_model);
	if (p->default_model && !pipeline_model(p, p->default_model)->selectable)
		return fail_at(c, config_setting_get_member(root, "default_model"),
			       "default_model \"%s\" has selectable = false: users could not "
			       "run it", p->default_model);
	list = config_setting_get_member(root, "stages");
	if (!list)
		return fail_at(c, root, "no \"stages\" list");
	if (!config_setting_is_list(list))
		return fail_at(c, list, "\"stages\" must be a list ( { ... }, { ... } )");
	if (config_setting_length(list) == 0)
		return fail_at(c, list, "\"stages\" is empty");
	if (config_setting_length(list) > PIPELINE_MAX_STAGES)
		return fail_at(c, list, "more than %d stages", PIPELINE_MAX_STAGES);
	p->stages = xcalloc((size_t)config_setting_length(list), sizeof(*p->stages));
	for (int i = 0; i < config_setting_length(list); i++) {
		const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		stage_def *st = &p->stages[i];

		p->n_stages = (size_t)i + 1;
		if (parse_stage(c, p, g, reg, st) < 0)
			return -1;
		for (int k = 0; k < i; k++)
			if (!strcmp(p->stages[k].id, st->id))
				return fail_at(c, g, "duplicate stage id \"%s\" (first at line %d)",
					       st->id, p->stages[k].line);
	}
	if (link_stages(c, p, list) < 0 || parse_artifacts(c, p, root) < 0)
		return -1;
	return parse_costs(c, p, root);
}

/* libconfig's @include opens whatever it names with no bound: a directory
 * makes its scanner exit() the process, a FIFO hangs it. A pipeline is one
 * file, so the directive is refused (libconfig reads it only at a line's
 * start). */
static int refuse_includes(const char *path, const char *text, char *err, size_t errlen)
{
	for (int line = 1; text; line++) {
		if (!strncmp(text + strspn(text, " \t"), "@include", 8)) {
			util_errf(err, errlen, "%s:%d: @include is not supported (a pipeline is one "
				  "file)", path, line);
			return -1;
		}
		text = strchr(text, '\n');
		if (text)
			text++;
	}
	return 0;
}

pipeline *pipeline_load(const char *path, const plugin_registry *reg, char *err, size_t errlen)
{
	pipeline *p = xcalloc(1, sizeof(*p));
	config_t cfg;
	load_ctx c = { path, err, errlen };
	char *abs, *slash, *text = NULL;

	config_init(&cfg);
	p->path = xstrdup(path);
	abs = util_path_abs(path);
	if (!abs) {
		util_errf(err, errlen, "%s: cannot resolve path", path);
		goto fail;
	}
	slash = strrchr(abs, '/');
	*slash = '\0';
	p->dir = xstrdup(abs[0] ? abs : "/");
	free(abs);
	/* Read here, bounded, rather than by libconfig: a FIFO or a device
	 * named as the pipeline must not hang or exhaust memory. */
	if (util_read_file(path, PIPELINE_MAX, &text, NULL, err, errlen) < 0 ||
	    refuse_includes(path, text, err, errlen) < 0)
		goto fail;
	if (config_read_string(&cfg, text) != CONFIG_TRUE) {
		util_errf(err, errlen, "%s:%d: %s", config_error_file(&cfg) ? config_error_file(&cfg)
			  : path, config_error_line(&cfg), config_error_text(&cfg));
		goto fail;
	}
	free(text);
	text = NULL;
	if (parse_top(&c, p, &cfg, reg) < 0)
		goto fail;
	config_destroy(&cfg);
	return p;
fail:
	free(text);
	config_destroy(&cfg);
	pipeline_free(p);
	return NULL;
}

static void stage_free(stage_def *st)
{
	settings_release(&st->inst);
	for (size_t i = 0; i < st->n_inputs; i++)
		free(st->inputs[i]);
	free(st->inputs);
	free(st->input_idx);
	free(st->id);
	free(st->plugin_name);
	free(st->status);
	free(st->result);
	free(st->model);
	free(st->repair_stage);
	free(st->hook_before);
	free(st->hook_after);
	if (st->hook_before_ref)
		hook_free(st->hook_before_ref);
	if (st->hook_after_ref)
		hook_free(st->hook_after_ref);
}

void pipeline_free(pipeline *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_stages; i++)
		stage_free(&p->stages[i]);
	free(p->stages);
	free(p->order);
	for (size_t i = 0; i < p->n_models; i++) {
		free(p->models[i].name);
		free(p->models[i].id);
	}
	free(p->models);
	for (size_t i = 0; i < p->n_voices; i++)
		free(p->voices[i]);
	free(p->voices);
	for (size_t i = 0; i < p->n_cors_origins; i++)
		free(p->cors_origins[i]);
	free(p->cors_origins);
	prices_free(&p->prices);
	free(p->default_voice);
	free(p->default_model);
	free(p->question_hook);
	free(p->artifacts);
	if (p->question_hook_ref)
		hook_free(p->question_hook_ref);
	free(p->name);
	free(p->description);
	free(p->path);
	free(p->dir);
	free(p);
}

const model_def *pipeline_model(const pipeline *p, const char *name)
{
	for (size_t i = 0; i < p->n_models; i++)
		if (!strcmp(p->models[i].name, name))
			return &p->models[i];
	return NULL;
}

int pipeline_has_voice(const pipeline *p, const char *voice)
{
	for (size_t i = 0; i < p->n_voices; i++)
		if (!strcmp(p->voices[i], voice))
			return 1;
	return 0;
}

int pipeline_stage_index(const pipeline *p, const char *id)
{
	for (size_t i = 0; i < p->n_stages; i++)
		if (p->stages[i].id && !strcmp(p->stages[i].id, id))
			return (int)i;
	return -1;
}
