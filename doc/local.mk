# The documentation: the user's references and guides, the plugin author's
# guide (plugins.md) and the contributor's (hacking.md).
EXTRA_DIST += doc/api.md doc/cloud.md doc/deploy.md doc/hacking.md doc/hooks.md \
	doc/narration.md doc/performance.md doc/pipeline.md doc/plugins.md doc/render.md \
	doc/web.md
