/*
 * vidgen plugin ABI: the one header a plugin author includes.
 *
 * A plugin is a shared object that exports one symbol, `vidgen_plugin`, a
 * vg_plugin descriptor. The core checks its ABI major version and struct size,
 * fills an instance struct from the plugin's settings table (parsed and
 * validated with file:line errors by the core), then calls run() once per
 * stage execution with a vg_stage that carries the inputs and a table of core
 * services. Plugins never link against core internals.
 *
 * Versioning follows Redis modules. Every struct that crosses the line
 * carries its size (struct_size, first in every struct one side fills and
 * the other reads; third in vg_plugin, after the two version numbers), the
 * services table is append-only, and a field added in a later minor version
 * is read only when VG_HAS(ptr, type, field) says the other side has it.
 * A new major version is a break: the core refuses plugins of another major
 * (doc/plugins.md, "Versions").
 */
#ifndef VIDGEN_PLUGIN_H
#define VIDGEN_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VIDGEN_ABI_MAJOR 2
#define VIDGEN_ABI_MINOR 3

/* The name of the one symbol every plugin exports. */
#define VIDGEN_PLUGIN_SYMBOL "vidgen_plugin"

/* 1 when the struct at ptr (which starts with, or holds, uint32_t
 * struct_size) is large enough to hold `field` of `type`: the one test for
 * a field added after the other side was built, e.g.
 * VG_HAS(st->svc, vg_services, some_2_1_service). Fields of 2.0 are always
 * there. */
#define VG_HAS(ptr, type, field) \
	((ptr)->struct_size >= offsetof(type, field) + sizeof(((type *)0)->field))

/* Status codes, returned by every callback and service (0 = ok). */
enum vg_status {
	VG_OK = 0,
	VG_EFAIL = 1,     /* failed; the core may retry the stage */
	VG_EINVAL = 2,    /* bad setting or input; retrying will not help */
	VG_ECANCELED = 3, /* the job was cancelled or the stage timed out */
	VG_ETIMEDOUT = 4, /* an operation ran out of time */
	VG_ENOMEM = 5,
	VG_EIO = 6,       /* file or process I/O failed */
	VG_EHTTP = 7,     /* a remote service answered an error */
	VG_ESCRIPT = 8,   /* an upstream output is unusable (e.g. a script that
			   * does not render): triggers the stage's on_error
			   * repair, if the pipeline has one */
	VG_ENOTSUP = 9,   /* the core does not offer this service */
};

/* Log levels for svc->log. */
enum vg_log_level { VG_LOG_ERROR = 0, VG_LOG_WARN, VG_LOG_INFO, VG_LOG_DEBUG };

/* ------------------------------------------------------------------------
 * Settings: declared once, used to parse, validate and document.
 * ------------------------------------------------------------------------ */
enum vg_setting_type {
	VG_SET_STRING = 1, /* fills const char *; "choices" may restrict it */
	VG_SET_INT,        /* fills long; min/max inclusive */
	VG_SET_BOOL,       /* fills int (0/1) */
	VG_SET_DOUBLE,     /* fills double; min/max inclusive */
	VG_SET_PATH,       /* fills const char *; relative paths are resolved
			    * against the pipeline file's directory */
	VG_SET_SECRET,     /* fills const char *; never logged or listed */
};

typedef struct vg_setting {
	uint32_t struct_size; /* sizeof(vg_setting); the macros below set it */
	int type;             /* enum vg_setting_type */
	const char *name;     /* key inside the stage's `settings` group */
	size_t offset;        /* offsetof() the field in the instance struct */
	const char *def;      /* default as text (may use ${VAR:-default}), or
			       * NULL for none */
	int required;         /* 1: the pipeline must set it (def ignored) */
	double min, max;      /* INT/DOUBLE range, inclusive; both 0 = unbounded */
	const char *choices;  /* STRING: "a|b|c" allowed values, or NULL */
	const char *help;     /* one line of documentation */
} vg_setting;

/*
 * One entry per setting, in the table a descriptor's .settings points to:
 *
 *   static const vg_setting shout_settings[] = {
 *           VG_SETTING_STR("suffix", shout_conf, suffix, "!", "appended text"),
 *           VG_SETTING_INT("repeat", shout_conf, repeat, "1", 1, 10, "times"),
 *           VG_SETTINGS_END
 *   };
 *
 * Each macro names the setting, the instance struct and its field, and checks
 * (in C) that the field has the type the entry fills: const char * for
 * STR/CHOICE/PATH/SECRET/REQUIRED, long for INT, double for DOUBLE, int for
 * BOOL. Defaults are text, as a pipeline would write them ("true", "300").
 */
