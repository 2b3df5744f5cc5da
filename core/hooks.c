/*
 * Lua 5.4 hooks: compile "file.lua:function" specs when a pipeline loads and
 * run them on stage texts. Every call gets a fresh lua_State with a bounded
 * allocator, an instruction budget and only safe libraries (Redis-style).
 */
#include "hooks.h"
#include "hook_server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "log.h"
#include "util.h"
#include "vidgen/plugin.h"

/* The count hook fires every HOOK_PERIOD VM instructions: small enough that
 * the budget and the sampled error line are precise, large enough to cost
 * little. */
#define HOOK_PERIOD 1000
/* A line hook gives the exact line a memory error happened on, but costs
 * a call per line run: keep it for the first lines of a call (where short
 * hooks spend all their time), then rely on sampling. */
#define HOOK_LINE_EVENTS 10000
#define HOOK_MASK_EXACT (LUA_MASKCOUNT | LUA_MASKCALL | LUA_MASKLINE)
#define HOOK_MASK_SAMPLED (LUA_MASKCOUNT | LUA_MASKCALL)
#define HOOK_MAX_SPEC 4096
#define HOOK_MAX_FUNC 128
#define HOOK_MAX_LOG_LINES 100
#define HOOK_MAX_LOG_LINE 500

struct hook {
	char *spec;        /* as given */
	char *path;        /* the file part, as written: used in messages */
	char *chunkname;   /* "@" + path */
	char *func;        /* function name */
	char *source;      /* file contents at load time */
	size_t source_len;
	long long instructions;
	size_t memory;
};

/* Per-call state, reachable from Lua callbacks through the allocator's ud. */
typedef struct sandbox {
	const hook *h;
	const hook_job_view *job;
	const char *text;       /* NULL when only compiling */
	lua_State *L;
	size_t used, limit;     /* bytes allocated / allowed */
	int mem_exceeded;       /* an allocation was refused */
	long long executed;     /* instructions, in HOOK_PERIOD steps */
	int budget_exceeded;    /* set: every further instruction raises */
	int last_line;          /* last sampled line in the hook's file */
	int line_events;        /* line hook calls since the last reset */
	int func_line;          /* line where the hook function starts */
	int passing_input;      /* building the text and job arguments */
	char short_src[LUA_IDSIZE]; /* how Lua names the chunk in messages */
	int n_logs;
	strbuf *logs;           /* in a call's child process: "LEVEL message\n"
				 * lines for the parent to log; NULL: log now */
} sandbox;

/* ------------------------------------------------------------------------
 * Limits: memory through the allocator, time through a count hook.
 * ------------------------------------------------------------------------ */

/* A lua_Alloc that refuses to grow the state past sb->limit. Lua then raises
 * LUA_ERRMEM; the allocator must not raise or inspect the stack itself. */
static void *sandbox_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	sandbox *sb = ud;
	void *p;

	if (ptr == NULL)
		osize = 0; /* osize then encodes the object type */
	if (nsize == 0) {
		free(ptr);
		sb->used -= osize;
		return NULL;
	}
	if (nsize > osize && nsize - osize > sb->limit - sb->used) {
		sb->mem_exceeded = 1;
		return NULL;
	}
	p = realloc(ptr, nsize);
	if (p == NULL)
		return NULL;
	sb->used = sb->used - osize + nsize;
	return p;
}

static sandbox *sandbox_of(lua_State *L)
{
	void *ud = NULL;

	lua_getallocf(L, &ud);
	return ud;
}

/* Remembers where the hook's own code runs, so a memory error (which
 * unwinds without position) can still cite a line. */
static void sandbox_sample(sandbox *sb, lua_State *L, lua_Debug *ar)
{
	if (lua_getinfo(L, "Sl", ar) && ar->currentline > 0 &&
	    strcmp(ar->short_src, sb->short_src) == 0)
		sb->last_line = ar->currentline;
}

static void sandbox_hook(lua_State *L, lua_Debug *ar)
{
	sandbox *sb = sandbox_of(L);
	lua_Debug caller;

	if (ar->event == LUA_HOOKLINE) {
		/* Only the hook's own chunk is ever loaded: no file check. */
		sb->last_line = ar->currentline;
		if (++sb->line_events == HOOK_LINE_EVENTS)
			lua_sethook(L, sandbox_hook, HOOK_MASK_SAMPLED,
				    HOOK_PERIOD);
		return;
	}
	if (ar->event == LUA_HOOKCALL || ar->event == LUA_HOOKTAILCALL) {
		/* The call site is the line a C function's allocation
		 * (string.rep, table.concat, ...) should be blamed on. */
		if (lua_getstack(L, 1, &caller))
			sandbox_sample(sb, L, &caller);
		return;
	}
	if (ar->event != LUA_HOOKCOUNT)
		return;
	if (!sb->budget_exceeded) {
		sb->executed += HOOK_PERIOD;
		sandbox_sample(sb, L, ar);
		if (sb->executed <= sb->h->instructions)
			return;
		/* From now on raise at every instruction, so a pcall inside
		 * the hook cannot swallow the error and keep looping. */
		sb->budget_exceeded = 1;
		lua_sethook(L, sandbox_hook, LUA_MASKCOUNT, 1);
	}
	lua_getinfo(L, "Sl", ar);
	if (ar->currentline > 0)
		lua_pushfstring(L, "%s:%d: instruction budget of %I exceeded",
				ar->short_src, ar->currentline,
				(lua_Integer)sb->h->instructions);
	else
		lua_pushfstring(L, "%s: instruction budget of %I exceeded",
				sb->short_src, (lua_Integer)sb->h->instructions);
	lua_error(L);
}

