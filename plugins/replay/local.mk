# replay: plays back recorded model answers, so a pipeline runs offline.
plugin_LTLIBRARIES += plugins/replay.la
plugins_replay_la_SOURCES = plugins/replay/replay.c
plugins_replay_la_LDFLAGS = $(PLUGIN_LDFLAGS)
