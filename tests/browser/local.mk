# The web page (web/) and its browser test (doc/web.md): Debian's headless
# Chromium, driven by playwright-core, against a real `vidgen serve`.
TESTS += tests/browser/run.sh
EXTRA_DIST += tests/browser/run.sh tests/browser/page.test.js tests/browser/package.json \
	tests/browser/package-lock.json tests/browser/browser.cfg tests/browser/answers
