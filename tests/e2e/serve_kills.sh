#!/bin/sh
# Random SIGKILLs of `vidgen serve` with jobs running (tests/e2e/serve_kills.py):
# nothing is lost and nothing runs twice. VIDGEN_KILLS sets the count. TAP.
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v python3 >/dev/null 2>&1; then
	echo "1..1"
	echo "ok 1 # SKIP python3 is not installed"
	exit 0
fi
cd "$here" && exec python3 "$here/serve_kills.py"
