#!/usr/bin/env bash
# Installs what vidgen needs, builds it with AddressSanitizer + UBSan, runs
# every test (unit, end-to-end, rendering, browser) and ends with the line
# "N passed, N failed". Exit status 0 only if nothing failed.
#   VIDGEN_VALGRIND=1 scripts/test.sh   also runs the unit tests under valgrind
#                                      (in a build without sanitizers)
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
scripts/install-deps.sh || { echo "test: installing dependencies failed"; echo "0 passed, 1 failed"; exit 1; }
flavour=sanitize
[ "${VIDGEN_VALGRIND:-0}" = 1 ] && flavour=release
dir=$(scripts/build.sh "$flavour") || { echo "test: the build failed"; echo "0 passed, 1 failed"; exit 1; }
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
make -C "$dir" -j2 -k check >"$dir/check.out" 2>&1
status=$?
grep -E '^(PASS|FAIL|ERROR|XPASS|SKIP)' "$dir/check.out" | grep -v '^PASS' || true
# Per-case results, counted from the TAP driver's .trs files.
read -r passed failed skipped < <(find "$dir" -name '*.trs' -exec cat {} + 2>/dev/null | awk '
  /^:test-result: (PASS|XFAIL)/ { p++ }
  /^:test-result: (FAIL|XPASS|ERROR)/ { f++ }
  /^:test-result: SKIP/ { s++ }
  END { printf "%d %d %d\n", p, f, s }')
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  tail -40 "$dir/check.out"
  failed=1
fi
[ "$failed" -ne 0 ] && echo "test: failures are detailed in $dir/test-suite.log"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
