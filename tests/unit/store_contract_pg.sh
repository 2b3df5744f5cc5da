#!/bin/sh
# The job store's contract (tests/unit/test_store.c) on PostgreSQL: the same
# test binary, run with a throw-away server's URL in $VIDGEN_TEST_PG
# (tests/pg_server.sh), so each test gets a new database on it. TAP.
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
"$top_srcdir/tests/pg_server.sh" run "$top_builddir/tests/unit/test_store"
rc=$?
if [ "$rc" = 77 ]; then
	echo "1..0 # SKIP no PostgreSQL server binaries (install-deps installs postgresql)"
	exit 0
fi
exit "$rc"