/* ------------------------------------------------------------------------
 * The sandboxed library set.
 * ------------------------------------------------------------------------ */

/* Writes msg to the vidgen log on one line, tagged with job, stage and hook;
 * control characters become spaces so a hook cannot forge log lines. */
static void sandbox_log(lua_State *L, int level, const char *msg)
{
	sandbox *sb = sandbox_of(L);
	char line[HOOK_MAX_LOG_LINE + 1];
	size_t i;

	if (sb->n_logs > HOOK_MAX_LOG_LINES)
		return;
	if (sb->n_logs++ == HOOK_MAX_LOG_LINES) {
		msg = "(further log lines from this call dropped)";
		level = VG_LOG_WARN;
	}
	for (i = 0; msg[i] && i < HOOK_MAX_LOG_LINE; i++)
		line[i] = ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
			  ? ' ' : msg[i];
	line[i] = '\0';
	const char *job = sb->job && sb->job->job_id ? sb->job->job_id : "-";
	const char *stage = sb->job && sb->job->stage ? sb->job->stage : "-";
	if (sb->logs) /* in a call's child: the parent logs it */
		sb_printf(sb->logs, "%d job %s stage %s: hook %s: %s\n", level, job, stage,
			  sb->h->spec, line);
	else
		log_msg(level, "job %s stage %s: hook %s: %s", job, stage, sb->h->spec, line);
}

static int lua_vidgen_log(lua_State *L)
{
	sandbox_log(L, VG_LOG_INFO, luaL_checkstring(L, 1));
	return 0;
}

static int lua_vidgen_warn(lua_State *L)
{
	sandbox_log(L, VG_LOG_WARN, luaL_checkstring(L, 1));
	return 0;
}

/* print(...) joins its arguments like Lua's print, then logs them, because
 * a daemon's stdout is no place for hook output. */
static int lua_sandbox_print(lua_State *L)
{
	luaL_Buffer b;
	int i, n = lua_gettop(L);

	luaL_buffinit(L, &b);
	for (i = 1; i <= n; i++) {
		if (i > 1)
			luaL_addchar(&b, '\t');
		luaL_tolstring(L, i, NULL);
		luaL_addvalue(&b);
	}
	luaL_pushresult(&b);
	sandbox_log(L, VG_LOG_INFO, lua_tostring(L, -1));
	return 0;
}

/* setmetatable refusing __gc: Lua runs finalizers with debug hooks off,
 * so a finalizer would escape the instruction budget. */
static int lua_sandbox_setmetatable(lua_State *L)
{
	/* Raw, as Lua itself looks the field up (and no metamethod runs). */
	if (lua_type(L, 2) == LUA_TTABLE &&
	    (lua_pushliteral(L, "__gc"), lua_rawget(L, 2)) != LUA_TNIL)
		return luaL_error(L, "__gc metamethods are not allowed in hooks");
	lua_settop(L, 2);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, 2, 1);
	return 1;
}

/* collectgarbage without the options that let a hook stop or retune the
 * collector: only "collect", "step" and "count". */
static int lua_sandbox_collectgarbage(lua_State *L)
{
	static const char *const opts[] = { "collect", "step", "count", NULL };
	int opt = luaL_checkoption(L, 1, "collect", opts);

	switch (opt) {
	case 0:
		lua_gc(L, LUA_GCCOLLECT);
		lua_pushinteger(L, 0);
		return 1;
	case 1:
		lua_pushboolean(L, lua_gc(L, LUA_GCSTEP, 0));
		return 1;
	default:
		lua_pushnumber(L, (lua_Number)lua_gc(L, LUA_GCCOUNT) +
			       (lua_Number)lua_gc(L, LUA_GCCOUNTB) / 1024.0);
		return 1;
	}
}

