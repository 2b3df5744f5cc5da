# s3: Amazon S3 / S3-compatible store plugin (see doc/cloud.md).
plugin_LTLIBRARIES += plugins/s3.la
plugins_s3_la_SOURCES = plugins/s3/s3.c
plugins_s3_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_s3_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
plugins_s3_la_LIBADD = $(JANSSON_LIBS)
