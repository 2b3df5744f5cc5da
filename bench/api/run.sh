#!/usr/bin/env bash
# bench/api/run.sh: the HTTP daemon against nginx on loopback, with wrk
# (2 threads, 64 connections). Prints requests/s, p50/p99 latency and RSS
# side by side for GET .../status (daemon holding JOBS stored jobs vs nginx
# serving the same JSON body as a static file) and POST /api/v1/videos (jobs
# really stored, execution paused with --paused), then checks that every
# answered create survived a kill -9 of the daemon. Status requests cycle
# over a working set of 1,000 random job ids. A PostgreSQL round (a
# throw-away server, tests/pg_server.sh; PG=0 skips it) runs the status
# benchmark again against a daemon on that store.
#
#   bench/api/run.sh [path/to/vidgen]      (default: ./vidgen)
#   DURATION=10 JOBS=10000 ROUNDS=1 bench/api/run.sh
#
# Installs wrk and nginx-light from Debian when missing (needs root or sudo).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
VIDGEN=$(realpath "${1:-${VIDGEN:-./vidgen}}")
DURATION=${DURATION:-10}
JOBS=${JOBS:-10000}
ROUNDS=${ROUNDS:-1}
THREADS=2
CONNS=64
NGINX_PORT=${NGINX_PORT:-18080}
export VIDGEN_PLUGIN_PATH=${VIDGEN_PLUGIN_PATH:-$(dirname "$VIDGEN")/plugins/.libs}

[ -x "$VIDGEN" ] || { echo "bench: no vidgen at $VIDGEN (build first)" >&2; exit 1; }
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
if [ ${#need[@]} -gt 0 ]; then
	SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
	echo "bench: installing ${need[*]}" >&2
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vidgen-bench.XXXXXX")
chmod 755 "$tmp" # nginx's worker runs as another user
pids=()
pgdir=""
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ -n "$pgdir" ]; then
		"$src/tests/pg_server.sh" kill "$pgdir" >/dev/null 2>&1 || true
		rm -rf "$pgdir"
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# start_daemon DIR: starts `vidgen serve --paused` on an ephemeral port;
# sets DPID and DPORT. The benchmark is one client creating jobs as fast as
# it can: the fair-share limits on creates and on the queue are off.
start_daemon() {
	local dir=$1
	mkdir -p "$dir"
	VIDGEN_HTTP_THREADS=${HTTP_THREADS:-} VIDGEN_CREATE_RATE=0 VIDGEN_MAX_QUEUED=0 \
		VIDGEN_QUEUED_PER_CLIENT=0 \
		"$VIDGEN" serve --paused -p "$src/tests/e2e/serve/pipeline.cfg" -l 127.0.0.1:0 \
		--db "${DB:-$dir/jobs.db}" --data-dir "$dir/data" >"$dir/out" 2>"$dir/err" &
	DPID=$!
	pids+=("$DPID")
	for _ in $(seq 100); do
		DPORT=$(sed -n 's|^listening on http://127.0.0.1:\([0-9]*\)$|\1|p' "$dir/out")
		[ -n "$DPORT" ] && return 0
		sleep 0.05
	done
	echo "bench: the daemon did not start:" >&2
	cat "$dir/err" >&2
	exit 1
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
# Anonymous (private) resident memory: RSS less shared-library pages.
anon_kb() { awk '/^RssAnon:/ { print $2 }' "/proc/$1/status"; }

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# Nanoseconds PID's threads have spent runnable but waiting for a CPU
# (the second field of each thread's schedstat).
wait_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ n += $2 } END { printf "%.0f", n }'; }

# "tid run_ns" for each of PID's libmicrohttpd threads.
http_run_ns() {
	local t
	for t in /proc/"$1"/task/*; do
		case $(cat "$t/comm" 2>/dev/null) in MHD*) echo "${t##*/} $(cut -d' ' -f1 "$t/schedstat")" ;; esac
	done
}

# The busiest HTTP thread's share of the HTTP threads' CPU time between two
# http_run_ns listings, in percent (100 with one thread).
http_share() {
	awk 'NR == FNR { a[$1] = $2; next } { d = $2 - a[$1]; t += d; if (d > m) m = d }
	     END { printf "%.0f", (t > 0 ? 100 * m / t : 100) }' "$1" "$2"
}

