/*
 * Plugin settings (settings.h): one engine for every source of values. A
 * value is text until set_value turns it into the field's type, so a
 * pipeline file, `vidgen render`'s options and a table's defaults are
 * checked by the same rules and fail with the same messages.
 */
#include "settings.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EXPANDED (1u << 20)
/* Defaults nest by recursion: a bound keeps a hostile file off the stack's
 * end (thousands of "${A:-" overflowed it). */
#define MAX_EXPAND_DEPTH 16

/* ---- ${VAR} expansion ------------------------------------------------- */

static char *expand_text(const char *s, int depth, char *err, size_t errlen);

static int expand_ref(strbuf *out, const char *ref, size_t n, int depth, char *err,
		      size_t errlen)
{
	char name[256];
	const char *def = NULL;
	size_t namelen = n, deflen = 0;
	const char *colon = memchr(ref, ':', n);

	if (colon && colon + 1 < ref + n && colon[1] == '-') {
		namelen = (size_t)(colon - ref);
		def = colon + 2;
		deflen = n - namelen - 2;
	}
	if (n > 5 && !strncmp(ref, "file:", 5)) {
		char path[PATH_MAX], *data = NULL;
		size_t len = 0;

		if (n - 5 >= sizeof(path)) {
			util_errf(err, errlen, "${file:...} path too long");
			return -1;
		}
		memcpy(path, ref + 5, n - 5);
		path[n - 5] = '\0';
		if (util_read_file(path, 65536, &data, &len, err, errlen) < 0)
			return -1;
		while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
			len--;
		sb_append(out, data, len);
		free(data);
		return 0;
	}
	if (namelen == 0 || namelen >= sizeof(name)) {
		util_errf(err, errlen, "bad variable reference \"${%.*s}\"", (int)n, ref);
		return -1;
	}
	memcpy(name, ref, namelen);
	name[namelen] = '\0';
	for (size_t i = 0; i < namelen; i++) {
		char c = name[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
		      (i > 0 && c >= '0' && c <= '9'))) {
			util_errf(err, errlen, "bad variable name \"%s\"", name);
			return -1;
		}
	}
	const char *val = getenv(name);
	if (val && (val[0] || !def)) {
		sb_puts(out, val);
	} else if (def) {
		/* A default may hold references itself: ${A:-${B:-x}}. */
		char *d = strndup(def, deflen), *x;
		if (!d)
			return -1;
		x = expand_text(d, depth + 1, err, errlen);
		free(d);
		if (!x)
			return -1;
		sb_puts(out, x);
		free(x);
	} else {
		util_errf(err, errlen, "environment variable %s is not set (write ${%s:-default} "
			  "for a default)", name, name);
		return -1;
	}
	return 0;
}

char *settings_expand(const char *s, char *err, size_t errlen)
{
	return expand_text(s, 0, err, errlen);
}

static char *expand_text(const char *s, int depth, char *err, size_t errlen)
{
	strbuf out = { 0 };

	if (depth > MAX_EXPAND_DEPTH) {
		util_errf(err, errlen, "\"${...:-default}\" nested more than %d deep",
			  MAX_EXPAND_DEPTH);
		return NULL;
	}
	while (*s) {
		const char *d = strchr(s, '$');
		if (!d) {
			sb_puts(&out, s);
			break;
		}
		sb_append(&out, s, (size_t)(d - s));
		if (d[1] == '$') {
			sb_append(&out, "$", 1);
			s = d + 2;
			continue;
		}
		if (d[1] != '{') {
			sb_append(&out, "$", 1);
			s = d + 1;
			continue;
		}
		const char *end = d + 2;
		int open = 1;
		/* The matching brace, so defaults may nest references. */
		for (; *end; end++) {
			if (end[0] == '$' && end[1] == '{') {
				open++;
				end++;
			} else if (*end == '}' && --open == 0) {
				break;
			}
		}
		if (!*end) {
			util_errf(err, errlen, "unterminated \"${\"");
			goto fail;
		}
		if (expand_ref(&out, d + 2, (size_t)(end - d - 2), depth, err, errlen) < 0)
			goto fail;
		if (out.len > MAX_EXPANDED) {
			util_errf(err, errlen, "expanded value longer than %u bytes", MAX_EXPANDED);
			goto fail;
		}
		s = end + 1;
	}
	return sb_steal(&out);
fail:
	sb_free(&out);
	return NULL;
}

/* ---- the table ---------------------------------------------------------- */

/* Entries are struct_size bytes apart: a plugin built against a newer
 * plugin.h has larger ones, whose extra fields this core does not read. */
static const char *entry_ptr(const vg_plugin *pl, size_t i)
{
	return (const char *)pl->settings + i * pl->settings[0].struct_size;
}