#ifndef __cplusplus
#define VG_FIELD_IS_(st, field, ctype) \
	(0 * sizeof(struct { int vg_field_has_the_wrong_type : \
			     _Generic(((st *)0)->field, ctype: 1, default: -1); }))
#else
#define VG_FIELD_IS_(st, field, ctype) 0
#endif
#define VG_SETTING_(key_, type_, st_, field_, ctype_, ...) \
	{ .struct_size = sizeof(vg_setting), .type = (type_), .name = (key_), \
	  .offset = offsetof(st_, field_) + VG_FIELD_IS_(st_, field_, ctype_), __VA_ARGS__ }

#define VG_SETTING_STR(key, st, field, def_, help_) \
	VG_SETTING_(key, VG_SET_STRING, st, field, const char *, .def = (def_), .help = (help_))
#define VG_SETTING_CHOICE(key, st, field, def_, choices_, help_) \
	VG_SETTING_(key, VG_SET_STRING, st, field, const char *, .def = (def_), \
		    .choices = (choices_), .help = (help_))
#define VG_SETTING_PATH(key, st, field, def_, help_) \
	VG_SETTING_(key, VG_SET_PATH, st, field, const char *, .def = (def_), .help = (help_))
#define VG_SETTING_SECRET(key, st, field, help_) \
	VG_SETTING_(key, VG_SET_SECRET, st, field, const char *, .help = (help_))
#define VG_SETTING_INT(key, st, field, def_, min_, max_, help_) \
	VG_SETTING_(key, VG_SET_INT, st, field, long, .def = (def_), .min = (min_), \
		    .max = (max_), .help = (help_))
#define VG_SETTING_DOUBLE(key, st, field, def_, min_, max_, help_) \
	VG_SETTING_(key, VG_SET_DOUBLE, st, field, double, .def = (def_), .min = (min_), \
		    .max = (max_), .help = (help_))
#define VG_SETTING_BOOL(key, st, field, def_, help_) \
	VG_SETTING_(key, VG_SET_BOOL, st, field, int, .def = (def_), .help = (help_))
/* A string, path or secret the pipeline must set: type_ is VG_SET_STRING,
 * VG_SET_PATH or VG_SET_SECRET. */
#define VG_SETTING_REQUIRED(key, type_, st, field, help_) \
	VG_SETTING_(key, type_, st, field, const char *, .required = 1, .help = (help_))

/* Table terminator. */
#define VG_SETTINGS_END { .struct_size = sizeof(vg_setting) }

/* ------------------------------------------------------------------------
 * Artifacts: every stage output is a file in the job directory.
 * ------------------------------------------------------------------------ */
/*
 * Artifact kinds used by the bundled plugins (a kind is free text):
 *   "text"      UTF-8 text (explanations, prompts)
 *   "script"    a Manim Python script (UTF-8 text)
 *   "narration" JSON, see doc/narration.md: {"segments":[{"index","text",
 *               "file","duration"}], "total_duration"}; file paths are
 *               relative to the JSON file's directory
 *   "video"     an MP4 file; a render may leave beside it (same name,
 *               ".mp4" replaced) its captions, NAME.vtt (WebVTT) and
 *               NAME.srt, and its poster, NAME.jpg and NAME.thumb.jpg (320
 *               pixels wide), which a store keeps beside the video and
 *               reports with svc->output_link
 *   "url"       UTF-8 text: where the stored video can be fetched
 */
typedef struct vg_artifact {
	const char *from; /* producing stage id, or "question" */
	const char *kind;
	const char *path; /* absolute path; NULL for "question" */
	const char *data; /* whole content, NUL-terminated (text kinds only;
			   * NULL for binary kinds such as "video") */
	size_t len;       /* bytes in data */
} vg_artifact;

/* What a stage knows about its job. All strings owned by the core. */
typedef struct vg_job_info {
	const char *id;       /* UUID */
	const char *question; /* the user's question, valid UTF-8 */
	const char *model;    /* friendly model name the user picked */
	const char *voice;    /* voice the user picked */
	const char *job_dir;  /* absolute path, exists */
	const char *created_at; /* ISO-8601 UTC */
} vg_job_info;

typedef struct vg_services vg_services;