# CPU seconds (user + system) of this shell's finished children in a file
# written by `times` (run in this shell: in a $(...) subshell it would see
# none of them).
children_cpu() {
	awk 'NR == 2 { for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); s += t[1] * 60 + t[2] } }
	     END { printf "%.3f", s }' "$1"
}

# bench NAME URL PID SCRIPT...: runs wrk (WRK_THREADS threads, default
# THREADS) with the scripts concatenated; prints
#   rps p50_us p99_us requests non2xx errors cpu_us_per_request wait busy share
# cpu_us_per_request is PID's user+system time per request: a figure other
# load on the machine barely moves, unlike requests/s. wait is how many of
# PID's threads were, on average, runnable but without a CPU; busy is the
# CPUs that PID and wrk kept busy together (at most nproc): when it nears
# nproc, the server and the load generator queue for CPUs and that wait
# shows up in the latency tail. share is the busiest libmicrohttpd thread's
# part of the HTTP threads' CPU time, in percent (100 for nginx, whose
# worker has no such threads, and for a daemon with one HTTP thread).
bench() {
	local name=$1 url=$2 pid=$3
	shift 3
	cat "$@" "$here/report.lua" >"$tmp/$name.lua"
	local t0 t1 w0 w1
	t0=$(cpu_ticks "$pid") w0=$(wait_ns "$pid")
	http_run_ns "$pid" >"$tmp/http0"
	times >"$tmp/times0"
	wrk -t"${WRK_THREADS:-$THREADS}" -c$CONNS -d"${DURATION}s" -s "$tmp/$name.lua" "$url" \
		>"$tmp/$name.out" 2>&1
	times >"$tmp/times1"
	t1=$(cpu_ticks "$pid") w1=$(wait_ns "$pid")
	http_run_ns "$pid" >"$tmp/http1"
	local share
	share=$(http_share "$tmp/http0" "$tmp/http1")
	local c0 c1
	c0=$(children_cpu "$tmp/times0") c1=$(children_cpu "$tmp/times1")
	sed -n 's/^RESULT //p' "$tmp/$name.out" |
		awk -v a="$t0" -v b="$t1" -v hz="$(getconf CLK_TCK)" -v w0="$w0" -v w1="$w1" \
		    -v c0="$c0" -v c1="$c1" -v d="$DURATION" -v share="$share" '{
			printf "%s %.1f %.2f %.2f %s\n", $0, $4 ? (b - a) / hz * 1e6 / $4 : 0,
				(w1 - w0) / 1e9 / d, ((b - a) / hz + c1 - c0) / d, share }'
}

ms() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'; }

echo "# vidgen API benchmark: wrk -t$THREADS -c$CONNS -d${DURATION}s, loopback, $(nproc) CPU(s)"
echo "# $(uname -sr), load average: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- 1. Store JOBS jobs through the API. ---------------------------------
start_daemon "$tmp/status"
SPID=$DPID SPORT=$DPORT
python3 "$here/fill.py" "$SPORT" "$JOBS"
stored=$(curl -s "http://127.0.0.1:$SPORT/metrics" | awk '/^vidgen_jobs\{status="queued"\}/ { print $2 }')
python3 -c 'import sqlite3,sys
for (i,) in sqlite3.connect(sys.argv[1]).execute("SELECT id FROM jobs ORDER BY random() LIMIT 1000"):
    print(i)' "$tmp/status/jobs.db" >"$tmp/ids"
export BENCH_IDS=$tmp/ids

# --- 2. nginx serving one status body as a static file. -------------------
mkdir -p "$tmp/nginx/logs"
curl -s "http://127.0.0.1:$SPORT/api/v1/videos/$(head -1 "$tmp/ids")/status" >"$tmp/nginx/status.json"
cat >"$tmp/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
error_log $tmp/nginx/logs/error.log;
pid $tmp/nginx/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  default_type application/json;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / { root $tmp/nginx; try_files /status.json =404; }
  }
}
EOF
"$NGINX" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" &
NPID=$!
pids+=("$NPID")
sleep 0.5
NWORKER=$(pgrep -P "$NPID" | head -1 || true)
NWORKER=${NWORKER:-$NPID}

