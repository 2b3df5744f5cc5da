# The web page (web/) and its browser test (doc/web.md): Debian's headless
# Chromium, driven by playwright-core, against a real `vidgen serve`.
TESTS += tests/browser/run.sh
EXTRA_DIST += tests/browser/run.sh tests/browser/page.test.js tests/browser/package.json \
	tests/browser/package-lock.json tests/browser/browser.cfg tests/browser/answers
# What the browser test leaves in a build tree apart from its source: the
# npm packages and the screenshots (test-output/).
clean-local: clean-browser-test
clean-browser-test:
	if test '$(abs_top_builddir)' != '$(abs_top_srcdir)'; then \
		rm -rf tests/browser/node_modules tests/browser/package.json \
			tests/browser/package-lock.json; fi
	rm -rf test-output
.PHONY: clean-browser-test
