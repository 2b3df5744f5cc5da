# espeak: offline narration plugin (espeak-ng).
plugin_LTLIBRARIES += plugins/espeak.la
plugins_espeak_la_SOURCES = plugins/espeak/espeak.c
plugins_espeak_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_espeak_la_CFLAGS = $(AM_CFLAGS)

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_espeak
TESTS += tests/unit/test_espeak
tests_unit_test_espeak_SOURCES = tests/unit/test_espeak.c
tests_unit_test_espeak_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_espeak_LDADD = libvgcore.la $(CMOCKA_LIBS)
endif
