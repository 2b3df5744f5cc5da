#!/bin/sh
# Scale-out (tests/e2e/serve_cluster.py): API nodes and workers sharing a
# throw-away PostgreSQL server (tests/pg_server.sh). TAP.
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
if ! command -v python3 >/dev/null 2>&1; then
	echo "1..0 # SKIP python3 is not installed"
	exit 0
fi
"$top_srcdir/tests/pg_server.sh" run python3 "$here/serve_cluster.py"
rc=$?
if [ "$rc" = 77 ]; then
	echo "1..0 # SKIP no PostgreSQL server binaries (install-deps installs postgresql)"
	exit 0
fi
exit "$rc"
