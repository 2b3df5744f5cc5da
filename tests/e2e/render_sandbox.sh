#!/bin/sh
# End-to-end: what a rendered script can reach. The static check is turned
# off (--no-check) so that these scripts really run: the sandbox alone must
# hold. Each script reports what it saw by raising an exception, whose
# message vidgen prints as the render error.
. "$(dirname "$0")/lib.sh"

VIDGEN=${VIDGEN:-./vidgen}
VENV=${VIDGEN_MANIM_VENV:-/opt/vidgen/venv}
N=15
plan $N
if [ ! -x "$VENV/bin/python" ]; then
	for i in $(seq 1 $N); do skip "no Manim venv at $VENV"; done
	exit 0
fi
if ! bwrap --unshare-all --ro-bind / / --dev /dev --proc /proc true 2>/dev/null; then
	for i in $(seq 1 $N); do skip "bubblewrap cannot create namespaces here"; done
	exit 0
fi

# Job directories go below $TMP/jobs, so $TMP itself is "outside".
mkdir -p "$TMP/jobs"
export TMPDIR="$TMP/jobs"

# leftovers NAME: how many processes of the render of NAME still run. The
# render's uid (private when vidgen is root) owns its kept work directory;
# otherwise look for the sandbox by its work path.
# The kernel tears a killed PID namespace down asynchronously: allow a few
# seconds on a loaded machine.
leftovers() {
	kept=$(sed -n 's/.*work directory kept: //p' "$TMP/$1.err")
	uid=$(stat -c %u "$kept"/render/work* 2>/dev/null | head -1)
	for i in $(seq 1 50); do
		if [ -n "$uid" ] && [ "$uid" -ge 200000 ]; then
			n=$(pgrep -u "$uid" | wc -l)
		else
			n=$(pgrep -f "$TMP/jobs" | wc -l)
		fi
		[ "$n" -eq 0 ] && break
		sleep 0.1
	done
	echo "$n"
}

# run NAME [OPTIONS]: renders $TMP/NAME.py without the check; stderr in
# $TMP/NAME.err, exit status in $rc, seconds in $secs.
run() {
	name=$1
	shift
	t0=$(date +%s)
	"$VIDGEN" render --no-check "$@" -o "$TMP/$name.mp4" "$TMP/$name.py" \
		>"$TMP/$name.out" 2>"$TMP/$name.err"
	rc=$?
	secs=$(($(date +%s) - t0))
}

script() {
	name=$1
	shift
	printf '%s\n' "import os, socket" "from manim import *" "class S(Scene):" \
		"    def construct(self):" "$@" >"$TMP/$name.py"
}

# 1-3: the environment holds nothing of vidgen's.
export AWS_SECRET_ACCESS_KEY=sekrit-aws OPENAI_API_KEY=sekrit-openai \
	VIDGEN_TEST_TOKEN=sekrit-token
script env \
'        raise RuntimeError("ENV=" + ";".join(sorted(k + "=" + v for k, v in os.environ.items())))'
run env
ok "grep -q 'ENV=' '$TMP/env.err'" "the script ran and reported its environment" ||
	diag "$(cat "$TMP/env.err")"
ok "! grep -q 'sekrit' '$TMP/env.err' && ! grep -q 'AWS_\|OPENAI\|VIDGEN_TEST' '$TMP/env.err'" \
	"no secret (or its name) reaches the script"
ok "grep -q 'HOME=/tmp' '$TMP/env.err'" "the script gets a clean HOME"
unset AWS_SECRET_ACCESS_KEY OPENAI_API_KEY VIDGEN_TEST_TOKEN

# 4-5: no network, not even the host's loopback.
python3 - "$TMP/port" <<'PY' &
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
s.settimeout(60)
try:
    while True:
        c, _ = s.accept()
        c.close()
except OSError:
    pass
PY
LISTENER=$!
for i in $(seq 1 50); do [ -s "$TMP/port" ] && break; sleep 0.1; done
PORT=$(cat "$TMP/port")
ok "python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", $PORT), timeout=2)'" \
	"the loopback listener answers outside the sandbox"
script net \
"        res = []" \
"        for host, port in ((\"127.0.0.1\", $PORT), (\"10.255.255.1\", 80), (\"1.1.1.1\", 53)):" \
"            try:" \
"                socket.create_connection((host, port), timeout=2).close()" \
"                res.append(\"connected:%s\" % host)" \
"            except OSError as e:" \
"                res.append(\"blocked:%s\" % host)" \
"        raise RuntimeError(\"NET=\" + \",\".join(res))"
run net
kill "$LISTENER" 2>/dev/null
ok "grep -q 'NET=blocked:127.0.0.1,blocked:10.255.255.1,blocked:1.1.1.1' '$TMP/net.err'" \
	"every connection fails inside the sandbox" || diag "$(cat "$TMP/net.err")"

# 6-8: writes outside the work directory fail; reads of hidden files too.
echo TOPSECRET >"$TMP/secret.txt"
script write \
"        res = []" \
"        for p in (\"$TMP/outside.txt\", \"/etc/vidgen-sandbox-test\", \"/root/vidgen-sandbox-test\"," \
"                  \"/var/tmp/vidgen-sandbox-test\", \"$VENV/vidgen-sandbox-test\"):" \
"            try:" \
"                with open(p, \"w\") as f:" \
"                    f.write(\"x\")" \
"                res.append(\"wrote:\" + p)" \
"            except OSError:" \
"                res.append(\"refused\")" \
"        with open(\"inside.txt\", \"w\") as f:" \
"            f.write(\"the work directory is writable\")" \
"        try:" \
"            res.append(\"read:\" + open(\"$TMP/secret.txt\").read())" \
"        except OSError:" \
"            res.append(\"unreadable\")" \
"        raise RuntimeError(\"WRITE=\" + \",\".join(res))"
run write
ok "grep -q 'WRITE=refused,refused,refused,refused,refused,' '$TMP/write.err'" \
	"writes outside the work directory fail" || diag "$(cat "$TMP/write.err")"
