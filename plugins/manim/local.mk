# manim: the sandboxed renderer plugin and the Python helpers it gives
# scripts (installed under $(datadir)/vidgen/python; found in the source
# tree when vidgen runs uninstalled).
plugin_LTLIBRARIES += plugins/manim.la
plugins_manim_la_SOURCES = plugins/manim/manim.c \
	plugins/manim/bomb_watch.c plugins/manim/bomb_watch.h \
	plugins/manim/poller.c plugins/manim/poller.h
plugins_manim_la_CPPFLAGS = $(PLUGIN_CPPFLAGS) -DVG_DATADIR='"$(datadir)/vidgen"'
plugins_manim_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_manim_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) -pthread \
	-DVG_MANIM_SRCDIR='"$(abs_top_srcdir)/plugins/manim/python"'
plugins_manim_la_LIBADD = plugins/libvgplugin.la $(JANSSON_LIBS) -ldl -lm -lpthread

vgpythondir = $(datadir)/vidgen/python
dist_vgpython_DATA = plugins/manim/python/vidgen_narration.py \
	plugins/manim/python/vidgen_check.py plugins/manim/python/vidgen_render.py \
	plugins/manim/python/vidgen_slices.py plugins/manim/python/vidgen_frames.py \
	plugins/manim/python/vidgen_caches.py plugins/manim/python/vidgen_hash.py

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_manim
TESTS += tests/unit/test_manim
tests_unit_test_manim_SOURCES = tests/unit/test_manim.c plugins/manim/bomb_watch.c \
	plugins/manim/poller.c \
	$(PLUGIN_TEST_SOURCES)
tests_unit_test_manim_CFLAGS = $(plugins_manim_la_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_manim_LDADD = $(PLUGIN_TEST_LDADD) -lm -lpthread
endif

# End-to-end: the static check, the sandbox (as root and as nobody; the host
# files it must not show), `vidgen render`, the repair loop through `vidgen
# run`, the offline demo, and the layout check (warn, repair, the demo's
# scripts) with live progress.
RENDER_E2E = tests/e2e/render_check.sh tests/e2e/render_sandbox.sh \
	tests/e2e/render_nonroot.sh tests/e2e/render_files.sh tests/e2e/render_cmd.sh tests/e2e/render_repair.sh \
	tests/e2e/render_demo.sh tests/e2e/render_layout.sh tests/e2e/render_segments.sh \
	tests/e2e/render_stall.sh tests/e2e/render_quality.sh tests/e2e/render_cache.sh \
	tests/e2e/render_slices.sh tests/e2e/render_scenes.sh tests/e2e/render_captions.sh \
	tests/e2e/render_caches.sh tests/e2e/render_hash.sh \
	tests/e2e/render_warm.sh
TESTS += $(RENDER_E2E)
EXTRA_DIST += $(RENDER_E2E) tests/e2e/render