static void sandbox_open_libs(lua_State *L)
{
	static const luaL_Reg libs[] = {
		{ LUA_GNAME, luaopen_base },
		{ LUA_STRLIBNAME, luaopen_string },
		{ LUA_TABLIBNAME, luaopen_table },
		{ LUA_MATHLIBNAME, luaopen_math },
		{ LUA_UTF8LIBNAME, luaopen_utf8 },
		{ NULL, NULL },
	};
	/* Base functions that reach files, compile code at run time, bypass
	 * read-only tables or write to stderr. */
	static const char *const removed[] = {
		"dofile", "loadfile", "load", "loadstring", "require",
		"rawset", "warn", "module", NULL,
	};
	static const luaL_Reg helpers[] = {
		{ "log", lua_vidgen_log },
		{ "warn", lua_vidgen_warn },
		{ NULL, NULL },
	};
	const luaL_Reg *lib;
	const char *const *name;

	for (lib = libs; lib->name; lib++) {
		luaL_requiref(L, lib->name, lib->func, 1);
		lua_pop(L, 1);
	}
	for (name = removed; *name; name++) {
		lua_pushnil(L);
		lua_setglobal(L, *name);
	}
	lua_getglobal(L, LUA_STRLIBNAME);
	lua_pushnil(L);
	lua_setfield(L, -2, "dump"); /* bytecode out means bytecode in */
	lua_pop(L, 1);
	lua_pushcfunction(L, lua_sandbox_print);
	lua_setglobal(L, "print");
	lua_pushcfunction(L, lua_sandbox_collectgarbage);
	lua_setglobal(L, "collectgarbage");
	lua_getglobal(L, "setmetatable");
	lua_pushcclosure(L, lua_sandbox_setmetatable, 1);
	lua_setglobal(L, "setmetatable");
	luaL_newlib(L, helpers);
	lua_pushstring(L, "1");
	lua_setfield(L, -2, "api_version");
	lua_setglobal(L, "vidgen");
}

/* ------------------------------------------------------------------------
 * The read-only job table.
 * ------------------------------------------------------------------------ */

static int lua_readonly_newindex(lua_State *L)
{
	return luaL_error(L, "the job table is read-only");
}

/* Iterator for pairs() over a proxy: walks the hidden table, which stays
 * out of the hook's reach (pairs' usual state value would expose it). */
static int lua_readonly_next(lua_State *L)
{
	lua_settop(L, 2);
	if (lua_next(L, lua_upvalueindex(1)))
		return 2;
	lua_pushnil(L);
	return 1;
}

static int lua_readonly_pairs(lua_State *L)
{
	lua_getmetatable(L, 1);
	lua_getfield(L, -1, "__index");
	lua_pushcclosure(L, lua_readonly_next, 1);
	lua_pushvalue(L, 1);
	lua_pushnil(L);
	return 3;
}

/* Replaces the table on top of the stack by an empty proxy that reads
 * through to it and refuses writes; getmetatable() yields a string. */
static void readonly_wrap(lua_State *L)
{
	lua_newtable(L);               /* real proxy */
	lua_createtable(L, 0, 4);      /* real proxy mt */
	lua_rotate(L, -3, -1);         /* proxy mt real */
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, lua_readonly_newindex);
	lua_setfield(L, -2, "__newindex");
	lua_pushcfunction(L, lua_readonly_pairs);
	lua_setfield(L, -2, "__pairs");
	lua_pushliteral(L, "read-only");
	lua_setfield(L, -2, "__metatable");
	lua_setmetatable(L, -2);
}

static void set_field(lua_State *L, const char *key, const char *value)
{
	if (value == NULL)
		return;
	lua_pushstring(L, value);
	lua_setfield(L, -2, key);
}

static void push_job(lua_State *L, const hook_job_view *job)
{
	size_t i;

	lua_createtable(L, 0, 6);
	if (job != NULL) {
		set_field(L, "id", job->job_id);
		set_field(L, "question", job->question);
		set_field(L, "model", job->model);
		set_field(L, "voice", job->voice);
		set_field(L, "stage", job->stage);
	}
	lua_newtable(L);
	for (i = 0; job != NULL && i < job->n_artifacts; i++)
		if (job->artifacts[i].stage && job->artifacts[i].text)
			set_field(L, job->artifacts[i].stage,
				  job->artifacts[i].text);
	readonly_wrap(L);
	lua_setfield(L, -2, "artifacts");
	readonly_wrap(L);
}

/* ------------------------------------------------------------------------
 * Running a hook.
 * ------------------------------------------------------------------------ */

/* Raises "file:LINE: msg" at the hook function's definition line: the best
 * place to blame for what it returned. */
static int raise_at_func(lua_State *L, sandbox *sb, const char *msg)
{
	lua_pushfstring(L, "%s:%d: %s", sb->short_src, sb->func_line, msg);
	return lua_error(L);
}

/* Pushes the hook function: a field of the table the file returned, else
 * a global. Expects the chunk's result on top. */
static void find_function(lua_State *L, sandbox *sb)
{
	const hook *h = sb->h;
	lua_Debug ar;

	if (lua_type(L, -1) == LUA_TTABLE)
		lua_getfield(L, -1, h->func);
	else
		lua_pushnil(L);
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		lua_getglobal(L, h->func);
	}
	if (!lua_isfunction(L, -1)) {
		lua_pushfstring(L, "no function '%s' in %s (neither a global "
				"nor a field of the table the file returns)",
				h->func, h->path);
		lua_error(L);
	}
	lua_pushvalue(L, -1);
	lua_getinfo(L, ">S", &ar);
	sb->func_line = ar.linedefined > 0 ? ar.linedefined : 1;
}

