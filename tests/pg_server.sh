#!/bin/sh
# A throw-away PostgreSQL server for the tests: a new cluster in its own
# folder, run by an unprivileged user (PostgreSQL refuses root: as root the
# folder goes to `nobody`), listening on a Unix socket in that folder only
# (no TCP), with trust authentication for that socket alone.
#
#   tests/pg_server.sh start DIR   makes DIR, starts the server, prints its URL
#   tests/pg_server.sh stop DIR    stops it (fast); the caller removes DIR
#   tests/pg_server.sh kill DIR    stops it at once (immediate: a crash)
#   tests/pg_server.sh restart DIR starts it again on the same data
#   tests/pg_server.sh run CMD...  a server in a new folder for CMD's run:
#                                  VIDGEN_TEST_PG holds its URL, and the
#                                  server and folder are gone afterwards;
#                                  exits with CMD's status
#
# The URL names the database `postgres`; tests make their own databases
# next to it (tests/pg_server.sh createdb URL NAME prints NAME's URL).
# PG_BINDIR overrides where initdb and pg_ctl are (default: the newest
# /usr/lib/postgresql/*/bin); PG_SERVER_OPTS adds server options ("-c
# name=value ...", e.g. for bench/queue/statements.sh). Exits 77 (automake's skip) if there is none.
set -u

pg_bindir() {
	if [ -n "${PG_BINDIR:-}" ]; then
		echo "$PG_BINDIR"
		return
	fi
	ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

BIN=$(pg_bindir)
if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ]; then
	echo "pg_server.sh: no PostgreSQL server binaries (install the postgresql package)" >&2
	exit 77
fi

# Runs a command as the server's owner: nobody when we are root.
as_owner() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u nobody -- "$@"
	else
		"$@"
	fi
}

url_of() {
	echo "postgresql:///postgres?host=$1&user=vidgen"
}

pg_start() {
	dir=$1
	mkdir -p "$dir" || return 1
	[ "$(id -u)" = 0 ] && chown nobody "$dir"
	chmod 700 "$dir"
	if [ ! -f "$dir/data/PG_VERSION" ]; then
		as_owner "$BIN/initdb" -D "$dir/data" -U vidgen --auth=trust -E UTF8 \
			--no-locale >"$dir/initdb.log" 2>&1 || {
			cat "$dir/initdb.log" >&2
			return 1
		}
	fi
	# listen_addresses='': no TCP at all; the socket lives in DIR. fsync
	# off: the data is thrown away (crash tests kill vidgen, not the OS).
	as_owner "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
		-o "-c listen_addresses='' -k $dir -c fsync=off -c max_connections=200 ${PG_SERVER_OPTS:-}" \
		start >/dev/null 2>&1 || {
		cat "$dir/server.log" >&2
		return 1
	}
	url_of "$dir"
}

pg_stop() {
	as_owner "$BIN/pg_ctl" -D "$1/data" -m "${2:-fast}" -w stop >/dev/null 2>&1
}

# createdb URL NAME: a new empty database NAME on URL's server; prints its URL.
pg_createdb() {
	host=$(echo "$1" | sed -n 's/.*[?&]host=\([^&]*\).*/\1/p')
	"$BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$1" -c "CREATE DATABASE \"$2\"" >/dev/null || return 1
	echo "postgresql:///$2?host=$host&user=vidgen"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
start) pg_start "$1" ;;
stop) pg_stop "$1" fast ;;
kill) pg_stop "$1" immediate ;;
restart) pg_start "$1" >/dev/null ;;
createdb) pg_createdb "$1" "$2" ;;
run)
	dir=$(mktemp -d /tmp/vg-pg.XXXXXX) || exit 1
	if ! VIDGEN_TEST_PG=$(pg_start "$dir"); then
		rm -rf "$dir"
		exit 1
	fi
	export VIDGEN_TEST_PG
	trap 'pg_stop "$dir" immediate; rm -rf "$dir"' EXIT
	trap 'exit 130' INT TERM
	"$@"
	exit $?
	;;
*)
	echo "usage: pg_server.sh start|stop|kill|restart DIR | createdb URL NAME | run CMD..." >&2
	exit 2
	;;
esac
