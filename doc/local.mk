# The documentation, as a whole tree in the tarball: the user's references
# and guides, the plugin author's guide (plugins.md), the contributor's
# (hacking.md), and the man pages' sources.
EXTRA_DIST += doc

# Man pages, vidgen(1) and vidgen-pipeline(5): doc/*.in with the configured
# version and folders filled in. Each '/' of a folder is followed by \: (a
# place groff may break a line), so that a long prefix renders without a
# warning. The markers are written [@]name[@] so that configure leaves them
# alone. tests/e2e/man.sh renders and checks the pages.
man_MANS = doc/vidgen.1 doc/vidgen-pipeline.5
CLEANFILES += $(man_MANS)
vg_man_dir = $(subst /,/\\:,$(1))
vg_man_edit = sed \
	-e 's|[@]VERSION[@]|$(VERSION)|g' \
	-e 's|[@]pipelinedir[@]|$(call vg_man_dir,$(pipelinedir))|g' \
	-e 's|[@]plugindir[@]|$(call vg_man_dir,$(plugindir))|g' \
	-e 's|[@]pkglibdir[@]|$(call vg_man_dir,$(pkglibdir))|g' \
	-e 's|[@]webdir[@]|$(call vg_man_dir,$(datadir)/vidgen/web)|g' \
	-e 's|[@]luadir[@]|$(call vg_man_dir,$(luadir))|g' \
	-e 's|[@]vgpythondir[@]|$(call vg_man_dir,$(vgpythondir))|g' \
	-e 's|[@]includedir[@]|$(call vg_man_dir,$(includedir))|g' \
	-e 's|[@]pkgconfigdir[@]|$(call vg_man_dir,$(pkgconfigdir))|g'
doc/vidgen.1: doc/vidgen.1.in Makefile
	$(AM_V_GEN)$(MKDIR_P) doc && $(vg_man_edit) $(srcdir)/doc/vidgen.1.in >$@.tmp && mv $@.tmp $@
doc/vidgen-pipeline.5: doc/vidgen-pipeline.5.in Makefile
	$(AM_V_GEN)$(MKDIR_P) doc && $(vg_man_edit) $(srcdir)/doc/vidgen-pipeline.5.in >$@.tmp && mv $@.tmp $@
