# bedrock: model stage plugin (see doc/cloud.md).
plugin_LTLIBRARIES += plugins/bedrock.la
plugins_bedrock_la_SOURCES = plugins/bedrock/bedrock.c
plugins_bedrock_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_bedrock_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_bedrock_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
plugins_bedrock_la_LIBADD = plugins/libvgplugin.la $(JANSSON_LIBS)

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_bedrock
TESTS += tests/unit/test_bedrock
tests_unit_test_bedrock_SOURCES = tests/unit/test_bedrock.c $(PLUGIN_TEST_SOURCES)
tests_unit_test_bedrock_CFLAGS = $(PLUGIN_TEST_CFLAGS)
tests_unit_test_bedrock_LDADD = $(PLUGIN_TEST_LDADD)
endif
