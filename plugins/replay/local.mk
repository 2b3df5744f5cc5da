# replay: plays back recorded model answers, so a pipeline runs offline.
plugin_LTLIBRARIES += plugins/replay.la
plugins_replay_la_SOURCES = plugins/replay/replay.c
plugins_replay_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_replay_la_LDFLAGS = $(PLUGIN_LDFLAGS)

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_replay
TESTS += tests/unit/test_replay
tests_unit_test_replay_SOURCES = tests/unit/test_replay.c $(PLUGIN_TEST_SOURCES)
tests_unit_test_replay_CFLAGS = $(PLUGIN_TEST_CFLAGS)
tests_unit_test_replay_LDADD = $(PLUGIN_TEST_LDADD)
endif
