# Every bundled plugin: one include per plugin folder, each compiled with
# PLUGIN_CPPFLAGS: the ABI header and nothing of core/, so "plugins see only
# the ABI" is kept by the build itself.
PLUGIN_CPPFLAGS = -D_GNU_SOURCE -I$(top_srcdir)/include

# Code several plugins share, compiled once (PIC) and linked into the
# plugins that use it; -export-symbols-regex keeps it out of their exports.
noinst_LTLIBRARIES += plugins/libvgplugin.la
plugins_libvgplugin_la_SOURCES = \
	plugins/common/prompt_file.c plugins/common/prompt_file.h \
	plugins/common/model_call.c plugins/common/model_call.h \
	plugins/common/narration.c plugins/common/narration.h \
	plugins/common/aws_region.c plugins/common/aws_region.h \
	plugins/common/aws_error.c plugins/common/aws_error.h \
	plugins/common/url.c plugins/common/url.h \
	plugins/common/s3_addr.c plugins/common/s3_addr.h \
	plugins/common/usage_report.c plugins/common/usage_report.h \
	plugins/common/captions.c plugins/common/captions.h \
	plugins/common/companions.c plugins/common/companions.h
plugins_libvgplugin_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_libvgplugin_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
plugins_libvgplugin_la_LIBADD = $(JANSSON_LIBS) -lm

# A plugin's unit test (tests/unit/test_<name>.c) compiles the plugin's
# source in and runs it against the one fake services table,
# tests/unit/svc_mock.c: no job runner and no network; instances are filled
# by the real settings engine from libvgcore.
PLUGIN_TEST_SOURCES = tests/unit/svc_mock.c tests/unit/svc_mock.h
PLUGIN_TEST_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(JANSSON_CFLAGS)
PLUGIN_TEST_LDADD = plugins/libvgplugin.la libvgcore.la $(CMOCKA_LIBS) $(JANSSON_LIBS)

# The captions code of plugins/common, on its own; its URL rules too.
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_captions tests/unit/test_url
TESTS += tests/unit/test_captions tests/unit/test_url
tests_unit_test_url_SOURCES = tests/unit/test_url.c
tests_unit_test_url_CPPFLAGS = $(PLUGIN_CPPFLAGS)
tests_unit_test_url_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_url_LDADD = plugins/libvgplugin.la $(CMOCKA_LIBS) $(JANSSON_LIBS)
tests_unit_test_captions_SOURCES = tests/unit/test_captions.c
tests_unit_test_captions_CPPFLAGS = $(PLUGIN_CPPFLAGS)
tests_unit_test_captions_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_captions_LDADD = plugins/libvgplugin.la $(CMOCKA_LIBS) $(JANSSON_LIBS)
endif

include plugins/replay/local.mk
include plugins/file/local.mk
include plugins/espeak/local.mk
include plugins/manim/local.mk
include plugins/bedrock/local.mk
include plugins/openai/local.mk
include plugins/polly/local.mk
include plugins/s3/local.mk
