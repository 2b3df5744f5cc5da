# Every bundled plugin: one include per plugin folder.
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
