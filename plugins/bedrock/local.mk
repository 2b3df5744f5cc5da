# bedrock: model stage plugin (see doc/cloud.md).
plugin_LTLIBRARIES += plugins/bedrock.la
plugins_bedrock_la_SOURCES = plugins/bedrock/bedrock.c
plugins_bedrock_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_bedrock_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
plugins_bedrock_la_LIBADD = $(JANSSON_LIBS)
