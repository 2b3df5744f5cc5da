# `vidgen serve`: the HTTP daemon, its status cache, its listening sockets,
# its fair-share client table, its job store (SQLite and PostgreSQL
# backends), the serve command and their tests.
libvgcore_la_SOURCES += core/serve/store.c core/serve/store.h core/serve/store_impl.h \
	core/serve/store_sqlite.c core/serve/store_pg.c core/serve/lease.c core/serve/lease.h \
	core/serve/status_cache.c core/serve/status_cache.h \
	core/serve/server.c core/serve/server.h \
	core/serve/listen.c core/serve/listen.h \
	core/serve/openapi.c core/serve/openapi.h \
	core/serve/clients.c core/serve/clients.h
vidgen_SOURCES += core/serve/cmd_serve.c

# The OpenAPI document (doc/openapi.yaml) is converted to JSON when vidgen is
# built and embedded in the daemon, which serves it at /api/v1/openapi.json:
# no YAML parser at run time.
nodist_libvgcore_la_SOURCES = core/serve/openapi_spec.c
CLEANFILES += core/serve/openapi_spec.c
EXTRA_DIST += doc/openapi.yaml scripts/openapi_embed.py
core/serve/openapi_spec.c: $(srcdir)/doc/openapi.yaml $(srcdir)/scripts/openapi_embed.py
	$(AM_V_GEN)$(MKDIR_P) core/serve && \
		$(PYTHON3) $(srcdir)/scripts/openapi_embed.py $(srcdir)/doc/openapi.yaml $@

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_store tests/unit/test_store_pg tests/unit/test_lease \
	tests/unit/test_status_cache tests/unit/test_server \
	tests/unit/test_listen tests/unit/test_openapi tests/unit/test_clients
TESTS += tests/unit/test_store tests/unit/store_contract_pg.sh tests/unit/test_store_pg \
	tests/unit/test_lease \
	tests/unit/test_status_cache tests/unit/test_server \
	tests/unit/test_listen tests/unit/test_openapi tests/unit/test_clients
# The store's contract: on SQLite here, on PostgreSQL by test_store_pg.sh
# (the same binary, a server's URL in $VIDGEN_TEST_PG).
tests_unit_test_store_SOURCES = tests/unit/test_store.c tests/unit/pg_helpers.c \
	tests/unit/pg_helpers.h
tests_unit_test_store_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(SQLITE_CFLAGS) $(LIBPQ_CFLAGS)
tests_unit_test_store_LDADD = libvgcore.la $(CMOCKA_LIBS) $(SQLITE_LIBS) $(LIBPQ_LIBS)
EXTRA_DIST += tests/unit/store_contract_pg.sh tests/pg_server.sh
# What the PostgreSQL backend adds: migrations, secrets, a server restart.
tests_unit_test_store_pg_SOURCES = tests/unit/test_store_pg.c tests/unit/pg_helpers.c \
	tests/unit/pg_helpers.h
tests_unit_test_store_pg_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(LIBPQ_CFLAGS)
tests_unit_test_store_pg_LDADD = libvgcore.la $(CMOCKA_LIBS) $(LIBPQ_LIBS)
# A worker's lease table on a PostgreSQL store of its own.
tests_unit_test_lease_SOURCES = tests/unit/test_lease.c tests/unit/pg_helpers.c \
	tests/unit/pg_helpers.h
tests_unit_test_lease_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(LIBPQ_CFLAGS)
tests_unit_test_lease_LDADD = libvgcore.la $(CMOCKA_LIBS) $(LIBPQ_LIBS)
# The status cache alone, threads included (its locking contract).
tests_unit_test_status_cache_SOURCES = tests/unit/test_status_cache.c
tests_unit_test_status_cache_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_status_cache_LDADD = libvgcore.la $(CMOCKA_LIBS)
tests_unit_test_server_SOURCES = tests/unit/test_server.c
tests_unit_test_server_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(JANSSON_CFLAGS) $(MHD_CFLAGS)
tests_unit_test_server_LDADD = libvgcore.la $(CMOCKA_LIBS)
tests_unit_test_openapi_SOURCES = tests/unit/test_openapi.c tests/unit/helpers.c \
	tests/unit/helpers.h
tests_unit_test_openapi_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(JANSSON_CFLAGS) \
	$(LIBCONFIG_CFLAGS)
tests_unit_test_openapi_LDADD = libvgcore.la $(CMOCKA_LIBS)
tests_unit_test_listen_SOURCES = tests/unit/test_listen.c
tests_unit_test_listen_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_listen_LDADD = libvgcore.la $(CMOCKA_LIBS)
tests_unit_test_clients_SOURCES = tests/unit/test_clients.c
tests_unit_test_clients_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_clients_LDADD = libvgcore.la $(CMOCKA_LIBS)
endif

# End-to-end over real HTTP against `vidgen serve` with replay pipelines.
SERVE_E2E = tests/e2e/serve_api.sh tests/e2e/serve_crash.sh tests/e2e/serve_cors.sh \
	tests/e2e/serve_openapi.sh tests/e2e/serve_reload.sh tests/e2e/deploy_systemd.sh \
	tests/e2e/serve_limits.sh tests/e2e/serve_pg.sh tests/e2e/serve_cluster.sh \
	tests/e2e/serve_artifacts.sh
TESTS += $(SERVE_E2E)
EXTRA_DIST += $(SERVE_E2E) tests/e2e/serve_store_url.py tests/e2e/serve_tap_join.py \
	tests/e2e/serve_cluster.py tests/e2e/serve_artifacts.py \
	tests/e2e/serve_api.py tests/e2e/serve_crash.py tests/e2e/serve_lib.py tests/e2e/serve_limits.py \
	tests/e2e/serve_openapi.py \
	tests/e2e/serve_reload.py tests/e2e/deploy_systemd.py tests/e2e/deploy_harden.sh \
	contrib/systemd/vidgen.service contrib/systemd/vidgen.env contrib/systemd/vidgen.sysusers \
	contrib/systemd/vidgen.tmpfiles \
	tests/e2e/serve \
	bench/api/run.sh bench/api/fill.py bench/api/create.lua bench/api/status.lua \
	bench/queue/run.sh bench/queue/one.cfg bench/queue/seven.cfg bench/queue/claim.sql \
	bench/artifacts/run \
	bench/api/report.lua
