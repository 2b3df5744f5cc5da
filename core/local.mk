# The engine: a convenience library (linked into vidgen and the unit tests)
# and the vidgen executable.
noinst_LTLIBRARIES += libvgcore.la
libvgcore_la_SOURCES = \
	core/util.c core/util.h \
	core/log.c core/log.h \
	core/loader.c core/loader.h \
	core/config.c core/config.h \
	core/job.c core/job.h \
	core/runner.c core/runner.h \
	core/services.c core/services.h \
	core/sentences.c core/sentences.h
libvgcore_la_CFLAGS = $(AM_CFLAGS) $(LIBCONFIG_CFLAGS) $(JANSSON_CFLAGS) \
	$(CURL_CFLAGS) $(OPENSSL_CFLAGS) $(LUA_CFLAGS) $(MHD_CFLAGS) $(SQLITE_CFLAGS)
libvgcore_la_LIBADD = $(LIBCONFIG_LIBS) $(JANSSON_LIBS) \
	$(LUA_LIBS) $(MHD_LIBS) $(SQLITE_LIBS) -ldl -lm

bin_PROGRAMS += vidgen
vidgen_SOURCES = core/main.c core/cli.h
vidgen_CFLAGS = $(libvgcore_la_CFLAGS)
vidgen_LDADD = libvgcore.la
# Plugins resolve nothing from the executable; no -rdynamic needed.

# Modules owned by other areas add themselves here, one include each.
include core/cloud.mk
include core/serve.mk
include core/render.mk
include core/hooks.mk
