#!/usr/bin/env bash
# bench/queue/run.sh: jobs per second through the shared PostgreSQL queue.
# For the one-stage and the seven-stage pipeline of an instant plugin
# (one.cfg, seven.cfg) and 1, 2 and 4 workers (`vidgen worker` processes of
# one job at a time), JOBS jobs are inserted at once and timed until the
# last one finished; the workers' /metrics give the claim latency (p50, p99
# of the slowest worker) and, per job, the round trips to the server
# (trips: statements waited for, and batches, each sent as one pipeline)
# and the writer's transactions (batches; a claim made alone, outside a
# batch, commits too and counts in trips only). pgbench's transaction is
# four statements, each a round trip, and one commit. Beside them, pgbench runs the same claim and the
# job's end (claim.sql) with 1, 2 and 4 clients on the same server: the
# practical limit. After each run: no job lost (all completed) or doubled
# (each claimed once).
#
#   bench/queue/run.sh [path/to/vidgen]      (default: ./vidgen, built with
#                                             `make check` for testplug)
#   JOBS=400 PGBENCH_SECONDS=10 bench/queue/run.sh
#   PIPELINES=seven WORKERS=4 bench/queue/run.sh   (some of the runs only)
#
# The server is a throw-away one (tests/pg_server.sh: fsync off, a Unix
# socket), and the job folders are on tmpfs (/dev/shm; DATA=DIR for another
# place): the engine fsyncs each file of a job folder, a disk's cost that is
# no part of the queue's.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
VIDGEN=$(realpath "${1:-${VIDGEN:-./vidgen}}")
JOBS=${JOBS:-400}
PGBENCH_SECONDS=${PGBENCH_SECONDS:-10}
build=$(dirname "$VIDGEN")
export VIDGEN_PLUGIN_PATH=${VIDGEN_PLUGIN_PATH:-$build/plugins/.libs}
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
PSQL="$PG_BIN/psql -X -q -A -t"

[ -x "$VIDGEN" ] || { echo "bench: no vidgen at $VIDGEN (build first)" >&2; exit 1; }
[ -f "$build/tests/.libs/testplug.so" ] || {
	echo "bench: no $build/tests/.libs/testplug.so (make check builds it)" >&2
	exit 1
}

