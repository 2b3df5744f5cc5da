# file: keeps the finished video in a local folder (store stage).
plugin_LTLIBRARIES += plugins/file.la
plugins_file_la_SOURCES = plugins/file/file.c
plugins_file_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_file_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_file_la_LIBADD = plugins/libvgplugin.la

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_file
TESTS += tests/unit/test_file
tests_unit_test_file_SOURCES = tests/unit/test_file.c $(PLUGIN_TEST_SOURCES)
tests_unit_test_file_CFLAGS = $(PLUGIN_TEST_CFLAGS)
tests_unit_test_file_LDADD = $(PLUGIN_TEST_LDADD)
endif
