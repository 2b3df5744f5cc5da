#!/bin/sh
# Runs every libFuzzer harness of tests/fuzz/ for a bounded time under ASan
# and UBSan (part of the test suite as tests/fuzz_run.sh), after replaying
# its regression inputs (tests/fuzz/regress/NAME/: each crash found, kept).
# TAP, one test per harness. A harness fails on any crash, sanitizer report,
# leak, or input that runs longer than 10 s; the input that did it is kept
# in the build tree's tests/fuzz-build/found/.
#   FUZZ_SECONDS   time per harness (default 20)
#   FUZZ_ONLY      run only this harness (sentences, sigv4, ...)
#   FUZZ_CORPUS    keep the grown corpora here (default: a scratch folder)
# A longer run by hand, with executions and coverage: doc/reliability.md.
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
secs=${FUZZ_SECONDS:-20}
names=$(cd "$here" && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')
[ -n "${FUZZ_ONLY:-}" ] && names=$FUZZ_ONLY
n=$(echo $names | wc -w)
echo "1..$n"
if ! command -v clang >/dev/null 2>&1; then
	i=0
	for name in $names; do i=$((i + 1)); echo "ok $i - $name # SKIP clang is not installed"; done
	exit 0
fi
build=${top_builddir:+$(cd "$top_builddir" && pwd)}
out=${build:-$top/_build/sanitize}/tests/fuzz-build
scratch=$(mktemp -d /tmp/vidgen-fuzz.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
if ! BUILD=${build:-$top/_build/sanitize} "$here/build.sh" "$out" >"$scratch/build.log" 2>&1; then
	i=0
	for name in $names; do i=$((i + 1)); echo "not ok $i - $name: the harnesses do not build"; done
	sed 's/^/# /' "$scratch/build.log" | tail -30
	exit 1
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export FUZZ_PLUGIN_DIR=$out/plugins
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$here/lsan.supp}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
i=0
fail=0
for name in $names; do
	i=$((i + 1))
	corpus=${FUZZ_CORPUS:+$FUZZ_CORPUS/$name}
	corpus=${corpus:-$scratch/corpus-$name}
	mkdir -p "$corpus"
	log=$scratch/$name.log
	regress=$here/regress/$name
	ok=1
	# The regression inputs first, each must run clean.
	if [ -d "$regress" ] && [ -n "$(ls "$regress")" ]; then
		"$out/fuzz_$name" -timeout=10 "$regress"/* >"$log" 2>&1 || ok=0
	fi
	if [ $ok -eq 1 ]; then
		(cd "$scratch" && "$out/fuzz_$name" -max_total_time="$secs" -timeout=10 \
			-rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
			-artifact_prefix="$scratch/$name-" "$corpus" "$here/corpus/$name") >"$log" 2>&1 || ok=0
	fi
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
	stalls=$(grep -c 'fuzz_http: stall' "$log")
	[ "$stalls" -gt 0 ] && cov="$cov, $stalls stalled request(s) (doc/reliability.md)"
	retried=$(grep -c 'fuzz_http: connect retried' "$log")
	[ "$retried" -gt 0 ] && cov="$cov, $retried connect(s) retried ($(grep -o 'connect retried: .*' "$log" | sort -u | head -1))"
	if [ $ok -eq 1 ]; then
		echo "ok $i - $name: ${execs:-0} executions in $secs s, $cov, no crash"
	else
		fail=1
		echo "not ok $i - $name: a crash (kept inputs: $(ls "$scratch" | grep "^$name-" | tr '\n' ' '))"
		grep -a -E 'ERROR|SUMMARY|runtime error|#[0-9] |^fuzz_' "$log" | grep -av 'fuzz_http: stall' |
			head -30 | sed 's/^/# /'
		mkdir -p "$out/found"
		cp "$scratch/$name-"* "$out/found/" 2>/dev/null
		cp "$log" "$out/found/$name.log"
		echo "# the input and the log are kept in $out/found/ (a fixed crash goes to regress/$name/)"
	fi
done
exit $fail
