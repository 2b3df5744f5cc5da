#!/bin/sh
# The narration cache end to end (tests/e2e/costs/cache.py): warm jobs make
# no TTS call, concurrent jobs see whole files, the size cap holds. TAP.
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v python3 >/dev/null 2>&1; then
	echo "1..1"
	echo "ok 1 # SKIP python3 is not installed"
	exit 0
fi
exec python3 "$here/costs/cache.py"
