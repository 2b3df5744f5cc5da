#!/bin/sh
# A data directory on a full filesystem (tests/e2e/serve_disk.py): the job
# fails naming the path, the daemon and the store carry on. Root only. TAP.
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v python3 >/dev/null 2>&1; then
	echo "1..1"
	echo "ok 1 # SKIP python3 is not installed"
	exit 0
fi
cd "$here" && exec python3 "$here/serve_disk.py"
