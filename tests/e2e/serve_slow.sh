#!/bin/sh
# Slow clients (tests/e2e/serve_slow.py): 2000 slowloris connections do not
# stop the daemon answering another client; p50/p99 printed. TAP.
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v python3 >/dev/null 2>&1; then
	echo "1..1"
	echo "ok 1 # SKIP python3 is not installed"
	exit 0
fi
cd "$here" && exec python3 "$here/serve_slow.py"
