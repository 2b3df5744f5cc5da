# polly: Amazon Polly narration plugin (see doc/cloud.md).
plugin_LTLIBRARIES += plugins/polly.la
plugins_polly_la_SOURCES = plugins/polly/polly.c
plugins_polly_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_polly_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
plugins_polly_la_LIBADD = $(JANSSON_LIBS)