typedef struct vg_stage {
	uint32_t struct_size;
	const char *id;            /* stage id from the pipeline */
	const char *dir;           /* this stage's own directory (exists) */
	const char *model;         /* friendly model: the stage's `model`, else
				    * the job's choice */
	const char *model_id;      /* provider id the pipeline maps it to */
	const vg_job_info *job;
	const vg_services *svc;
	size_t n_inputs;
	const vg_artifact *inputs; /* in the order of the stage's `inputs` */
	int attempt;               /* 0 first run; >0 retries and repairs */
	const char *feedback;      /* on a repair run: the error of the stage
				    * that failed downstream; else NULL */
	const vg_artifact *previous; /* on a repair run: this stage's last
				      * output; else NULL */
	void *core;                /* opaque, for the core's own use */
	int last_repair;           /* 1 when the stage has an on_error repair
				    * stage and this run is the last its
				    * repairs allow, so a VG_ESCRIPT now fails
				    * the job; 0 otherwise */
} vg_stage;

/* ------------------------------------------------------------------------
 * Child processes (svc->spawn): how plugins run espeak, ffmpeg, manim.
 * ------------------------------------------------------------------------ */
typedef struct vg_proc {
	uint32_t struct_size;     /* sizeof(vg_proc): use VG_PROC_INIT */
	const char *const *argv;  /* argv[0] is looked up in PATH */
	const char *const *envp;  /* the whole environment; NULL = empty */
	const char *cwd;          /* NULL = the stage directory */
	const char *stdin_path;   /* NULL = /dev/null */
	const char *stdout_path;  /* NULL = discarded */
	const char *stderr_path;  /* NULL = discarded */
	long timeout_ms;          /* wall clock; 0 = none; kills the group */
	long cpu_seconds;         /* RLIMIT_CPU; 0 = unlimited */
	long memory_mb;           /* RLIMIT_AS; 0 = unlimited */
	long file_size_mb;        /* RLIMIT_FSIZE; 0 = unlimited */
	long max_processes;       /* RLIMIT_NPROC; 0 = unlimited */
} vg_proc;

/* vg_proc p = VG_PROC_INIT(.argv = argv, .timeout_ms = 30000); */
#define VG_PROC_INIT(...) { .struct_size = sizeof(vg_proc), __VA_ARGS__ }

/* ------------------------------------------------------------------------
 * HTTP (svc->http), with AWS SigV4 signing when req->aws is set.
 * ------------------------------------------------------------------------ */
typedef struct vg_aws_sign_opts {
	uint32_t struct_size; /* sizeof(vg_aws_sign_opts): use VG_AWS_SIGN_OPTS_INIT */
	const char *service; /* "bedrock", "polly", "s3" */
	const char *region;  /* NULL = the job's configured region */
	int s3_rules;        /* 1: single-encode the path, sign the payload
			      * hash header x-amz-content-sha256 */
	int unsigned_payload; /* s3 only: UNSIGNED-PAYLOAD */
} vg_aws_sign_opts;

#define VG_AWS_SIGN_OPTS_INIT(...) { .struct_size = sizeof(vg_aws_sign_opts), __VA_ARGS__ }

typedef struct vg_http_request {
	uint32_t struct_size;        /* sizeof(vg_http_request): use
				      * VG_HTTP_REQUEST_INIT */
	const char *method;          /* "GET", "POST", "PUT", ... */
	const char *url;
	const char *const *headers;  /* "Name: value", NULL-terminated; may
				      * be NULL */
	const void *body;
	size_t body_len;
	const char *body_path;       /* send this file instead of body */
	const char *response_path;   /* write the body to this file instead
				      * of memory (binary downloads, at most
				      * 64 MiB: longer fails, "too large") */
	long connect_timeout_ms;     /* 0 = core default */
	long timeout_ms;             /* whole request; 0 = core default */
	int max_attempts;            /* retries on 429/5xx; 0 = default */
	const vg_aws_sign_opts *aws; /* non-NULL: sign with SigV4 */
} vg_http_request;

#define VG_HTTP_REQUEST_INIT(...) { .struct_size = sizeof(vg_http_request), __VA_ARGS__ }

typedef struct vg_http_response {
	long status;        /* HTTP status code */
	char *body;         /* NUL-terminated; NULL with response_path */
	size_t body_len;
	char **headers;     /* "name: value" lower-case names, NULL-term. */
} vg_http_response;

/* ------------------------------------------------------------------------
 * The services table the core passes to plugins. Append-only.
 * ------------------------------------------------------------------------ */
struct vg_services {
	uint32_t struct_size; /* test a service added after 2.0 with VG_HAS */
	uint32_t abi_minor;

