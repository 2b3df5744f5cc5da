# Tests: how they run (TAP drivers, valgrind), the plugins built only for
# tests, and the end-to-end scripts that cross sub-systems. Each folder's
# local.mk registers the unit and end-to-end tests of its own modules.
LOG_DRIVER = env AM_TAP_AWK='$(AWK)' $(SHELL) $(top_srcdir)/build-aux/tap-driver.sh
SH_LOG_DRIVER = $(LOG_DRIVER)
TEST_EXTENSIONS = .sh
SH_LOG_COMPILER = $(SHELL)
# Unit tests run under valgrind when VIDGEN_VALGRIND=1 (see tests/valgrind.sh).
LOG_COMPILER = $(SHELL) $(top_srcdir)/tests/valgrind.sh
# top_srcdir is made canonical (distcheck's is build/sub/../..), as vidgen
# prints the real paths the tests compare with.
AM_TESTS_ENVIRONMENT = \
	CMOCKA_MESSAGE_OUTPUT=TAP; export CMOCKA_MESSAGE_OUTPUT; \
	top_srcdir=$$(cd '$(abs_top_srcdir)' && pwd -P); export top_srcdir; \
	top_builddir='$(abs_top_builddir)'; export top_builddir; \
	VIDGEN='$(abs_top_builddir)/vidgen'; export VIDGEN; \
	VIDGEN_PLUGIN_PATH='$(abs_top_builddir)/plugins/.libs:$(abs_top_builddir)/tests/.libs'; \
	export VIDGEN_PLUGIN_PATH;
EXTRA_DIST += tests/valgrind.sh tests/e2e/lib.sh

# A plugin built only for tests: sleeps, fails, counts, checks overlap.
check_LTLIBRARIES += tests/testplug.la
tests_testplug_la_SOURCES = tests/plugins/testplug.c
tests_testplug_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
# -rpath makes libtool build a shared module although it is not installed.
tests_testplug_la_LDFLAGS = $(PLUGIN_LDFLAGS) -rpath /nowhere

# Plugins the loader must refuse, kept in tests/bad/.libs, off the plugin
# path: ABI 99, a duplicate name, no run callback, a short descriptor, a bad
# name, no vidgen_plugin symbol, a settings table that overruns its struct.
check_LTLIBRARIES += tests/bad/badabi.la tests/bad/dupname.la tests/bad/norun.la \
	tests/bad/small.la tests/bad/badname.la tests/bad/nosym.la tests/bad/badtable.la
BAD_PLUGIN_LDFLAGS = -module -avoid-version -shared -rpath /nowhere
tests_bad_badabi_la_SOURCES = tests/plugins/badabi.c
tests_bad_badabi_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
tests_bad_badabi_la_LDFLAGS = $(BAD_PLUGIN_LDFLAGS)
tests_bad_dupname_la_SOURCES = tests/plugins/badabi.c
tests_bad_dupname_la_CPPFLAGS = $(PLUGIN_CPPFLAGS) -DVG_BAD_DUPLICATE
tests_bad_dupname_la_LDFLAGS = $(BAD_PLUGIN_LDFLAGS)
tests_bad_norun_la_SOURCES = tests/plugins/badabi.c
tests_bad_norun_la_CPPFLAGS = $(PLUGIN_CPPFLAGS) -DVG_BAD_NORUN
tests_bad_norun_la_LDFLAGS = $(BAD_PLUGIN_LDFLAGS)
tests_bad_small_la_SOURCES = tests/plugins/badabi.c
tests_bad_small_la_CPPFLAGS = $(PLUGIN_CPPFLAGS) -DVG_BAD_SMALL
tests_bad_small_la_LDFLAGS = $(BAD_PLUGIN_LDFLAGS)
tests_bad_badname_la_SOURCES = tests/plugins/badabi.c
tests_bad_badname_la_CPPFLAGS = $(PLUGIN_CPPFLAGS) -DVG_BAD_NAME
tests_bad_badname_la_LDFLAGS = $(BAD_PLUGIN_LDFLAGS)
tests_bad_badtable_la_SOURCES = tests/plugins/badabi.c
tests_bad_badtable_la_CPPFLAGS = $(PLUGIN_CPPFLAGS) -DVG_BAD_TABLE
tests_bad_badtable_la_LDFLAGS = $(BAD_PLUGIN_LDFLAGS)
tests_bad_nosym_la_SOURCES = tests/plugins/nosym.c
tests_bad_nosym_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
tests_bad_nosym_la_LDFLAGS = $(BAD_PLUGIN_LDFLAGS)

include tests/browser/local.mk
TESTS += tests/e2e/external_plugin.sh
EXTRA_DIST += tests/e2e/external_plugin.sh tests/e2e/external
# make install into a scratch prefix; the installed vidgen, its pipelines by
# name and an out-of-tree plugin. `make installcheck` runs it on $(prefix).
TESTS += tests/e2e/install.sh
EXTRA_DIST += tests/e2e/install.sh
installcheck-local:
	@out=$$(VIDGEN_PREFIX='$(prefix)' VIDGEN_PIPELINEDIR='$(pipelinedir)' \
		VIDGEN_PKGCONFIGDIR='$(pkgconfigdir)' VIDGEN_MANDIR='$(mandir)' \
		top_srcdir='$(abs_top_srcdir)' \
		$(SHELL) $(srcdir)/tests/e2e/install.sh 2>&1); echo "$$out"; \
	! echo "$$out" | grep -Eq '^(not ok|Bail out)'
# The man pages render cleanly and name every option --help prints.
TESTS += tests/e2e/man.sh
EXTRA_DIST += tests/e2e/man.sh
# Hostile inputs (fixed seed) against `vidgen serve` and `vidgen check`.
# The narration cache and usage and cost per job, across the engine, the
# narration and model plugins, the daemon and the protocol fakes.
TESTS += tests/e2e/costs_cache.sh tests/e2e/costs_usage.sh
EXTRA_DIST += tests/e2e/costs_cache.sh tests/e2e/costs_usage.sh tests/e2e/costs
TESTS += tests/e2e/fuzz_inputs.sh
EXTRA_DIST += tests/e2e/fuzz_inputs.sh tests/e2e/fuzz_inputs.py
# Reliability in figures (doc/reliability.md):
# random SIGKILLs of the daemon; its data directory on a full filesystem;
# hostile upstream answers; slow clients.
TESTS += tests/e2e/serve_kills.sh tests/e2e/serve_disk.sh tests/e2e/cloud_hostile.sh \
	tests/e2e/serve_slow.sh
EXTRA_DIST += tests/e2e/serve_kills.sh tests/e2e/serve_kills.py \
	tests/e2e/serve_disk.sh tests/e2e/serve_disk.py tests/e2e/cloud_hostile.sh \
	tests/e2e/serve_slow.sh tests/e2e/serve_slow.py
# The libFuzzer harnesses (tests/fuzz/), built with clang, each run for
# FUZZ_SECONDS (20) under ASan and UBSan after its regression inputs.
TESTS += tests/fuzz/run.sh
EXTRA_DIST += tests/fuzz
