# file: keeps the finished video in a local folder (store stage).
plugin_LTLIBRARIES += plugins/file.la
plugins_file_la_SOURCES = plugins/file/file.c
plugins_file_la_LDFLAGS = $(PLUGIN_LDFLAGS)
