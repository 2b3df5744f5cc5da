# s3: Amazon S3 / S3-compatible store plugin (see doc/cloud.md).
plugin_LTLIBRARIES += plugins/s3.la
plugins_s3_la_SOURCES = plugins/s3/s3.c
plugins_s3_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_s3_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_s3_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
plugins_s3_la_LIBADD = plugins/libvgplugin.la $(JANSSON_LIBS)

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_s3
TESTS += tests/unit/test_s3
tests_unit_test_s3_SOURCES = tests/unit/test_s3.c $(PLUGIN_TEST_SOURCES)
tests_unit_test_s3_CFLAGS = $(PLUGIN_TEST_CFLAGS)
tests_unit_test_s3_LDADD = $(PLUGIN_TEST_LDADD)
endif
