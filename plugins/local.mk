# Every bundled plugin: one include per plugin folder.
include plugins/replay/local.mk
include plugins/file/local.mk
include plugins/espeak/local.mk
