# The engine, flat in core/: a convenience library (linked into vidgen and
# the unit tests), the vidgen executable with one cmd_*.c a command, and
# their tests. The sub-systems in core/cloud/ and core/serve/ add themselves
# through their own local.mk.
noinst_LTLIBRARIES += libvgcore.la
libvgcore_la_SOURCES = \
	core/util.c core/util.h \
	core/log.c core/log.h \
	core/registry.c core/registry.h \
	core/pipeline.c core/pipeline.h \
	core/settings.c core/settings.h \
	core/job.c core/job.h \
	core/runner.c core/runner.h \
	core/tpool.c core/tpool.h \
	core/services.c core/services.h \
	core/sentences.c core/sentences.h \
	core/proc.c core/proc.h \
	core/hooks.c core/hooks.h \
	core/hook_server.c core/hook_server.h \
	core/sha256.c core/sha256.h \
	core/filecache.c core/filecache.h \
	core/usage.c core/usage.h \
	core/artifacts.c core/artifacts.h \
	plugins/common/s3_addr.c plugins/common/s3_addr.h \
	plugins/common/aws_error.c plugins/common/aws_error.h \
	plugins/common/url.c plugins/common/url.h
libvgcore_la_CFLAGS = $(AM_CFLAGS) $(LIBCONFIG_CFLAGS) $(JANSSON_CFLAGS) \
	$(CURL_CFLAGS) $(OPENSSL_CFLAGS) $(LUA_CFLAGS) $(MHD_CFLAGS) $(SQLITE_CFLAGS) \
	$(LIBPQ_CFLAGS)
libvgcore_la_LIBADD = $(LIBCONFIG_LIBS) $(JANSSON_LIBS) \
	$(LUA_LIBS) $(MHD_LIBS) $(SQLITE_LIBS) $(LIBPQ_LIBS) -lm

# Plugins resolve nothing from the executable; no -rdynamic needed.
bin_PROGRAMS += vidgen
vidgen_SOURCES = core/main.c core/cli.h \
	core/cmd_run.c core/cmd_check.c core/cmd_plugins.c \
	core/cmd_render.c core/cmd_hook.c
vidgen_CFLAGS = $(libvgcore_la_CFLAGS)
vidgen_LDADD = libvgcore.la

if HAVE_CMOCKA
UNIT_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(JANSSON_CFLAGS) $(LIBCONFIG_CFLAGS)
UNIT_LDADD = libvgcore.la $(CMOCKA_LIBS)
check_PROGRAMS += tests/unit/test_util tests/unit/test_settings tests/unit/test_pipeline \
	tests/unit/test_registry tests/unit/test_job tests/unit/test_runner tests/unit/test_sentences \
	tests/unit/test_services tests/unit/test_proc tests/unit/test_hooks \
	tests/unit/test_filecache tests/unit/test_usage tests/unit/test_artifacts \
	tests/unit/test_tpool
TESTS += tests/unit/test_util tests/unit/test_settings tests/unit/test_pipeline \
	tests/unit/test_registry tests/unit/test_job tests/unit/test_runner tests/unit/test_sentences \
	tests/unit/test_services tests/unit/test_proc tests/unit/test_hooks \
	tests/unit/test_filecache tests/unit/test_usage tests/unit/test_artifacts \
	tests/unit/test_tpool
# Threads reused for stages.
tests_unit_test_tpool_SOURCES = tests/unit/test_tpool.c
tests_unit_test_tpool_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_tpool_LDADD = $(UNIT_LDADD)
# The shared artifacts' locators and paths (transfers: tests/e2e/serve_artifacts.sh).
tests_unit_test_artifacts_SOURCES = tests/unit/test_artifacts.c
tests_unit_test_artifacts_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_artifacts_LDADD = $(UNIT_LDADD)
# The file cache behind svc->cache_get/put, and its SHA-256.
tests_unit_test_filecache_SOURCES = tests/unit/test_filecache.c tests/unit/helpers.c \
	tests/unit/helpers.h
