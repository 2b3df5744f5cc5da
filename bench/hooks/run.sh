#!/bin/sh
# The cost of one Lua hook call (bench/hooks/calls.c): builds the program in
# a build directory (default _build/sanitize) and prints ms per call for 1
# and 4 threads, with and without 300 MiB of touched heap (before the hook
# server, each call forked the caller, and a big heap made that dear).
# usage: bench/hooks/run.sh [BUILD_DIR] [CALLS]
set -e
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/_build/sanitize}
calls=${2:-400}
make -s -C "$build" bench/hooks/calls >/dev/null
hook=$(mktemp /tmp/vidgen-bench-XXXXXX.lua)
trap 'rm -f "$hook"' EXIT
echo "# load: $(cut -d' ' -f1-3 /proc/loadavg), build: $build"
for args in "1 0" "4 0" "1 300" "4 300"; do
	set -- $args
	"$build/bench/hooks/calls" "$calls" "$1" "$2" "$hook"
done
