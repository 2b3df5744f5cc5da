# The pipelines users run and edit, with their prompts and recorded answers:
# a tree of data files, installed whole by install-data-local in Makefile.am.
EXTRA_DIST += pipelines