tests_unit_test_filecache_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_filecache_LDADD = $(UNIT_LDADD)
# Price tables and the usage object.
tests_unit_test_usage_SOURCES = tests/unit/test_usage.c tests/unit/helpers.c \
	tests/unit/helpers.h
tests_unit_test_usage_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_usage_LDADD = $(UNIT_LDADD)
tests_unit_test_sentences_SOURCES = tests/unit/test_sentences.c
tests_unit_test_sentences_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_sentences_LDADD = $(UNIT_LDADD)
tests_unit_test_util_SOURCES = tests/unit/test_util.c
tests_unit_test_util_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_util_LDADD = $(UNIT_LDADD)
tests_unit_test_settings_SOURCES = tests/unit/test_settings.c
tests_unit_test_settings_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_settings_LDADD = $(UNIT_LDADD)
tests_unit_test_pipeline_SOURCES = tests/unit/test_pipeline.c tests/unit/helpers.c \
	tests/unit/helpers.h
tests_unit_test_pipeline_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_pipeline_LDADD = $(UNIT_LDADD)
tests_unit_test_registry_SOURCES = tests/unit/test_registry.c tests/unit/helpers.c \
	tests/unit/helpers.h
tests_unit_test_registry_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_registry_LDADD = $(UNIT_LDADD)
tests_unit_test_job_SOURCES = tests/unit/test_job.c tests/unit/helpers.c tests/unit/helpers.h
tests_unit_test_job_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_job_LDADD = $(UNIT_LDADD)
tests_unit_test_runner_SOURCES = tests/unit/test_runner.c tests/unit/helpers.c tests/unit/helpers.h
tests_unit_test_runner_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_runner_LDADD = $(UNIT_LDADD)
# The services table plugins call (templates, secrets, progress, cancel).
tests_unit_test_services_SOURCES = tests/unit/test_services.c tests/unit/helpers.c \
	tests/unit/helpers.h
tests_unit_test_services_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_services_LDADD = $(UNIT_LDADD)
# The child-process runner behind svc->spawn.
tests_unit_test_proc_SOURCES = tests/unit/test_proc.c
tests_unit_test_proc_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_proc_LDADD = $(UNIT_LDADD)
# Lua hooks, run on the example hooks in lua/.
tests_unit_test_hooks_SOURCES = tests/unit/test_hooks.c
tests_unit_test_hooks_CPPFLAGS = $(AM_CPPFLAGS) -DVG_TOP_SRCDIR='"$(abs_top_srcdir)"'
tests_unit_test_hooks_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(LUA_CFLAGS)
tests_unit_test_hooks_LDADD = $(UNIT_LDADD)
endif

# End-to-end: the engine and its commands as a user drives them. Lua hooks
# on tests/e2e/hooks/*.cfg through `vidgen run`/`vidgen check`, and the
# daemon serving jobs beside misbehaving hooks; `vidgen render` and the
# repair loop are in plugins/manim/local.mk, beside the renderer they need.
TESTS += tests/e2e/engine.sh tests/e2e/question_hook.sh \
	tests/e2e/hooks_run.sh tests/e2e/hooks_serve.sh tests/e2e/hooks_orphans.sh
EXTRA_DIST += tests/e2e/engine.sh tests/e2e/replay \
	tests/e2e/question_hook.sh tests/e2e/qhook \
	tests/e2e/hooks_run.sh tests/e2e/hooks_serve.sh tests/e2e/hooks_orphans.sh tests/e2e/hooks
# `vidgen run`'s progress bar on a pty, and plain lines on a pipe.
TESTS += tests/e2e/run_tty.sh
EXTRA_DIST += tests/e2e/run_tty.sh

include core/cloud/local.mk
include core/serve/local.mk

# bench/hooks/run.sh: the cost of a hook call (built on demand only).
EXTRA_PROGRAMS += bench/hooks/calls
bench_hooks_calls_SOURCES = bench/hooks/calls.c
bench_hooks_calls_CFLAGS = $(libvgcore_la_CFLAGS)
bench_hooks_calls_LDADD = libvgcore.la