ok "[ ! -e '$TMP/outside.txt' ] && [ ! -e /etc/vidgen-sandbox-test ] && [ ! -e /root/vidgen-sandbox-test ] && [ ! -e /var/tmp/vidgen-sandbox-test ] && [ ! -e '$VENV/vidgen-sandbox-test' ]" \
	"nothing appeared outside on the host"
ok "grep -q ',unreadable' '$TMP/write.err' && ! grep -q TOPSECRET '$TMP/write.err'" \
	"files outside the job (here under /tmp) cannot be read"

# 9-10: a fork bomb is held by the process limit (when vidgen is root the
# render runs under a private uid from 200000 up: root ignores RLIMIT_NPROC)
# and leaves nothing behind. As root it is ended at once, not by the clock
# (60 s here): the render's fork-bomb watch kills the uid's processes when
# they reach half the limit. Otherwise the limit or the clock ends it.
script forkbomb \
"        while True:" \
"            os.fork()"
if [ "$(id -u)" -eq 0 ]; then
	# Sample how many processes the render user has while the bomb runs.
	( peak=0; while [ -d "$TMP" ] && [ ! -e "$TMP/bomb.done" ]; do
		n=$(ps -eo uid= | awk '$1 >= 200000 && $1 < 300000 { c[$1]++ }
			END { m = 0; for (u in c) if (c[u] > m) m = c[u]; print m }')
		[ "$n" -gt "$peak" ] && peak=$n
		echo "$peak" >"$TMP/bomb.peak"; sleep 0.2; done ) &
	SAMPLER=$!
fi
if [ "$(id -u)" -eq 0 ]; then
	run forkbomb --timeout 60 --keep
else
	run forkbomb --timeout 20 --keep
fi
touch "$TMP/bomb.done"
[ -n "${SAMPLER:-}" ] && wait "$SAMPLER"
peak=$(cat "$TMP/bomb.peak" 2>/dev/null || echo 0)
if [ "$(id -u)" -eq 0 ]; then
	ok "[ $rc -ne 0 ] && [ $secs -lt 30 ] && [ $peak -le 300 ] && grep -q 'processes at once (a fork bomb?): all were killed' '$TMP/forkbomb.err'" \
		"a fork bomb is held to the process limit (peak $peak processes) and ended at once (${secs}s of a 60 s limit, Manim's start included)" ||
		diag "$(tail -5 "$TMP/forkbomb.err")"
else
	ok "[ $rc -ne 0 ] && [ $secs -lt 40 ] && [ $peak -le 300 ] && grep -q 'BlockingIOError\|Resource temporarily unavailable\|ran out of time' '$TMP/forkbomb.err'" \
		"a fork bomb is held to the process limit (peak $peak processes) and stopped (${secs}s)" ||
		diag "$(tail -5 "$TMP/forkbomb.err")"
fi
left=$(leftovers forkbomb)
ok "[ $left -eq 0 ]" "no process of the fork bomb is left ($left)"

# 11-12: an endless loop is killed by the wall-clock timeout, tree and all.
script loop \
"        while True:" \
"            pass"
run loop --timeout 3 --keep
ok "[ $rc -ne 0 ] && [ $secs -lt 20 ] && grep -q 'ran out of time' '$TMP/loop.err'" \
	"an endless loop is killed by the timeout (${secs}s)" || diag "$(cat "$TMP/loop.err")"
left=$(leftovers loop)
ok "[ $left -eq 0 ]" "no process of the endless loop is left ($left)"

# 13: memory is bounded (RLIMIT_AS).
script memory \
"        x = bytearray(64 * 1024 ** 3)"
run memory
ok "[ $rc -ne 0 ] && grep -q 'MemoryError' '$TMP/memory.err'" "a 64 GB allocation fails" ||
	diag "$(cat "$TMP/memory.err")"

# 14: a script cannot read the engine's own process (separate PID space).
script pids \
"        raise RuntimeError(\"PIDS=%d\" % len([p for p in os.listdir(\"/proc\") if p.isdigit()]))"
run pids
n=$(sed -n 's/.*PIDS=\([0-9][0-9]*\).*/\1/p' "$TMP/pids.err" | head -1)
ok "[ -n '$n' ] && [ '$n' -lt 10 ]" "the script sees only its own processes (${n:-?})"
# 15: other jobs are hidden: with the jobs under /var/tmp (not a hidden
# tree by itself), a sibling job's files cannot be read.
JOBS=$(mktemp -d /var/tmp/vidgen-e2e-jobs.XXXXXX)
chmod 755 "$JOBS"
mkdir -p "$JOBS/other-job"
echo "OTHER USER'S QUESTION" >"$JOBS/other-job/question.txt"
chmod 644 "$JOBS/other-job/question.txt"
script sibling \
"        try:" \
"            seen = open(\"$JOBS/other-job/question.txt\").read()" \
"        except OSError as e:" \
"            seen = \"unreadable\"" \
"        raise RuntimeError(\"SIBLING=\" + seen)"
TMPDIR="$JOBS" "$VIDGEN" render --no-check -o "$TMP/sibling.mp4" "$TMP/sibling.py" \
	>/dev/null 2>"$TMP/sibling.err"
ok "grep -q 'SIBLING=unreadable' '$TMP/sibling.err'" "another job's files cannot be read" ||
	diag "$(cat "$TMP/sibling.err")"
rm -rf "$JOBS"
exit 0
