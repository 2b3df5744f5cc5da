# openai: model stage plugin (see doc/cloud.md).
plugin_LTLIBRARIES += plugins/openai.la
plugins_openai_la_SOURCES = plugins/openai/openai.c
plugins_openai_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_openai_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
plugins_openai_la_LIBADD = $(JANSSON_LIBS)
