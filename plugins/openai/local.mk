# openai: model stage plugin (see doc/cloud.md).
plugin_LTLIBRARIES += plugins/openai.la
plugins_openai_la_SOURCES = plugins/openai/openai.c
plugins_openai_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_openai_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_openai_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
plugins_openai_la_LIBADD = plugins/libvgplugin.la $(JANSSON_LIBS)

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_openai
TESTS += tests/unit/test_openai
tests_unit_test_openai_SOURCES = tests/unit/test_openai.c $(PLUGIN_TEST_SOURCES)
tests_unit_test_openai_CFLAGS = $(PLUGIN_TEST_CFLAGS)
tests_unit_test_openai_LDADD = $(PLUGIN_TEST_LDADD)
endif
