#!/usr/bin/env bash
# bench/queue/profile.sh: where a job's time goes on the PostgreSQL queue.
# K workers (`vidgen worker`, one job at a time) run JOBS jobs of one
# pipeline of an instant plugin (one.cfg or seven.cfg) on a throw-away
# server with pg_stat_statements loaded, and it prints, per job: the CPU
# the workers and the server spent (from /proc, in ms), the statements the
# server ran (pg_stat_statements: calls per job, mean and total server time
# in microseconds), and the workers' round trips and batches (their
# /metrics). Commits are the batches and the claims made alone.
#
#   bench/queue/profile.sh [path/to/vidgen]     (default ./vidgen, built
#                                                with `make check`)
#   PIPELINE=seven WORKERS=4 JOBS=3000 bench/queue/profile.sh
#
# Job folders on tmpfs (/dev/shm), as in run.sh; progress is polled on one
# psql session (a psql a poll would cost the CPU measured).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
VIDGEN=$(realpath "${1:-${VIDGEN:-./vidgen}}")
JOBS=${JOBS:-2000}
WORKERS=${WORKERS:-1}
PIPELINE=${PIPELINE:-one}
build=$(dirname "$VIDGEN")
export VIDGEN_PLUGIN_PATH=${VIDGEN_PLUGIN_PATH:-$build/plugins/.libs}
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
PSQL="$PG_BIN/psql -X -q -A -t"

[ -x "$VIDGEN" ] || { echo "profile: no vidgen at $VIDGEN (build first)" >&2; exit 1; }
[ -f "$build/tests/.libs/testplug.so" ] || {
	echo "profile: no $build/tests/.libs/testplug.so (make check builds it)" >&2
	exit 1
}

DATA=${DATA:-$([ -d /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}")}
tmp=$(mktemp -d "$DATA/vidgen-profile.XXXXXX")
pgdir=$(mktemp -d /tmp/vg-pg.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	"$src/tests/pg_server.sh" kill "$pgdir" >/dev/null 2>&1 || true
	rm -rf "$tmp" "$pgdir"
}
trap cleanup EXIT
server=$(PG_SERVER_OPTS="-c shared_preload_libraries=pg_stat_statements \
-c pg_stat_statements.track=all" "$src/tests/pg_server.sh" start "$pgdir")
db=$("$src/tests/pg_server.sh" createdb "$server" profile)
$PSQL -d "$db" -c "CREATE EXTENSION pg_stat_statements"

ports=()
for i in $(seq 1 "$WORKERS"); do
	MAX_CONCURRENT_VIDEOS=1 VIDGEN_LEASE_MS=20000 "$VIDGEN" worker -p "$here/$PIPELINE.cfg" \
		-l 127.0.0.1:0 --db "$db" --data-dir "$tmp/data" \
		--plugin-dir "$build/tests/.libs" >"$tmp/w$i.out" 2>"$tmp/w$i.err" &
	pids+=($!)
done
for i in $(seq 1 "$WORKERS"); do
	for _ in $(seq 1 200); do
		grep -q listening "$tmp/w$i.out" && break
		sleep 0.05
	done
	ports+=("$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/w$i.out")")
done

# The CPU ticks (1/100 s) of the given processes.
ticks() {
	local t=0
	for p in "$@"; do
		[ -r "/proc/$p/stat" ] && t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
	done
	echo "$t"
}
server_pids() {
	local pm
	pm=$(head -n 1 "$pgdir/data/postmaster.pid")
	echo "$pm" $(pgrep -P "$pm")
}
metric_sum() {
	for port in "${ports[@]}"; do
		curl -s "http://127.0.0.1:$port/metrics" | sed -n "s/^$1 //p"
	done | awk '{ n += $1 } END { printf "%d", n }'
}
per_job() { echo "$1 $JOBS" | awk '{ printf "%.2f", $1 / $2 }'; }

$PSQL -d "$db" -c "SELECT pg_stat_statements_reset()" >/dev/null
w0=$(ticks "${pids[@]}")
s0=$(ticks $(server_pids))
trips0=$(metric_sum vidgen_store_round_trips_total)
batches0=$(metric_sum vidgen_store_batches_total)
t0=$(date +%s.%N)
$PSQL -d "$db" -c "INSERT INTO jobs(id, created_at, question, model, voice, status, progress,
  message) SELECT gen_random_uuid()::text, 'x', 'profile question ' || g, 'claude-4-sonnet',
  'Joanna', 'queued', 0, 'Video generation started' FROM generate_series(1, $JOBS) g"
coproc POLL { $PSQL -d "$db"; }
for _ in $(seq 1 6000); do
	echo "SELECT count(*) FROM (SELECT 1 FROM jobs WHERE NOT finished LIMIT 1) j;" >&"${POLL[1]}"
	read -r -u "${POLL[0]}" left
	[ "$left" = 0 ] && break
	sleep 0.02
done
eval "exec ${POLL[1]}>&-"
wait "${POLL_PID:-}" 2>/dev/null || true
t1=$(date +%s.%N)
w1=$(ticks "${pids[@]}")
s1=$(ticks $(server_pids))
trips=$(($(metric_sum vidgen_store_round_trips_total) - trips0))
batches=$(($(metric_sum vidgen_store_batches_total) - batches0))

echo "$PIPELINE-stage pipeline, $WORKERS worker(s), $JOBS jobs:" \
	"$(echo "$JOBS $t0 $t1" | awk '{ printf "%.0f", $1 / ($3 - $2) }') jobs/s," \
	"load $(cut -d' ' -f1 /proc/loadavg)"
echo "per job: CPU $(per_job "$((w1 - w0))0") ms in the workers," \
	"$(per_job "$((s1 - s0))0") ms in the server; $(per_job "$trips") round trips," \
	"$(per_job "$batches") batches (the writer's transactions)"
echo "statements per job (calls, server us each, server us per job):"
$PSQL -F ' | ' -d "$db" -c "SELECT to_char(calls::numeric / $JOBS, 'FM990.00'),
  round(mean_exec_time::numeric * 1000, 1), round(total_exec_time::numeric / $JOBS * 1000, 1),
  left(regexp_replace(query, '\s+', ' ', 'g'), 80) FROM pg_stat_statements
  WHERE calls >= $JOBS / 20 AND query NOT LIKE '%pg_stat%' ORDER BY calls DESC"
echo "check: $($PSQL -d "$db" -c "SELECT count(*) FILTER (WHERE status = 'completed') || ' of ' ||
  count(*) || ' completed, ' || count(*) FILTER (WHERE attempts <> 1) || ' claimed other than once'
  FROM jobs")"
