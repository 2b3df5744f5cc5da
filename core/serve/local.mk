# `vidgen serve`: the HTTP daemon, its listening sockets, its SQLite job
# store, the serve command and their tests.
libvgcore_la_SOURCES += core/serve/store.c core/serve/store.h \
	core/serve/server.c core/serve/server.h \
	core/serve/listen.c core/serve/listen.h
vidgen_SOURCES += core/serve/cmd_serve.c

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_store tests/unit/test_server tests/unit/test_listen
TESTS += tests/unit/test_store tests/unit/test_server tests/unit/test_listen
tests_unit_test_store_SOURCES = tests/unit/test_store.c
tests_unit_test_store_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(SQLITE_CFLAGS)
tests_unit_test_store_LDADD = libvgcore.la $(CMOCKA_LIBS)
tests_unit_test_server_SOURCES = tests/unit/test_server.c
tests_unit_test_server_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(JANSSON_CFLAGS) $(MHD_CFLAGS)
tests_unit_test_server_LDADD = libvgcore.la $(CMOCKA_LIBS)
tests_unit_test_listen_SOURCES = tests/unit/test_listen.c
tests_unit_test_listen_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_listen_LDADD = libvgcore.la $(CMOCKA_LIBS)
endif

# End-to-end over real HTTP against `vidgen serve` with replay pipelines.
SERVE_E2E = tests/e2e/serve_api.sh tests/e2e/serve_crash.sh tests/e2e/serve_cors.sh
TESTS += $(SERVE_E2E)
EXTRA_DIST += $(SERVE_E2E) tests/e2e/serve_api.py tests/e2e/serve_crash.py tests/e2e/serve_lib.py \
	tests/e2e/serve_pipeline.cfg tests/e2e/serve_answers \
	bench/api/run.sh bench/api/fill.py bench/api/create.lua bench/api/status.lua \
	bench/api/report.lua doc/api.md doc/performance.md