/* Loads the chunk, runs its top level, finds the function and, unless only
 * compiling, calls it. Runs under lua_pcall; leaves the result on top. */
static int sandbox_main(lua_State *L)
{
	sandbox *sb = lua_touserdata(L, 1);
	const hook *h = sb->h;
	const char *s;
	size_t len;
	lua_Debug ar;

	lua_settop(L, 0);
	/* Learn how Lua abbreviates the chunk name before anything can fail
	 * with a message that carries it. */
	if (luaL_loadbufferx(L, "", 0, h->chunkname, "t"))
		return lua_error(L);
	lua_getinfo(L, ">S", &ar);
	memcpy(sb->short_src, ar.short_src, sizeof(sb->short_src));
	sandbox_open_libs(L);
	if (luaL_loadbufferx(L, h->source, h->source_len, h->chunkname, "t"))
		return lua_error(L);
	lua_call(L, 0, 1);
	find_function(L, sb);
	if (sb->text == NULL)
		return 0;
	sb->passing_input = 1;
	lua_pushstring(L, sb->text);
	push_job(L, sb->job);
	sb->passing_input = 0;
	sb->last_line = 0;
	sb->line_events = 0;
	if (!sb->budget_exceeded)
		lua_sethook(L, sandbox_hook, HOOK_MASK_EXACT, HOOK_PERIOD);
	lua_call(L, 2, 1);
	switch (lua_type(L, -1)) {
	case LUA_TNIL:
		return 1;
	case LUA_TSTRING:
		break;
	default:
		lua_pushfstring(L, "%s returned a %s; a hook returns a "
				"string or nil", h->func, luaL_typename(L, -1));
		return raise_at_func(L, sb, lua_tostring(L, -1));
	}
	s = lua_tolstring(L, -1, &len);
	if (strlen(s) != len || !util_utf8_valid(s, len, NULL))
		return raise_at_func(L, sb, "the returned text is not valid "
				     "UTF-8 (or holds a NUL byte)");
	return 1;
}

/* Message handler: turns any error value into text and makes sure it
 * starts with a position in the hook's file. */
static int sandbox_msgh(lua_State *L)
{
	sandbox *sb = sandbox_of(L);
	const char *msg;
	lua_Debug ar;
	int level;

	if (lua_type(L, 1) != LUA_TSTRING && lua_type(L, 1) != LUA_TNUMBER &&
	    !luaL_callmeta(L, 1, "__tostring"))
		lua_pushfstring(L, "(error object is a %s value)",
				luaL_typename(L, 1));
	msg = lua_tostring(L, -1);
	if (msg == NULL)
		msg = "(error object has no text)";
	if (sb->short_src[0] &&
	    strncmp(msg, sb->short_src, strlen(sb->short_src)) == 0)
		return 1;
	for (level = 1; lua_getstack(L, level, &ar); level++) {
		lua_getinfo(L, "Sl", &ar);
		if (ar.currentline > 0 &&
		    strcmp(ar.short_src, sb->short_src) == 0) {
			lua_pushfstring(L, "%s:%d: %s", ar.short_src,
					ar.currentline, msg);
			return 1;
		}
	}
	return 1;
}

/* Copies a failed call's message into err, completing memory errors, which
 * Lua reports without a position. */
static void report_error(sandbox *sb, int status, const char *msg,
			 char *err, size_t errlen)
{
	const hook *h = sb->h;
	unsigned long mib = (unsigned long)(h->memory >> 20);

	if (msg == NULL)
		msg = "unknown error";
	if (sb->mem_exceeded && (status == LUA_ERRMEM ||
				 strstr(msg, "not enough memory"))) {
		int line = sb->last_line > 0 ? sb->last_line : sb->func_line;

		if (sb->passing_input || line <= 0)
			util_errf(err, errlen, "hook \"%s\": memory cap of %lu "
				  "MiB exceeded before the hook ran (input of "
				  "%zu bytes)", h->spec, mib,
				  sb->text ? strlen(sb->text) : (size_t)0);
		else if (status == LUA_ERRMEM || strncmp(msg, sb->short_src,
					strlen(sb->short_src)) != 0)
			util_errf(err, errlen, "%s:%d: memory cap of %lu MiB "
				  "exceeded", h->path, line, mib);
		else
			util_errf(err, errlen, "%s (memory cap of %lu MiB)",
				  msg, mib);
		return;
	}
	if (status == LUA_ERRERR && sb->budget_exceeded) {
		util_errf(err, errlen, "%s:%d: instruction budget of %lld "
			  "exceeded", h->path, sb->last_line > 0 ? sb->last_line
			  : sb->func_line, h->instructions);
		return;
	}
	if (status == LUA_ERRERR)
		msg = "error while handling an error (out of memory?)";
	if (sb->short_src[0] &&
	    strncmp(msg, sb->short_src, strlen(sb->short_src)) == 0)
		util_errf(err, errlen, "%s", msg);
	else
		util_errf(err, errlen, "hook \"%s\": %s", h->spec, msg);
}

