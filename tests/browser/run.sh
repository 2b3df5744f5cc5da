#!/usr/bin/env bash
# Browser test of the web page (issue 6): starts `vidgen serve` on a free
# loopback port with the browser test pipeline, runs page.test.js in Debian's
# headless Chromium through playwright-core, stops the daemon. Prints TAP.
#
# Env: VIDGEN_BIN or VIDGEN (default ./vidgen), VIDGEN_TEST_OUTPUT (default ./test-output),
#      VIDGEN_BROWSER_PIPELINE (default tests/browser/browser.cfg).
set -u
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"

top_srcdir=$(cd "${top_srcdir:-${srcdir:-$(dirname "$0")/../..}}" && pwd)
here="$top_srcdir/tests/browser"
bin=${VIDGEN_BIN:-${VIDGEN:-./vidgen}}
out=$(mkdir -p "${VIDGEN_TEST_OUTPUT:-test-output}/browser" && cd "${VIDGEN_TEST_OUTPUT:-test-output}/browser" && pwd)
pipeline=${VIDGEN_BROWSER_PIPELINE:-$here/browser.cfg}
chromium=${VIDGEN_CHROMIUM:-/usr/bin/chromium}

# One failing TAP line with the reason, for when the real test cannot start.
bail() {
	echo "1..1"
	echo "not ok 1 - browser test: $1"
	[ -n "${2:-}" ] && [ -f "$2" ] && sed 's/^/# /' "$2" | tail -n 30
	exit 1
}
skip() {
	echo "1..0 # SKIP $1"
	exit 0
}

command -v node >/dev/null 2>&1 || skip "node is not installed"
command -v npm >/dev/null 2>&1 || skip "npm is not installed"
[ -x "$chromium" ] || skip "no Chromium at $chromium (scripts/install-deps.sh installs it)"
[ -x "$bin" ] || bail "no vidgen binary at $bin"
[ -f "$pipeline" ] || bail "no pipeline file $pipeline"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vidgen-browser.XXXXXX")
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${pids[@]}"; do
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.5
		done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# playwright-core and axe-core from the lock file, kept in the build tree
# (top_builddir/tests/browser/node_modules), never written into a source tree
# that is not also the build tree; run by hand on a read-only one, in $tmp.
nodedir=$here
if [ -n "${top_builddir:-}" ]; then
	nodedir=$(cd "$top_builddir" && pwd -P)/tests/browser
elif [ ! -w "$here" ]; then
	nodedir=$tmp/node
fi
if [ "$nodedir" != "$(cd "$here" && pwd -P)" ]; then
	mkdir -p "$nodedir"
	cp -f "$here/package.json" "$here/package-lock.json" "$nodedir/"
fi
# Installed already when every dependency is there at its pinned version.
installed() {
	node -e 'const d = process.argv[1], p = require(d + "/package.json");
		for (const [n, v] of Object.entries(p.dependencies || {}))
			if (require(d + "/node_modules/" + n + "/package.json").version !== v) process.exit(1);' \
		"$nodedir" 2>/dev/null
}
if ! installed; then
	(cd "$nodedir" && npm ci --no-audit --no-fund --loglevel=error) >"$out/npm.log" 2>&1 ||
		bail "npm ci failed in $nodedir" "$out/npm.log"
fi

# Starts a daemon named $1 (extra environment after it) on a free port and
# sets $url to its address. Offline: no cloud credentials reach it.
start_daemon() {
	local name=$1
	shift
	mkdir -p "$tmp/$name"
	env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u OPENAI_API_KEY \
		-u VIDGEN_API_KEYS "$@" \
		"$bin" serve -l 127.0.0.1:0 --web-dir "$top_srcdir/web" -p "$pipeline" \
		--data-dir "$tmp/$name/data" --db "$tmp/$name/vidgen.db" \
		>"$tmp/$name/stdout" 2>"$out/$name.log" &
	local pid=$!
	pids+=("$pid")
	url=""
	for _ in $(seq 1 100); do
		# A fresh file each run: an old run's address is never read.
		url=$(sed -n 's/^listening on \(http:\/\/127\.0\.0\.1:[0-9][0-9]*\).*/\1/p' \
			"$tmp/$name/stdout" 2>/dev/null | head -n 1)
		[ -n "$url" ] && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.2
	done
	bail "vidgen serve ($name) did not print its address" "$out/$name.log"
}

start_daemon daemon
main_url=$url
# A second daemon that wants an API key, for the page's key prompt.
api_key="browser-test-key-$$-$RANDOM"
start_daemon keyed VIDGEN_API_KEYS="$api_key"
keyed_url=$url

cd "$out" || bail "no output dir $out"
NODE_PATH="$nodedir/node_modules" VIDGEN_URL="$main_url" VIDGEN_TEST_OUT="$out" \
	VIDGEN_KEYED_URL="$keyed_url" VIDGEN_KEYED_KEY="$api_key" \
	VIDGEN_CHROMIUM="$chromium" node "$here/page.test.js"
rc=$?
if [ $rc -ne 0 ]; then
	echo "# daemon log (last lines):"
	tail -n 40 "$out/daemon.log" | sed 's/^/# /'
fi
exit $rc