# --- 3. GET status: daemon vs nginx, ROUNDS times, interleaved. -------------
# rounds NAME_N NAME_D DAEMON_PID DAEMON_PORT: sets best_n and best_d, each
# side's round with the most requests/s.
rounds() {
	local r n d
	best_n="0 0 0 0 0 0 0 0 0 0" best_d="0 0 0 0 0 0 0 0 0 0"
	all_n="" all_d=""
	for r in $(seq "$ROUNDS"); do
		n=$(bench "$1" "http://127.0.0.1:$NGINX_PORT/api/v1/videos/x/status" "$NWORKER" \
			"$here/status.lua")
		d=$(bench "$2" "http://127.0.0.1:$4/" "$3" "$here/status.lua")
		echo "# round $r (wrk -t${WRK_THREADS:-$THREADS}): nginx $n | daemon $d"
		all_n="$all_n $(echo "$n" | awk '{ printf "%.2f", $3 / 1000 }')"
		all_d="$all_d $(echo "$d" | awk '{ printf "%.2f(%s%%)", $3 / 1000, $10 }')"
		if [ "${n%% *}" -gt "${best_n%% *}" ]; then best_n=$n; fi
		if [ "${d%% *}" -gt "${best_d%% *}" ]; then best_d=$d; fi
	done
}
rounds nginx status "$SPID" "$SPORT"
d_rss=$(rss_kb "$SPID") d_anon=$(anon_kb "$SPID")
n_rss=$(rss_kb "$NWORKER") n_anon=$(anon_kb "$NWORKER")
read -r d_rps d_p50 d_p99 d_n d_bad d_err d_cpu d_wait d_busy d_share <<<"$best_d"
read -r n_rps n_p50 n_p99 n_n n_bad n_err n_cpu n_wait n_busy n_share <<<"$best_n"
rounds_n=$all_n rounds_d=$all_d

# The same with one wrk thread against one HTTP thread (the store reopened
# by a daemon with VIDGEN_HTTP_THREADS=1): server and load generator each
# have a CPU, so the latency is the server's own, not the wait for a CPU.
kill "$SPID"
wait "$SPID" 2>/dev/null || true
HTTP_THREADS=1 start_daemon "$tmp/status"
SPID=$DPID
WRK_THREADS=1 rounds nginx1 status1 "$SPID" "$DPORT"
read -r d1_rps d1_p50 d1_p99 d1_n d1_bad d1_err d1_cpu d1_wait d1_busy d1_share <<<"$best_d"
read -r n1_rps n1_p50 n1_p99 n1_n n1_bad n1_err n1_cpu n1_wait n1_busy n1_share <<<"$best_n"
rounds_n1=$all_n rounds_d1=$all_d
kill "$SPID" 2>/dev/null || true

# --- 3b. The same status benchmark on a PostgreSQL store. ------------------
pg_line=""
if [ "${PG:-1}" = 1 ] && pgdir=$(mktemp -d /tmp/vg-pg.XXXXXX) &&
	pgurl=$("$src/tests/pg_server.sh" start "$pgdir"); then
	pgdb=$("$src/tests/pg_server.sh" createdb "$pgurl" bench)
	DB=$pgdb start_daemon "$tmp/pg"
	PPID_=$DPID PPORT=$DPORT
	python3 "$here/fill.py" "$PPORT" "$JOBS"
	PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
	"$PG_BIN/psql" -X -A -t -d "$pgdb" \
		-c "SELECT id FROM jobs ORDER BY random() LIMIT 1000" >"$tmp/ids_pg"
	BENCH_IDS=$tmp/ids_pg rounds nginxpg statuspg "$PPID_" "$PPORT"
	read -r p_rps p_p50 p_p99 p_n p_bad p_err p_cpu p_wait p_busy p_share <<<"$best_d"
	read -r np_rps np_p50 np_p99 _ <<<"$best_n"
	pg_line=$(printf '%s %s %s %s %s' "$p_rps" "$p_p50" "$p_p99" "$np_rps" "$p_bad")
	kill "$PPID_" 2>/dev/null || true
	wait "$PPID_" 2>/dev/null || true
	"$src/tests/pg_server.sh" kill "$pgdir" >/dev/null 2>&1 || true
	rm -rf "$pgdir"
	pgdir=""
fi
kill "$NPID" 2>/dev/null || true