DATA=${DATA:-$([ -d /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}")}
tmp=$(mktemp -d "$DATA/vidgen-queue.XXXXXX")
pgdir=$(mktemp -d /tmp/vg-pg.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	"$src/tests/pg_server.sh" kill "$pgdir" >/dev/null 2>&1 || true
	rm -rf "$tmp" "$pgdir"
}
trap cleanup EXIT
server=$("$src/tests/pg_server.sh" start "$pgdir")

# start_workers N PIPELINE DB: N workers, their ports in $ports.
start_workers() {
	ports=()
	pids=()
	for i in $(seq 1 "$1"); do
		out="$tmp/w$i.out"
		: >"$out"
		MAX_CONCURRENT_VIDEOS=1 VIDGEN_LEASE_MS=20000 "$VIDGEN" worker -p "$2" \
			-l 127.0.0.1:0 --db "$3" --data-dir "$tmp/data" \
			--plugin-dir "$build/tests/.libs" >"$out" 2>"$tmp/w$i.err" &
		pids+=($!)
	done
	for i in $(seq 1 "$1"); do
		for _ in $(seq 1 200); do
			grep -q listening "$tmp/w$i.out" && break
			sleep 0.05
		done
		ports+=("$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/w$i.out")")
	done
}

stop_workers() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	pids=()
}

insert_jobs() { # DB N
	$PSQL -d "$1" -c "INSERT INTO jobs(id, created_at, question, model, voice, status,
	  progress, message) SELECT gen_random_uuid()::text,
	  to_char(now() AT TIME ZONE 'utc', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
	  'bench question number ' || g, 'claude-4-sonnet', 'Joanna', 'queued', 0,
	  'Video generation started' FROM generate_series(1, $2) g"
}

# wait_done DB: until no job is unfinished (at most 120 s), asking every
# 20 ms on one psql session: a psql and a server backend started for each
# question would take the CPU the workers and the server share. The
# question stops at the first unfinished job (counting them all took 4%
# of the CPU).
wait_done() {
	local left=
	coproc POLL { $PSQL -d "$1"; }
	for _ in $(seq 1 6000); do
		echo "SELECT count(*) FROM (SELECT 1 FROM jobs WHERE NOT finished LIMIT 1) j;" >&"${POLL[1]}"
		read -r -u "${POLL[0]}" left
		[ "$left" = 0 ] && break
		sleep 0.02
	done
	eval "exec ${POLL[1]}>&-"
	wait "${POLL_PID:-}" 2>/dev/null || true
}

# check DB N: "ok" or what is wrong (lost: not completed; doubled: claimed twice).
check() {
	$PSQL -d "$1" -c "SELECT CASE WHEN count(*) FILTER (WHERE status = 'completed') = $2
	  AND count(*) FILTER (WHERE attempts <> 1) = 0 THEN 'ok' ELSE
	  'LOST ' || ($2 - count(*) FILTER (WHERE status = 'completed')) || ', DOUBLED ' ||
	  count(*) FILTER (WHERE attempts > 1) END FROM jobs"
}

# metric_sum NAME: the sum over the workers of the counter NAME.
metric_sum() {
	for port in "${ports[@]}"; do
		curl -s "http://127.0.0.1:$port/metrics" | sed -n "s/^$1 //p"
	done | awk '{ n += $1 } END { printf "%d", n }'
}

# claim_quantile Q: the largest of the workers' claim-latency quantile Q, in ms.
claim_quantile() {
	for port in "${ports[@]}"; do
		curl -s "http://127.0.0.1:$port/metrics" |
			sed -n "s/^vidgen_claim_seconds{quantile=\"$1\"} //p"
	done | sort -g | tail -n 1 | awk '{ printf "%.2f", $1 * 1000 }'
}

printf '%-26s %9s %9s %9s %7s %7s %s\n' "run" "jobs/s" "claim p50" "claim p99" "trips" \
	"batches" "check"
n=0
for pipeline in ${PIPELINES:-one seven}; do
	for k in ${WORKERS:-1 2 4}; do
		n=$((n + 1))
		db=$("$src/tests/pg_server.sh" createdb "$server" "queue$n")
		start_workers "$k" "$here/$pipeline.cfg" "$db"
		trips0=$(metric_sum vidgen_store_round_trips_total)
		batches0=$(metric_sum vidgen_store_batches_total)
		t0=$(date +%s.%N)
		insert_jobs "$db" "$JOBS"
		wait_done "$db"
		t1=$(date +%s.%N)
		p50=$(claim_quantile 0.5)
		p99=$(claim_quantile 0.99)
		trips=$(($(metric_sum vidgen_store_round_trips_total) - trips0))
		batches=$(($(metric_sum vidgen_store_batches_total) - batches0))
		stop_workers
		rate=$(echo "$JOBS $t0 $t1" | awk '{ printf "%.0f", $1 / ($3 - $2) }')
		printf '%-26s %9s %7s ms %7s ms %7s %7s %s\n' "$pipeline-stage, $k worker(s)" \
			"$rate" "$p50" "$p99" "$(echo "$trips $JOBS" | awk '{ printf "%.2f", $1 / $2 }')" \
			"$(echo "$batches $JOBS" | awk '{ printf "%.2f", $1 / $2 }')" \
			"$(check "$db" "$JOBS")"
	done
done

# pgbench on the same server and schema (made by a worker started once).
n=$((n + 1))
db=$("$src/tests/pg_server.sh" createdb "$server" "queue$n")
start_workers 1 "$here/one.cfg" "$db"
stop_workers
for c in 1 2 4; do
	$PSQL -d "$db" -c "TRUNCATE jobs"
	insert_jobs "$db" 200000
	tps=$("$PG_BIN/pgbench" -n -f "$here/claim.sql" -c "$c" -j "$c" -T "$PGBENCH_SECONDS" "$db" \
		2>&1 | sed -n 's/^tps = \([0-9.]*\) .*/\1/p')
	done_n=$($PSQL -d "$db" -c "SELECT count(*) FROM jobs WHERE finished")
	doubled=$($PSQL -d "$db" -c "SELECT count(*) FROM jobs WHERE attempts > 1")
	printf '%-26s %9.0f %9s %9s %7s %7s %s\n' "pgbench claim+end, $c client(s)" "$tps" "" "" \
		4 1 "$([ "$doubled" = 0 ] && echo ok || echo "DOUBLED $doubled") ($done_n done)"
done
