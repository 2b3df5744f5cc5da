# Every bundled plugin: one include per plugin folder.

# A cloud plugin's unit test compiles the plugin in with a fake services
# table (tests/unit/cloud_mock.h), so no engine and no network is involved.
CLOUD_PLUGIN_TEST_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(JANSSON_CFLAGS) $(OPENSSL_CFLAGS)
CLOUD_PLUGIN_TEST_LDADD = $(CMOCKA_LIBS) $(JANSSON_LIBS) $(OPENSSL_LIBS)

include plugins/replay/local.mk
include plugins/file/local.mk
include plugins/espeak/local.mk
include plugins/manim/local.mk
include plugins/bedrock/local.mk
include plugins/openai/local.mk
include plugins/polly/local.mk
include plugins/s3/local.mk

# Static helpers several plugins compile in (not a library: each .so stays whole).
EXTRA_DIST += plugins/common/prompt_file.h plugins/common/aws_region.h \
	plugins/common/narration.h plugins/common/model_call.h \
	plugins/common/aws_error.h plugins/common/url.h