/* Runs sandbox_main in a fresh state. With text == NULL it only compiles
 * and checks the function; else *out receives the result (or NULL). */
static int sandbox_run(const hook *h, const char *text,
		       const hook_job_view *job, strbuf *logs, char **out,
		       char *err, size_t errlen)
{
	sandbox sb;
	lua_State *L;
	const char *s;
	size_t len;
	int status, rc = VG_OK;

	memset(&sb, 0, sizeof(sb));
	sb.h = h;
	sb.job = job;
	sb.text = text;
	sb.logs = logs;
	sb.limit = h->memory;
	L = lua_newstate(sandbox_alloc, &sb);
	if (L == NULL) {
		util_errf(err, errlen, "hook \"%s\": cannot create a Lua state "
			  "within %lu MiB", h->spec,
			  (unsigned long)(h->memory >> 20));
		return VG_ENOMEM;
	}
	sb.L = L;
	lua_sethook(L, sandbox_hook, HOOK_MASK_EXACT, HOOK_PERIOD);
	lua_pushcfunction(L, sandbox_msgh);
	lua_pushcfunction(L, sandbox_main);
	lua_pushlightuserdata(L, &sb);
	status = lua_pcall(L, 1, 1, 1);
	if (status != LUA_OK) {
		report_error(&sb, status, lua_tostring(L, -1), err, errlen);
		rc = VG_EINVAL;
	} else if (out != NULL) {
		*out = NULL;
		s = lua_tolstring(L, -1, &len);
		if (s != NULL) {
			*out = malloc(len + 1);
			if (*out == NULL) {
				util_errf(err, errlen, "hook \"%s\": out of "
					  "memory", h->spec);
				rc = VG_ENOMEM;
			} else {
				memcpy(*out, s, len + 1);
			}
		}
	}
	/* Finalizers the hook set run inside lua_close: give them no budget. */
	sb.budget_exceeded = 1;
	lua_sethook(L, sandbox_hook, LUA_MASKCOUNT, 1);
	lua_close(L);
	return rc;
}

/* ------------------------------------------------------------------------
 * A call in a worker process. The instruction budget bounds Lua code, not a
 * single library call running in C (string.find with a backtracking
 * pattern on a long text runs for minutes without executing one Lua
 * instruction). So each call, and the check of a hook when it is compiled,
 * runs in a worker of the hook server (hook_server.c) that ends itself at a
 * wall-clock deadline, and that the caller gives up on shortly after. The
 * caller sends the hook, the text and the job table (call_request); the
 * worker runs a fresh Lua state, keeps its log lines for the caller and
 * answers (call_header).
 * ------------------------------------------------------------------------ */

#define CALL_MAGIC 0x76676831u /* "vgh1" */
/* Largest request a worker reads (the caller already holds it all). */
#define CALL_MAX_BODY ((uint64_t)2 << 30)
#define CALL_MAX_ARTIFACTS 100000u
/* How long after the worker's own deadline the caller stops waiting (the
 * worker then answers "timed out" itself; this covers a stopped one). */
#define CALL_GRACE_MS 2000LL
#define STR_NONE UINT32_MAX

/* What the caller sends, then the strings of put_request in its order. */
typedef struct call_request {
	uint32_t magic;
	uint32_t n_artifacts;
	int32_t compile_only;
	int32_t pad;
	int64_t instructions;
	uint64_t memory;
	int64_t limit_ms;
	uint64_t body_len;
} call_request;

/* What the worker sends, in this order, after the header: err, logs, out.
 * rc VG_ETIMEDOUT: the worker's deadline passed (nothing follows). */
typedef struct call_header {
	int32_t rc;
	int32_t has_out;
	uint32_t err_len, log_len;
	uint64_t out_len;
} call_header;

/* A string: its length (STR_NONE for NULL), its bytes and a NUL, so the
 * worker uses them in place. */
static void put_str(strbuf *b, const char *s, size_t len)
{
	uint32_t n = s ? (uint32_t)len : STR_NONE;

	sb_append(b, (const char *)&n, sizeof(n));
	if (s) {
		sb_append(b, s, len);
		sb_append(b, "", 1);
	}
}

static void put_cstr(strbuf *b, const char *s)
{
	put_str(b, s, s ? strlen(s) : 0);
}

