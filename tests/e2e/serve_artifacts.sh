#!/bin/sh
# Shared artifacts in S3 (tests/e2e/serve_artifacts.py): workers without a
# shared folder resume each other's jobs from moto, S3 outages, S3 errors.
# A throw-away PostgreSQL server (tests/pg_server.sh) and the test venv's
# Python (moto, boto3: scripts/install-deps.sh). TAP.
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
venv_py=${VIDGEN_TEST_VENV:-/opt/vidgen/testvenv}/bin/python
if ! "$venv_py" -c 'import moto, boto3' 2>/dev/null; then
	echo "1..0 # SKIP no test venv with moto at $venv_py (scripts/install-deps.sh)"
	exit 0
fi
"$top_srcdir/tests/pg_server.sh" run "$venv_py" "$here/serve_artifacts.py"
rc=$?
if [ "$rc" = 77 ]; then
	echo "1..0 # SKIP no PostgreSQL server binaries (install-deps installs postgresql)"
	exit 0
fi
exit "$rc"