void settings_entry(const vg_plugin *pl, size_t i, vg_setting *out)
{
	size_t n = pl->settings[0].struct_size;

	memset(out, 0, sizeof(*out));
	memcpy(out, entry_ptr(pl, i), n < sizeof(*out) ? n : sizeof(*out));
}

size_t settings_count(const vg_plugin *pl)
{
	size_t n = 0;
	vg_setting s;

	if (!pl->settings)
		return 0;
	for (;; n++) {
		settings_entry(pl, n, &s);
		if (!s.name)
			return n;
	}
}

const char *settings_type_name(int t)
{
	switch (t) {
	case VG_SET_STRING: return "string";
	case VG_SET_INT: return "integer";
	case VG_SET_BOOL: return "boolean";
	case VG_SET_DOUBLE: return "number";
	case VG_SET_PATH: return "path";
	case VG_SET_SECRET: return "secret";
	}
	return "?";
}

static int is_text_type(int t)
{
	return t == VG_SET_STRING || t == VG_SET_PATH || t == VG_SET_SECRET;
}

static size_t field_size(int t)
{
	switch (t) {
	case VG_SET_INT: return sizeof(long);
	case VG_SET_BOOL: return sizeof(int);
	case VG_SET_DOUBLE: return sizeof(double);
	}
	return sizeof(const char *);
}

static int choice_ok(const char *choices, const char *v)
{
	size_t vl = strlen(v);
	const char *p = choices;

	for (;;) {
		const char *bar = strchr(p, '|');
		size_t l = bar ? (size_t)(bar - p) : strlen(p);
		if (l == vl && !strncmp(p, v, l))
			return 1;
		if (!bar)
			return 0;
		p = bar + 1;
	}
}

static void valid_names(const vg_plugin *pl, strbuf *sb)
{
	vg_setting s;

	for (size_t i = 0, n = settings_count(pl); i < n; i++) {
		settings_entry(pl, i, &s);
		sb_printf(sb, "%s%s", i ? ", " : "", s.name);
	}
}

int settings_find(const vg_plugin *pl, const char *name, vg_setting *out, char *err,
		  size_t errlen)
{
	vg_setting s;
	strbuf sb = { 0 };

	for (size_t i = 0, n = settings_count(pl); i < n; i++) {
		settings_entry(pl, i, &s);
		if (!strcmp(s.name, name)) {
			if (out)
				*out = s;
			return 0;
		}
	}
	valid_names(pl, &sb);
	util_errf(err, errlen, "plugin \"%s\" has no setting \"%s\" (valid: %s)", pl->name,
		  name, sb.buf ? sb.buf : "none");
	sb_free(&sb);
	return -1;
}

/* ---- one value ------------------------------------------------------------ */

/* The "FILE:LINE: stage "ID": " an error starts with, from what ctx knows. */
static void where(const settings_ctx *ctx, int line, strbuf *sb)
{
	if (ctx->file)
		sb_printf(sb, "%s:%d: ", ctx->file, line);
	if (ctx->stage)
		sb_printf(sb, "stage \"%s\": ", ctx->stage);
}

static int fail(const settings_ctx *ctx, int line, char *err, size_t errlen, const char *fmt,
		...) __attribute__((format(printf, 5, 6)));

static int fail(const settings_ctx *ctx, int line, char *err, size_t errlen, const char *fmt,
		...)
{
	strbuf sb = { 0 };
	va_list ap;

	where(ctx, line, &sb);
	va_start(ap, fmt);
	sb_vprintf(&sb, fmt, ap);
	va_end(ap);
	util_errf(err, errlen, "%s", sb.buf ? sb.buf : "");
	sb_free(&sb);
	return -1;
}

static void own(plugin_inst *pi, char *s)
{
	pi->owned = xrealloc(pi->owned, (pi->n_owned + 1) * sizeof(*pi->owned));
	pi->owned[pi->n_owned++] = s;
}

/* Parses text as s's type, checks range and choices, and stores it in the
 * instance; *msg gets what is wrong (no location) on failure. */
