#!/bin/sh
# The daemon's API, crash, reload and limits tests again with
# the job store on PostgreSQL: a throw-away server (tests/pg_server.sh) and
# a database of its own for each daemon (serve_lib.store_for). TAP, one
# stream: the scripts' checks numbered on.
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
if ! command -v python3 >/dev/null 2>&1; then
	echo "1..0 # SKIP python3 is not installed"
	exit 0
fi
"$top_srcdir/tests/pg_server.sh" run python3 "$here/serve_tap_join.py" \
	"$here/serve_store_url.py" "$here/serve_api.py" "$here/serve_crash.py" \
	"$here/serve_reload.py" "$here/serve_limits.py"
rc=$?
if [ "$rc" = 77 ]; then
	echo "1..0 # SKIP no PostgreSQL server binaries (install-deps installs postgresql)"
	exit 0
fi
exit "$rc"
