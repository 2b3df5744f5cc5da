#!/bin/sh
# `vidgen serve` end to end over real HTTP (tests/e2e/serve_api.py): the API
# of doc/api.md, input rules, list, cancel, events, media, access. TAP.
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v python3 >/dev/null 2>&1; then
	echo "1..1"
	echo "ok 1 # SKIP python3 is not installed"
	exit 0
fi
exec python3 "$here/serve_api.py"