static int set_value(plugin_inst *pi, const vg_setting *s, const char *text,
		     const char *base_dir, char *msg, size_t msglen)
{
	char *field = (char *)pi->data + s->offset;
	char *end;

	switch (s->type) {
	case VG_SET_STRING:
	case VG_SET_SECRET:
	case VG_SET_PATH: {
		char *v;
		if (s->choices && !choice_ok(s->choices, text)) {
			util_errf(msg, msglen, "setting \"%s\" is \"%s\", must be one of %s",
				  s->name, text, s->choices);
			return -1;
		}
		v = (s->type == VG_SET_PATH && text[0] && base_dir) ? util_path_join(base_dir, text)
								       : xstrdup(text);
		own(pi, v);
		memcpy(field, &v, sizeof(v));
		return 0;
	}
	case VG_SET_INT: {
		long v;
		errno = 0;
		v = strtol(text, &end, 10);
		if (errno || end == text || *end) {
			util_errf(msg, msglen, "setting \"%s\" must be an integer, got \"%s\"",
				  s->name, text);
			return -1;
		}
		if ((s->min || s->max) && (v < s->min || v > s->max)) {
			util_errf(msg, msglen, "setting \"%s\" is %ld, must be from %g to %g",
				  s->name, v, s->min, s->max);
			return -1;
		}
		memcpy(field, &v, sizeof(v));
		return 0;
	}
	case VG_SET_DOUBLE: {
		double v;
		errno = 0;
		v = strtod(text, &end);
		if (errno || end == text || *end || !isfinite(v)) {
			util_errf(msg, msglen, "setting \"%s\" must be a number, got \"%s\"",
				  s->name, text);
			return -1;
		}
		if ((s->min || s->max) && (v < s->min || v > s->max)) {
			util_errf(msg, msglen, "setting \"%s\" is %g, must be from %g to %g",
				  s->name, v, s->min, s->max);
			return -1;
		}
		memcpy(field, &v, sizeof(v));
		return 0;
	}
	case VG_SET_BOOL: {
		int v;
		if (!strcmp(text, "true") || !strcmp(text, "1") || !strcmp(text, "yes")) {
			v = 1;
		} else if (!strcmp(text, "false") || !strcmp(text, "0") || !strcmp(text, "no")) {
			v = 0;
		} else {
			util_errf(msg, msglen, "setting \"%s\" must be true or false, got \"%s\"",
				  s->name, text);
			return -1;
		}
		memcpy(field, &v, sizeof(v));
		return 0;
	}
	}
	util_errf(msg, msglen, "setting \"%s\" has an unknown type in plugin \"%s\"", s->name,
		  pi->pl->name);
	return -1;
}

/* The text for s: the given value (expanded when asked) or the default
 * (always expanded). NULL with *absent set when there is neither; NULL with
 * the error in err when expansion fails. */
static char *value_text(const vg_plugin *pl, const vg_setting *s, const setting_value *v,
			const settings_ctx *ctx, int *absent, char *err, size_t errlen)
{
	char e[512], *x;

	*absent = 0;
	if (v) {
		if (!v->expand)
			return xstrdup(v->text);
		x = settings_expand(v->text, e, sizeof(e));
		if (!x)
			fail(ctx, v->line, err, errlen, "setting \"%s\": %s", s->name, e);
		return x;
	}
	if (s->required || !s->def) {
		*absent = 1;
		return NULL;
	}
	x = settings_expand(s->def, e, sizeof(e));
	if (!x)
		fail(ctx, ctx->stage_line, err, errlen, "plugin \"%s\" default of \"%s\": %s",
		     pl->name, s->name, e);
	return x;
}

/* ---- a whole instance ------------------------------------------------------ */

static const setting_value *given(const vg_setting *s, const setting_value *v, size_t n)
{
	const setting_value *last = NULL;

	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].name, s->name))
			last = &v[i];
	return last;
}

int settings_fill(plugin_inst *pi, const vg_plugin *pl, const setting_value *v, size_t n,
		  const settings_ctx *ctx, char *err, size_t errlen)
{
	char e[768];
	vg_setting s;

	memset(pi, 0, sizeof(*pi));
	pi->pl = pl;
	pi->data = xcalloc(1, pl->instance_size ? pl->instance_size : 1);
	for (size_t i = 0; i < n; i++)
		if (settings_find(pl, v[i].name, NULL, e, sizeof(e)) < 0)
			return fail(ctx, v[i].line, err, errlen, "%s", e);
	for (size_t i = 0, count = settings_count(pl); i < count; i++) {
		const setting_value *val;
		char *text;
		int absent, rc;

		settings_entry(pl, i, &s);
		val = given(&s, v, n);
		text = value_text(pl, &s, val, ctx, &absent, err, errlen);
		if (absent && s.required)
			return fail(ctx, ctx->group_line, err, errlen, "plugin \"%s\" needs setting "
				    "\"%s\" (%s)", pl->name, s.name,
				    s.help ? s.help : settings_type_name(s.type));
		if (absent)
			continue;
		if (!text)
			return -1;
		rc = set_value(pi, &s, text, ctx->base_dir, e, sizeof(e));
		free(text);
		if (rc < 0)
			return fail(ctx, val ? val->line : ctx->stage_line, err, errlen, "%s", e);
	}
	return 0;
}

