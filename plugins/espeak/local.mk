# espeak: offline narration plugin (espeak-ng).
plugin_LTLIBRARIES += plugins/espeak.la
plugins_espeak_la_SOURCES = plugins/espeak/espeak.c
plugins_espeak_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_espeak_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_espeak_la_CFLAGS = $(AM_CFLAGS)
plugins_espeak_la_LIBADD = plugins/libvgplugin.la

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_espeak
TESTS += tests/unit/test_espeak
tests_unit_test_espeak_SOURCES = tests/unit/test_espeak.c $(PLUGIN_TEST_SOURCES)
tests_unit_test_espeak_CFLAGS = $(PLUGIN_TEST_CFLAGS)
tests_unit_test_espeak_LDADD = $(PLUGIN_TEST_LDADD)
endif
