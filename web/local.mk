# The web page vidgen serve hands out (doc/web.md), tested by tests/browser/.
webdir = $(datadir)/vidgen/web
dist_web_DATA = web/index.html web/app.js web/style.css web/icon.svg