int settings_apply(plugin_inst *pi, const vg_plugin *pl, const setting_value *v, size_t n,
		   const settings_ctx *ctx, char *err, size_t errlen)
{
	char e[768];

	if (settings_fill(pi, pl, v, n, ctx, err, errlen) < 0)
		return -1;
	if (pl->init) {
		e[0] = '\0';
		if (pl->init(pi->data, e, sizeof(e)) != VG_OK) {
			if (ctx->stage)
				return fail(&(settings_ctx){ .file = ctx->file }, ctx->stage_line,
					    err, errlen, "stage \"%s\" (plugin \"%s\"): %s",
					    ctx->stage, pl->name, e[0] ? e : "invalid settings");
			return fail(ctx, ctx->stage_line, err, errlen, "%s",
				    e[0] ? e : "invalid settings");
		}
	}
	pi->inited = 1;
	return 0;
}

void settings_release(plugin_inst *pi)
{
	if (pi->inited && pi->pl->fini)
		pi->pl->fini(pi->data);
	pi->inited = 0;
	free(pi->data);
	pi->data = NULL;
	for (size_t i = 0; i < pi->n_owned; i++)
		free(pi->owned[i]);
	free(pi->owned);
	pi->owned = NULL;
	pi->n_owned = 0;
}

/* ---- checks when a plugin loads ---------------------------------------------- */

/* A default must parse as its own type: filled into a scratch instance. */
static int default_ok(const vg_plugin *pl, const vg_setting *s, char *err, size_t errlen)
{
	plugin_inst pi = { .pl = pl };
	char e[512];
	int rc = 0;

	if (!s->def || strstr(s->def, "${"))
		return 0; /* an expanded default is checked when it is used */
	pi.data = xcalloc(1, pl->instance_size);
	if (set_value(&pi, s, s->def, NULL, e, sizeof(e)) < 0) {
		util_errf(err, errlen, "default of %s", e);
		rc = -1;
	}
	settings_release(&pi);
	return rc;
}

int settings_table_check(const vg_plugin *pl, char *err, size_t errlen)
{
	vg_setting s;
	size_t n;

	if (!pl->settings)
		return 0;
	if (pl->settings[0].struct_size < sizeof(vg_setting) ||
	    pl->settings[0].struct_size % sizeof(void *)) {
		util_errf(err, errlen, "settings entries are %u bytes, %zu expected (write them "
			  "with the VG_SETTING_* macros)", pl->settings[0].struct_size,
			  sizeof(vg_setting));
		return -1;
	}
	n = settings_count(pl);
	if (n && pl->instance_size == 0) {
		util_errf(err, errlen, "plugin has settings but instance_size 0");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		settings_entry(pl, i, &s);
		if (!s.name[0] || strlen(s.name) > 64) {
			util_errf(err, errlen, "setting %zu has no valid name", i + 1);
			return -1;
		}
		if (!strcmp(settings_type_name(s.type), "?")) {
			util_errf(err, errlen, "setting \"%s\" has an unknown type %d", s.name,
				  s.type);
			return -1;
		}
		if (s.offset > pl->instance_size ||
		    pl->instance_size - s.offset < field_size(s.type)) {
			util_errf(err, errlen, "setting \"%s\" fills bytes %zu..%zu of a %zu-byte "
				  "instance", s.name, s.offset, s.offset + field_size(s.type),
				  pl->instance_size);
			return -1;
		}
		if (s.choices && !is_text_type(s.type)) {
			util_errf(err, errlen, "setting \"%s\" has choices but is not a string",
				  s.name);
			return -1;
		}
		if (default_ok(pl, &s, err, errlen) < 0)
			return -1;
	}
	return 0;
}

/* ---- documentation --------------------------------------------------------- */

void settings_print(const vg_plugin *pl, FILE *out)
{
	size_t n = settings_count(pl);
	vg_setting s;

	fprintf(out, "%s %s (%s): %s\n", pl->name, pl->version ? pl->version : "",
		pl->kind ? pl->kind : "", pl->description ? pl->description : "");
	if (n == 0) {
		fprintf(out, "  no settings\n");
		return;
	}
	fprintf(out, "settings (in the stage's `settings = { ... }` group):\n");
	for (size_t i = 0; i < n; i++) {
		settings_entry(pl, i, &s);
		fprintf(out, "  %-18s %-8s", s.name, settings_type_name(s.type));
		if (s.required)
			fprintf(out, " required");
		else if (s.def && s.type != VG_SET_SECRET)
			fprintf(out, " default \"%s\"", s.def);
		if (s.min || s.max)
			fprintf(out, " range %g..%g", s.min, s.max);
		if (s.choices)
			fprintf(out, " one of %s", s.choices);
		fprintf(out, "\n  %18s %s\n", "", s.help ? s.help : "");
	}
}
