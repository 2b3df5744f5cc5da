# Rendering support in the engine: the child-process runner behind
# svc->spawn, the `vidgen render` command, and their tests.
libvgcore_la_SOURCES += core/proc.c core/proc.h core/cmd_render.c

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_proc
TESTS += tests/unit/test_proc
tests_unit_test_proc_SOURCES = tests/unit/test_proc.c
tests_unit_test_proc_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_proc_LDADD = libvgcore.la $(CMOCKA_LIBS)
endif

# End-to-end: the static check, the sandbox, `vidgen render`, the repair
# loop through `vidgen run`, and the offline demo.
TESTS += tests/e2e/render_check.sh tests/e2e/render_sandbox.sh tests/e2e/render_nonroot.sh tests/e2e/render_files.sh \
	tests/e2e/render_cmd.sh tests/e2e/render_repair.sh tests/e2e/render_demo.sh
EXTRA_DIST += tests/e2e/render_check.sh tests/e2e/render_sandbox.sh tests/e2e/render_nonroot.sh tests/e2e/render_files.sh \
	tests/e2e/render_cmd.sh tests/e2e/render_repair.sh tests/e2e/render_demo.sh \
	tests/e2e/render_repair.cfg tests/e2e/render_answers
