#!/bin/sh
# `vidgen serve` crash and restart (tests/e2e/serve_crash.py): kill -9 mid-job,
# restart, no model called twice; 202 durable; SIGTERM; retention. TAP.
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v python3 >/dev/null 2>&1; then
	echo "1..1"
	echo "ok 1 # SKIP python3 is not installed"
	exit 0
fi
exec python3 "$here/serve_crash.py"
