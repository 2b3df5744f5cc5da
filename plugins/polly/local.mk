# polly: Amazon Polly narration plugin (see doc/cloud.md).
plugin_LTLIBRARIES += plugins/polly.la
plugins_polly_la_SOURCES = plugins/polly/polly.c
plugins_polly_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_polly_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_polly_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
plugins_polly_la_LIBADD = plugins/libvgplugin.la $(JANSSON_LIBS)

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_polly
TESTS += tests/unit/test_polly
tests_unit_test_polly_SOURCES = tests/unit/test_polly.c $(PLUGIN_TEST_SOURCES)
tests_unit_test_polly_CFLAGS = $(PLUGIN_TEST_CFLAGS)
tests_unit_test_polly_LDADD = $(PLUGIN_TEST_LDADD)
endif