static void put_request(strbuf *b, const hook *h, const char *text,
			const hook_job_view *job, long long limit_ms)
{
	call_request rq = { .magic = CALL_MAGIC, .compile_only = text == NULL,
			    .instructions = h->instructions, .memory = h->memory,
			    .limit_ms = limit_ms };
	size_t i;

	rq.n_artifacts = job ? (uint32_t)job->n_artifacts : 0;
	sb_append(b, (const char *)&rq, sizeof(rq));
	put_cstr(b, h->spec);
	put_cstr(b, h->path);
	put_cstr(b, h->chunkname);
	put_cstr(b, h->func);
	put_str(b, h->source, h->source_len);
	put_cstr(b, text);
	put_cstr(b, job ? job->job_id : NULL);
	put_cstr(b, job ? job->question : NULL);
	put_cstr(b, job ? job->model : NULL);
	put_cstr(b, job ? job->voice : NULL);
	put_cstr(b, job ? job->stage : NULL);
	for (i = 0; i < rq.n_artifacts; i++) {
		put_cstr(b, job->artifacts[i].stage);
		put_cstr(b, job->artifacts[i].text);
	}
	((call_request *)b->buf)->body_len = b->len - sizeof(rq);
}

/* Takes one string of put_str from *p; 0 (with *s NULL for none) or -1 when
 * the body is malformed. */
static int take_str(const char **p, const char *end, const char **s, size_t *len)
{
	uint32_t n;

	if ((size_t)(end - *p) < sizeof(n))
		return -1;
	memcpy(&n, *p, sizeof(n));
	*p += sizeof(n);
	*s = NULL;
	if (n == STR_NONE)
		return 0;
	if ((size_t)(end - *p) < (size_t)n + 1 || (*p)[n] != '\0')
		return -1;
	*s = *p;
	if (len)
		*len = n;
	*p += (size_t)n + 1;
	return 0;
}

/* Decodes the body into h and job (pointing into the body). 0 or -1. */
static int take_request(const call_request *rq, const char *body, hook *h,
			hook_job_view *job, hook_artifact *arts, const char **text)
{
	const char *p = body, *end = body + rq->body_len;
	const char *src;
	uint32_t i;

	h->instructions = rq->instructions;
	h->memory = (size_t)rq->memory;
	if (take_str(&p, end, (const char **)&h->spec, NULL) ||
	    take_str(&p, end, (const char **)&h->path, NULL) ||
	    take_str(&p, end, (const char **)&h->chunkname, NULL) ||
	    take_str(&p, end, (const char **)&h->func, NULL) ||
	    take_str(&p, end, &src, &h->source_len) ||
	    take_str(&p, end, text, NULL) ||
	    take_str(&p, end, &job->job_id, NULL) ||
	    take_str(&p, end, &job->question, NULL) ||
	    take_str(&p, end, &job->model, NULL) ||
	    take_str(&p, end, &job->voice, NULL) ||
	    take_str(&p, end, &job->stage, NULL))
		return -1;
	h->source = (char *)src;
	for (i = 0; i < rq->n_artifacts; i++)
		if (take_str(&p, end, &arts[i].stage, NULL) ||
		    take_str(&p, end, &arts[i].text, NULL))
			return -1;
	job->artifacts = arts;
	job->n_artifacts = rq->n_artifacts;
	if (h->spec == NULL || h->path == NULL || h->chunkname == NULL || h->func == NULL ||
	    src == NULL || (*text == NULL) != (rq->compile_only != 0) || p != end)
		return -1;
	return 0;
}

static int read_full(int fd, void *buf, size_t n)
{
	char *p = buf;

	while (n > 0) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static volatile sig_atomic_t worker_fd = -1;

/* SIGALRM in a worker: the call's wall-clock limit passed. */
static void worker_deadline(int sig)
{
	call_header hd = { .rc = VG_ETIMEDOUT };

	(void)sig;
	if (write(worker_fd, &hd, sizeof(hd)) < 0)
		_exit(2);
	_exit(0);
}

/* Arms the worker's own wall-clock limit. */
static void worker_arm(long long ms)
{
	struct sigaction sa;
	struct itimerval it = { 0 };

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = worker_deadline;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	it.it_value.tv_sec = (time_t)(ms / 1000);
	it.it_value.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	setitimer(ITIMER_REAL, &it, NULL);
}

/* Runs the call and writes the answer; past the deadline, the answer is
 * the deadline's alone. */
static void __attribute__((noreturn))
worker_run(int fd, const hook *h, const char *text, const hook_job_view *job)
{
	strbuf logs = { 0 };
	char err[1024] = "", *out = NULL;
	call_header hd = { 0 };
	sigset_t alrm;

	hd.rc = sandbox_run(h, text, job, &logs, &out, err, sizeof(err));
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	sigprocmask(SIG_BLOCK, &alrm, NULL);
	hd.has_out = out != NULL;
	hd.err_len = (uint32_t)strlen(err);
	hd.log_len = (uint32_t)logs.len;
	hd.out_len = out ? strlen(out) : 0;
	int ok = util_write_all(fd, &hd, sizeof(hd)) == 0 &&
		 util_write_all(fd, err, hd.err_len) == 0 &&
		 util_write_all(fd, logs.len ? logs.buf : "", logs.len) == 0 &&
		 util_write_all(fd, out ? out : "", (size_t)hd.out_len) == 0;
	_exit(ok ? 0 : 1); /* no atexit handlers: they belong to the caller */
}

void hook_worker_main(int fd)
{
	call_request rq;
	hook h;
	hook_job_view job;
	hook_artifact *arts;
	const char *text = NULL;
	char *body;

	worker_fd = fd;
	if (read_full(fd, &rq, sizeof(rq)) != 0 || rq.magic != CALL_MAGIC ||
	    rq.body_len > CALL_MAX_BODY || rq.n_artifacts > CALL_MAX_ARTIFACTS ||
	    rq.limit_ms <= 0)
		_exit(1);
	worker_arm(rq.limit_ms);
	memset(&h, 0, sizeof(h));
	memset(&job, 0, sizeof(job));
	body = malloc((size_t)rq.body_len + 1);
	arts = calloc(rq.n_artifacts + 1, sizeof(*arts));
	if (body == NULL || arts == NULL || read_full(fd, body, (size_t)rq.body_len) != 0 ||
	    take_request(&rq, body, &h, &job, arts, &text) != 0)
		_exit(1);
	worker_run(fd, &h, text, rq.compile_only ? NULL : &job);
}

/* The wall-clock limit of one call: about five times what the instruction
 * budget takes in pure Lua here (5 s for the default budget), at least
 * HOOK_MIN_CALL_MS. */
static long long call_deadline_ms(const hook *h)
{
	long long ms = h->instructions / HOOK_INSTRUCTIONS_PER_CALL_MS;
	return ms < HOOK_MIN_CALL_MS ? HOOK_MIN_CALL_MS : ms;
}

/* Logs the worker's kept lines ("LEVEL message"). */
static void replay_logs(const char *p, size_t len)
{
	const char *end = p + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			break;
		char *rest;
		long level = strtol(p, &rest, 10);
		if (rest < nl && *rest == ' ')
			log_msg((int)level, "%.*s", (int)(nl - rest - 1), rest + 1);
		p = nl + 1;
	}
}