# --- 4. POST: creates really stored, then kill -9 and count. ---------------
start_daemon "$tmp/create"
c=$(bench create "http://127.0.0.1:$DPORT/api/v1/videos" "$DPID" "$here/create.lua")
read -r c_rps c_p50 c_p99 c_n c_bad c_err c_cpu c_wait c_busy c_share <<<"$c"
c_rss=$(rss_kb "$DPID") c_anon=$(anon_kb "$DPID")
# Out of the shell's job table first, so that bash prints no "Killed".
disown "$DPID" 2>/dev/null || true
kill -9 "$DPID"
while kill -0 "$DPID" 2>/dev/null; do sleep 0.05; done
rows=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from jobs").fetchone()[0])' "$tmp/create/jobs.db")
answered=$((c_n - c_bad))

mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
row() { printf '%-38s %10s %7s %7s %10s %8s %6s %6s %7s\n' "$@"; }
echo
row "wrk -t$THREADS -c$CONNS" "requests/s" "p50 ms" "p99 ms" "CPU us/req" "CPU wait" "busy" "RSS MB" "anon MB"
row "nginx (1 worker): static status JSON" "$n_rps" "$(ms "$n_p50")" "$(ms "$n_p99")" "$n_cpu" \
	"$n_wait" "$n_busy" "$(mb "$n_rss")" "$(mb "$n_anon")"
row "vidgen: GET status ($stored jobs)" "$d_rps" "$(ms "$d_p50")" "$(ms "$d_p99")" "$d_cpu" \
	"$d_wait" "$d_busy" "$(mb "$d_rss")" "$(mb "$d_anon")"
row "vidgen: POST /api/v1/videos" "$c_rps" "$(ms "$c_p50")" "$(ms "$c_p99")" "$c_cpu" \
	"$c_wait" "$c_busy" "$(mb "$c_rss")" "$(mb "$c_anon")"
row "wrk -t1 -c$CONNS, one server thread" "" "" "" "" "" "" "" ""
row "nginx (1 worker): static status JSON" "$n1_rps" "$(ms "$n1_p50")" "$(ms "$n1_p99")" "$n1_cpu" \
	"$n1_wait" "$n1_busy" "" ""
row "vidgen (1 HTTP thread): GET status" "$d1_rps" "$(ms "$d1_p50")" "$(ms "$d1_p99")" "$d1_cpu" \
	"$d1_wait" "$d1_busy" "" ""
echo "(CPU wait: the server's threads runnable but without a CPU, on average; busy: CPUs kept"
echo " busy by server and wrk together, of $(nproc).)"
echo "status p99 ms of every round, wrk -t$THREADS: nginx$rounds_n; daemon$rounds_d"
echo "                           wrk -t1: nginx$rounds_n1; daemon$rounds_d1"
echo "(in parentheses: the busiest HTTP thread's share of the HTTP threads' CPU time)"
echo
awk -v d="$d_rps" -v n="$n_rps" -v dc="$d_cpu" -v nc="$n_cpu" 'BEGIN {
	printf "status: daemon/nginx = %.0f%% of the rate; CPU per request %.2fx nginx\n",
		n ? 100 * d / n : 0, nc ? dc / nc : 0 }'
if [ -n "$pg_line" ]; then
	read -r p_rps p_p50 p_p99 np_rps p_bad <<<"$pg_line"
	echo "status on PostgreSQL ($JOBS jobs, 1,000 ids): $p_rps requests/s," \
		"p50 $(ms "$p_p50") ms, p99 $(ms "$p_p99") ms; nginx in the same rounds $np_rps:" \
		"$(awk -v d="$p_rps" -v n="$np_rps" 'BEGIN { printf "%.0f%%", n ? 100 * d / n : 0 }')" \
		"of its rate$([ "$p_bad" = 0 ] || echo ", $p_bad non-2xx")"
fi
echo "create: $answered answered 2xx, $rows rows in the store after kill -9" \
	"($([ "$rows" -ge "$answered" ] && echo "none lost" || echo "LOST $((answered - rows))"))"
[ "$d_bad$d1_bad" = 00 ] && [ "$n_bad$n1_bad" = 00 ] ||
	echo "warning: non-2xx answers: daemon $d_bad + $d1_bad, nginx $n_bad + $n1_bad"
