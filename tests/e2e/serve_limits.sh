#!/bin/sh
# `vidgen serve`'s fair share between clients and its strict edges
# (tests/e2e/serve_limits.py) over real sockets. TAP.
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v python3 >/dev/null 2>&1; then
	echo "1..1"
	echo "ok 1 # SKIP python3 is not installed"
	exit 0
fi
exec python3 "$here/serve_limits.py"