static void timeout_error(const hook *h, long long limit, char *err, size_t errlen)
{
	util_errf(err, errlen, "hook \"%s\": still running after %lld s, stopped (a library "
		  "call such as string.find on a long text runs outside the instruction "
		  "budget)", h->spec, limit / 1000);
}

/* Turns the worker's answer in msg into the call's result; -1 (err not
 * touched) when msg is not a whole answer. */
static int call_result(const hook *h, const strbuf *msg, long long limit, char **out,
		       char *err, size_t errlen)
{
	call_header hd;

	if (msg->len < sizeof(hd))
		return -1;
	memcpy(&hd, msg->buf, sizeof(hd));
	if (hd.rc == VG_ETIMEDOUT) {
		timeout_error(h, limit, err, errlen);
		return VG_EINVAL;
	}
	if ((uint64_t)msg->len != sizeof(hd) + (uint64_t)hd.err_len + hd.log_len + hd.out_len)
		return -1;
	const char *p = msg->buf + sizeof(hd);
	replay_logs(p + hd.err_len, hd.log_len);
	if (hd.rc != VG_OK) {
		util_errf(err, errlen, "%.*s", (int)hd.err_len, p);
		return hd.rc;
	}
	if (hd.has_out && out != NULL) {
		*out = xmalloc((size_t)hd.out_len + 1);
		memcpy(*out, p + hd.err_len + hd.log_len, (size_t)hd.out_len);
		(*out)[hd.out_len] = '\0';
	}
	return VG_OK;
}

/* Runs the hook on text (NULL: only compiles and checks it) in a worker. */
static int call_in_worker(const hook *h, const char *text, const hook_job_view *job,
			  char **out, char *err, size_t errlen)
{
	strbuf req = { 0 }, msg = { 0 };
	long long limit = call_deadline_ms(h);
	int timed_out = 0, rc;

	put_request(&req, h, text, job, limit);
	err[0] = '\0';
	rc = hook_server_call(req.buf, req.len, &msg, h->memory + ((size_t)4 << 20),
			      util_now_ms() + limit + CALL_GRACE_MS, &timed_out, err, errlen);
	sb_free(&req);
	if (timed_out) {
		timeout_error(h, limit, err, errlen);
		rc = VG_EINVAL;
	} else if (rc != 0 && err[0]) {
		rc = VG_ENOMEM; /* the server could not be reached: not the hook's fault */
	} else if (rc != 0 || (rc = call_result(h, &msg, limit, out, err, errlen)) < 0) {
		util_errf(err, errlen, "hook \"%s\": its process ended without an answer",
			  h->spec);
		rc = VG_EINVAL;
	}
	sb_free(&msg);
	return rc;
}

/* ------------------------------------------------------------------------
 * Public interface.
 * ------------------------------------------------------------------------ */

static int valid_identifier(const char *s)
{
	size_t i;

	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
	      s[0] == '_'))
		return 0;
	for (i = 1; s[i]; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return i <= HOOK_MAX_FUNC;
}