	/* Logs a line tagged with job and stage. Never pass secrets. */
	void (*log)(const vg_stage *st, int level, const char *fmt, ...)
		__attribute__((format(printf, 3, 4)));

	/* Writes data to file `name` in the stage directory and makes it the
	 * stage's output artifact of `kind`. The file is written atomically
	 * (temporary file + rename). */
	int (*output_write)(const vg_stage *st, const char *kind,
			    const char *name, const void *data, size_t len);

	/* Makes an existing file (absolute, or relative to the stage
	 * directory; it must lie inside the job directory) the stage's
	 * output artifact of `kind`. */
	int (*output_file)(const vg_stage *st, const char *kind,
			   const char *path);

	/* Reports progress inside the stage, fraction in [0,1]; note may be
	 * NULL. The job's progress never goes backwards. */
	void (*progress)(const vg_stage *st, double fraction, const char *note);

	/* Non-zero once the job is cancelled or the stage's time is up:
	 * return VG_ECANCELED promptly. */
	int (*cancelled)(const vg_stage *st);

	/* Sets an error message for the stage (shown to the user as the
	 * job's message when the stage fails). printf-style. */
	void (*fail)(const vg_stage *st, const char *fmt, ...)
		__attribute__((format(printf, 2, 3)));

	/* Expands a prompt template: {{question}}, {{model}}, {{voice}},
	 * {{input}} (first input), {{input:ID}} (input from stage ID),
	 * {{feedback}}, {{previous}}, {{narration_segments}} (one line per
	 * segment with its duration, from the first narration input).
	 * Returns a malloc'd string the caller frees, NULL on error. */
	char *(*render_template)(const vg_stage *st, const char *tmpl);

	/* Runs a child process with limits; kills its process group on
	 * timeout or cancellation. *exit_code gets the exit status, or
	 * 128+signal. Returns VG_OK when it ran (whatever its exit code),
	 * VG_ETIMEDOUT, VG_ECANCELED, or VG_EIO if it could not start. */
	int (*spawn)(const vg_stage *st, const vg_proc *proc, int *exit_code);

	/* One HTTP exchange with retries and timeouts; fills resp (free it
	 * with http_free). Returns VG_OK whenever an answer arrived, whatever
	 * its status; VG_ETIMEDOUT/VG_EHTTP/VG_ECANCELED otherwise, with the
	 * reason in err. */
	int (*http)(const vg_stage *st, const vg_http_request *req,
		    vg_http_response *resp, char *err, size_t errlen);
	void (*http_free)(vg_http_response *resp);

	/* The setting named `name` from the environment, or NULL. Reads
	 * NAME, else the file named by NAME_FILE. Result owned by the core
	 * for the life of the stage. Never log it. */
	const char *(*secret)(const vg_stage *st, const char *name);

	/* Splits narration text into sentences, by the one rule all narration
	 * plugins share (see doc/narration.md), so every voice cuts a text
	 * into the same segments. Returns one malloc'd block: a
	 * NULL-terminated array of the sentences; free it with free(). *n
	 * gets the count. NULL when out of memory or over 1000 sentences. */
	char **(*split_sentences)(const vg_stage *st, const char *text, size_t len,
				  size_t *n);

	/* The AWS region as the AWS CLI picks it (AWS_REGION, AWS_DEFAULT_REGION,
	 * the profile's region, else eu-west-3), into out. */
	void (*aws_region)(const vg_stage *st, char *out, size_t len);

	/* --- ABI 2.1 (test with VG_HAS(st->svc, vg_services, note)) --- */

	/* Leaves a sentence for the user about a stage that succeeded with a
	 * caveat (the render kept a video in which some parts fell back):
	 * when the job completes, its message is "Video generated
	 * successfully; " followed by the notes of its stages. The last note
	 * of the stage's last successful run counts. printf-style. */
	void (*note)(const vg_stage *st, const char *fmt, ...)
		__attribute__((format(printf, 2, 3)));

	/* --- ABI 2.2 (test with VG_HAS(st->svc, vg_services, usage)) --- */

