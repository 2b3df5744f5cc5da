#!/bin/sh
# Usage and cost per job end to end (tests/e2e/costs/usage.py): token
# counts from the fakes in the job record, `vidgen run` and the daemon's
# status, the price table's sum, hostile usage fields, /metrics. TAP.
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v python3 >/dev/null 2>&1; then
	echo "1..1"
	echo "ok 1 # SKIP python3 is not installed"
	exit 0
fi
exec python3 "$here/costs/usage.py"