/* Reads a regular file of at most HOOK_MAX_SOURCE bytes into h. */
static int read_source(hook *h, const char *file, char *err, size_t errlen)
{
	struct stat st;
	ssize_t n;
	size_t got = 0;
	int fd, rc = -1;

	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		util_errf(err, errlen, "hook \"%s\": cannot open %s: %s",
			  h->spec, file, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (size_t)st.st_size > HOOK_MAX_SOURCE) {
		util_errf(err, errlen, "hook \"%s\": %s is not a regular file "
			  "of at most %zu bytes", h->spec, file,
			  HOOK_MAX_SOURCE);
		goto out;
	}
	h->source = malloc((size_t)st.st_size + 1);
	if (h->source == NULL) {
		util_errf(err, errlen, "hook \"%s\": out of memory", h->spec);
		goto out;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, h->source + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			util_errf(err, errlen, "hook \"%s\": cannot read %s: "
				  "%s", h->spec, file,
				  n < 0 ? strerror(errno) : "file shrank");
			goto out;
		}
		got += (size_t)n;
	}
	h->source[got] = '\0';
	h->source_len = got;
	rc = 0;
out:
	close(fd);
	return rc;
}

/* Splits spec at its last ':' into h->path and h->func. */
static int parse_spec(hook *h, char *err, size_t errlen)
{
	const char *colon = strrchr(h->spec, ':');

	if (colon == NULL || colon == h->spec || !valid_identifier(colon + 1)) {
		util_errf(err, errlen, "hook \"%s\": expected "
			  "\"path/file.lua:function\" (a Lua identifier "
			  "after the last ':')", h->spec);
		return -1;
	}
	h->path = strndup(h->spec, (size_t)(colon - h->spec));
	h->func = strdup(colon + 1);
	h->chunkname = malloc(strlen(h->path ? h->path : "") + 2);
	if (h->path == NULL || h->func == NULL || h->chunkname == NULL) {
		util_errf(err, errlen, "hook \"%s\": out of memory", h->spec);
		return -1;
	}
	h->chunkname[0] = '@';
	strcpy(h->chunkname + 1, h->path);
	return 0;
}

hook *hook_compile(const char *spec, const char *base_dir, char *err,
		   size_t errlen)
{
	hook *h = NULL;
	char *file = NULL;

	if (spec == NULL || strnlen(spec, HOOK_MAX_SPEC + 1) > HOOK_MAX_SPEC) {
		util_errf(err, errlen, "hook: missing or overlong spec");
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	if (h == NULL || (h->spec = strdup(spec)) == NULL) {
		util_errf(err, errlen, "hook \"%s\": out of memory", spec);
		goto fail;
	}
	h->instructions = HOOK_DEFAULT_INSTRUCTIONS;
	h->memory = HOOK_DEFAULT_MEMORY;
	if (parse_spec(h, err, errlen) != 0)
		goto fail;
	file = (h->path[0] == '/' || base_dir == NULL || !base_dir[0])
	       ? strdup(h->path) : util_path_join(base_dir, h->path);
	if (file == NULL) {
		util_errf(err, errlen, "hook \"%s\": out of memory", spec);
		goto fail;
	}
	if (read_source(h, file, err, errlen) != 0)
		goto fail;
	if (call_in_worker(h, NULL, NULL, NULL, err, errlen) != VG_OK)
		goto fail;
	free(file);
	return h;
fail:
	free(file);
	hook_free(h);
	return NULL;
}

int hook_set_limits(hook *h, long long instructions, size_t memory,
		    char *err, size_t errlen)
{
	if (instructions != 0 && (instructions < HOOK_MIN_INSTRUCTIONS ||
				  instructions > HOOK_MAX_INSTRUCTIONS)) {
		util_errf(err, errlen, "hook instruction budget must be "
			  "between %ld and %lld", HOOK_MIN_INSTRUCTIONS,
			  (long long)HOOK_MAX_INSTRUCTIONS);
		return VG_EINVAL;
	}
	if (memory != 0 && (memory < HOOK_MIN_MEMORY ||
			    memory > HOOK_MAX_MEMORY)) {
		util_errf(err, errlen, "hook memory cap must be between %zu "
			  "and %zu MiB", HOOK_MIN_MEMORY >> 20,
			  HOOK_MAX_MEMORY >> 20);
		return VG_EINVAL;
	}
	if (instructions != 0)
		h->instructions = instructions;
	if (memory != 0)
		h->memory = memory;
	return VG_OK;
}

int hook_call(const hook *h, const char *text, const hook_job_view *job,
	      char **out, char *err, size_t errlen)
{
	if (out != NULL)
		*out = NULL;
	if (h == NULL || text == NULL || out == NULL) {
		util_errf(err, errlen, "hook: no hook or no text");
		return VG_EINVAL;
	}
	return call_in_worker(h, text, job, out, err, errlen);
}

const char *hook_spec(const hook *h)
{
	return h ? h->spec : NULL;
}

void hook_free(hook *h)
{
	if (h == NULL)
		return;
	free(h->spec);
	free(h->path);
	free(h->chunkname);
	free(h->func);
	free(h->source);
	free(h);
}