	/* Puts the cached file for key at path: a second name (hard link) of
	 * the cache's file where the file system allows, else a copy; either
	 * appears whole, by a rename. Never write into it: make a new file
	 * (unlink first) to replace it. key is a NULL-terminated list of strings naming what
	 * the file was made from, e.g. { "polly", voice, engine, language,
	 * "mp3", text, NULL }: the core hashes it, so any change of one part
	 * is another entry. The cache is one content-addressed folder under
	 * the data directory, shared by all jobs and plugins. Returns VG_OK on
	 * a hit; any other status is a miss (the cache is off, the entry is
	 * absent or unreadable): make the file yourself. Counts the hit or
	 * miss in the stage's usage ("cache_hits", "cache_misses"). */
	int (*cache_get)(const vg_stage *st, const char *const *key, const char *path);

	/* Stores a copy of the finished file at path as key's entry, atomically
	 * (a reader sees the whole file or none), then evicts the least
	 * recently used entries over the cache's size cap. Failures are logged
	 * and not the stage's concern (VG_OK or the reason). */
	int (*cache_put)(const vg_stage *st, const char *const *key, const char *path);

	/* Adds value to the stage's usage counter `name` (a-z, 0-9, _; at most
	 * 32 bytes), recorded in the job and priced by the pipeline's price
	 * table (doc/pipeline.md, "Prices"). Names the bundled plugins use:
	 * input_tokens, output_tokens, reasoning_tokens (part of
	 * output_tokens), requests, characters (sent to a TTS service). A
	 * negative, non-finite or absurd value (over 1e12) is refused with
	 * VG_EINVAL and logged: report what upstream said, checked, not
	 * trusted. The core records wall_seconds, cpu_seconds (of children
	 * run with svc->spawn, and the descendants they waited for) and
	 * attempts itself; a plugin whose children run in a pid namespace of
	 * their own (bwrap --unshare-pid), where that count cannot reach,
	 * reports their cpu_seconds. */
	int (*usage)(const vg_stage *st, const char *name, double value);

	/* --- ABI 2.3 (test with VG_HAS(st->svc, vg_services, output_link)) --- */

	/* Tells the core where a file kept beside the stage's output went (a
	 * store stage: the video's captions and poster, see "video" above),
	 * as one of the job's fields: "captions_url" (WebVTT),
	 * "captions_srt_url", "poster_url", "thumbnail_url". Recorded with the
	 * stage's output when the run succeeds. VG_EINVAL for another field,
	 * or a url that is empty, over 2048 bytes or not UTF-8 text. */
	int (*output_link)(const vg_stage *st, const char *field, const char *url);
};

/* ------------------------------------------------------------------------
 * The descriptor each plugin exports as `vidgen_plugin`.
 * ------------------------------------------------------------------------ */
typedef struct vg_plugin {
	uint32_t abi_major;   /* VIDGEN_ABI_MAJOR */
	uint32_t abi_minor;   /* VIDGEN_ABI_MINOR */
	uint32_t struct_size; /* sizeof(vg_plugin) */
	const char *name;     /* unique: "replay", "bedrock", ... */
	const char *kind;     /* "model", "narration", "render", "store": shown
			       * by `vidgen plugins`; the core does not act on
			       * it (a stage's inputs decide what it gets) */
	const char *version;  /* the plugin's own version, "1.0.0" */
	const char *description;

	const vg_setting *settings; /* may be NULL: no settings */
	size_t instance_size;       /* struct the settings fill; zeroed and
				     * filled by the core before init() */

	/* Checks the filled instance once, when the pipeline loads (also by
	 * `vidgen check`). May allocate private state in the instance; fini()
	 * frees it. Return VG_EINVAL with a message in err for a bad value. */
	int (*init)(void *instance, char *err, size_t errlen);

	/* Runs the stage. Called from several threads at once for different
	 * jobs: treat the instance as read-only. */
	int (*run)(void *instance, vg_stage *st);

	/* Frees what init() allocated; may be NULL. */
	void (*fini)(void *instance);

	/* VG_NEEDS_* bits: what the core must check before a job starts, so
	 * a job fails at once with a clear message, not mid-way. */
	uint32_t needs;
} vg_plugin;

/* vg_plugin.needs bits. */
#define VG_NEEDS_AWS_CREDENTIALS 0x1u /* the AWS credential chain must resolve
				       * before the job's first stage */

/* Fills the version fields of a descriptor. */
#define VG_PLUGIN_HEADER \
	.abi_major = VIDGEN_ABI_MAJOR, .abi_minor = VIDGEN_ABI_MINOR, \
	.struct_size = sizeof(vg_plugin)

/* Marks the descriptor for export. */
#define VG_PLUGIN_EXPORT __attribute__((visibility("default")))

#ifdef __cplusplus
}
#endif
#endif /* VIDGEN_PLUGIN_H */
