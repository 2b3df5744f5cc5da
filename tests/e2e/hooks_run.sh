#!/bin/sh
# Lua hooks end to end with `vidgen run` and `vidgen check` (TAP): the
# example hooks of lua/ on recorded answers, and hooks that loop, allocate
# without bound, try to escape, do not parse or return a number.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
VIDGEN=${VIDGEN:-$top_builddir/vidgen}
VIDGEN_PLUGIN_PATH=${VIDGEN_PLUGIN_PATH:-$top_builddir/plugins/.libs:$top_builddir/tests/.libs}
export VIDGEN_PLUGIN_PATH
unset HOOK BEFORE TEMP_DIR VIDGEN_REPLAY_LOG
H=$top_srcdir/tests/e2e/hooks
EXAMPLES=$H/examples.cfg
FAILING=$H/failing.cfg
JOBS=$TMP/jobs
Q="Explain the Pythagorean theorem with a visual proof. I am Ana, ana.p@example.org, +33 6 12 34 56 78."
ESCAPED=/tmp/vidgen-hook-escaped

[ -x "$VIDGEN" ] || bail_out "no vidgen binary at $VIDGEN (run make first)"
command -v jq >/dev/null 2>&1 || bail_out "jq is not installed (scripts/install-deps.sh installs it)"

plan 31

# ---- the example hooks -------------------------------------------------------
"$VIDGEN" check "$EXAMPLES" >"$TMP/out" 2>"$TMP/err"
ok $? "vidgen check compiles the example hooks" || diag "$(cat "$TMP/err")"

"$VIDGEN" run -p "$EXAMPLES" -o "$JOBS" --json "$Q" >"$TMP/run.json" 2>"$TMP/run.err"
rc=$?
ok "[ $rc -eq 0 ] && jq -e '.status == \"completed\"' '$TMP/run.json'" \
	"a pipeline with before and after hooks completes" || diag "exit $rc: $(cat "$TMP/run.err")"
id=$(jq -r .video_id "$TMP/run.json" 2>/dev/null)
S=$JOBS/$id/stages

ok "grep -qF 'I am Ana, [email], [phone].' '$S/redacted/out.txt' && ! grep -q 'example.org' '$S/redacted/out.txt' && ! grep -q '56 78' '$S/redacted/out.txt'" \
	"redact (before): the stage sees the question without e-mail and phone" ||
	diag "$(cat "$S/redacted/out.txt")"
ok "grep -q '10-year-old' '$S/for_kids/out.txt' && grep -qF 'Question: Explain the Pythagorean theorem' '$S/for_kids/out.txt'" \
	"audience (before): the stage sees the question with the audience set" ||
	diag "$(cat "$S/for_kids/out.txt")"
ok "cmp -s '$H/expected/script.py' '$S/script/script.py'" \
	"strip_fences (after): the script stage keeps only the Python code" ||
	diag "$(diff "$H/expected/script.py" "$S/script/script.py")"
ok "grep -q '^\`\`\`python' '$S/script/script.py.orig' && grep -q 'Let me know' '$S/script/script.py.orig'" \
	"the model's own answer is kept beside it as .orig"
ok "cmp -s '$H/expected/validate.py' '$S/validate/script.py'" \
	"house_style (after): background set, font sizes clamped" ||
	diag "$(diff "$H/expected/validate.py" "$S/validate/script.py")"
ok "grep -q 'hook ../../../lua/redact.lua:redact: redacted 1 e-mail address(es) and 1 phone number(s)' '$TMP/run.err' && ! grep 'hook' '$TMP/run.err' | grep -q 'example.org'" \
	"vidgen.log lines reach the log, tagged with the hook, without the redacted data"

# ---- errors found when the pipeline loads -------------------------------------
HOOK=lua/syntax.lua:broken "$VIDGEN" check "$FAILING" >/dev/null 2>"$TMP/err"
rc=$?
ok "[ $rc -eq 3 ] && grep -qF \"failing.cfg:11: stage \\\"explain\\\": after hook: lua/syntax.lua:6: 'end' expected (to close 'if' at line 3) near 'return'\" '$TMP/err'" \
	"vidgen check: a hook's syntax error, with the pipeline line and the Lua file:line" ||
	diag "exit $rc: $(cat "$TMP/err")"
HOOK=lua/syntax.lua:broken "$VIDGEN" run -p "$FAILING" -o "$JOBS" "What is two plus two?" >/dev/null 2>"$TMP/err"
ok "[ $? -eq 3 ] && grep -qF 'lua/syntax.lua:6:' '$TMP/err'" "vidgen run refuses the pipeline too (exit 3)"
HOOK=lua/ok.lua:nope "$VIDGEN" check "$FAILING" >/dev/null 2>"$TMP/err"
ok "[ $? -eq 3 ] && grep -qF \"no function 'nope' in lua/ok.lua\" '$TMP/err'" "vidgen check: a missing hook function"
HOOK=lua/missing.lua:f "$VIDGEN" check "$FAILING" >/dev/null 2>"$TMP/err"
ok "[ $? -eq 3 ] && grep -q 'failing.cfg:11: .*lua/missing.lua.*No such file' '$TMP/err'" "vidgen check: a missing hook file"
BEFORE=lua/ok.lua "$VIDGEN" check "$FAILING" >/dev/null 2>"$TMP/err"
ok "[ $? -eq 3 ] && grep -q 'failing.cfg:10: .*expected \"path/file.lua:function\"' '$TMP/err'" "vidgen check: a hook spec without a function"

# ---- errors while a job runs ---------------------------------------------------
# run_failing NAME BEFORE AFTER EXPECTED: the job fails, its message holds
# EXPECTED, and the next stage never ran.
run_failing() {
	rm -rf "$JOBS"
	t0=$(date +%s)
	BEFORE=$2 HOOK=$3 "$VIDGEN" run -p "$FAILING" -o "$JOBS" --json "What is two plus two?" \
		>"$TMP/$1.json" 2>"$TMP/$1.err"
	rc=$?
	t1=$(date +%s)
	ok "[ $rc -eq 1 ] && jq -e '.status == \"failed\"' '$TMP/$1.json' >/dev/null && jq -r .message '$TMP/$1.json' | grep -qF \"$4\" && [ -z \"\$(ls '$JOBS'/*/stages/refine/out.txt 2>/dev/null)\" ]" \
		"$1: the stage fails with \"$4\"" || diag "exit $rc: $(cat "$TMP/$1.json" "$TMP/$1.err")"
	elapsed=$((t1 - t0))
}

run_failing "endless loop" lua/ok.lua:keep lua/loop.lua:spin \
	"after hook lua/loop.lua:spin: lua/loop.lua:5: instruction budget of 2000000 exceeded"
ok "[ $elapsed -lt 20 ]" "the endless loop is stopped in seconds ($elapsed s)"
run_failing "memory bomb" lua/ok.lua:keep lua/bomb.lua:bomb \
	"after hook lua/bomb.lua:bomb: lua/bomb.lua:6: memory cap of 8 MiB exceeded"
run_failing "one huge string" lua/ok.lua:keep lua/bomb.lua:one_huge \
	"lua/bomb.lua:13: memory cap of 8 MiB exceeded"
rm -f "$ESCAPED"
run_failing "os.execute" lua/ok.lua:keep lua/escape.lua:os_execute \
	"lua/escape.lua:3: attempt to index a nil value (global 'os')"
ok "[ ! -e '$ESCAPED' ]" "os.execute ran nothing"
run_failing "io.open" lua/ok.lua:keep lua/escape.lua:io_open \
	"lua/escape.lua:8: attempt to index a nil value (global 'io')"
run_failing "require" lua/ok.lua:keep lua/escape.lua:require_os \
	"lua/escape.lua:13: attempt to call a nil value (global 'require')"
run_failing "write to the job table" lua/ok.lua:keep lua/escape.lua:write_job \
	"lua/escape.lua:25: the job table is read-only"
run_failing "a number returned" lua/ok.lua:keep lua/number.lua:answer \
	"lua/number.lua:2: answer returned a number; a hook returns a string or nil"
run_failing "a failing before hook" lua/number.lua:answer lua/ok.lua:keep \
	"before hook lua/number.lua:answer: lua/number.lua:2: answer returned a number"

# After all that, the same pipeline with good hooks runs (one process a run,
# so the daemon case is tests/e2e/hooks_serve.sh).
rm -rf "$JOBS"
BEFORE=lua/ok.lua:shout HOOK=lua/ok.lua:keep "$VIDGEN" run -p "$FAILING" -o "$JOBS" --json \
	"What is two plus two?" >"$TMP/good.json" 2>"$TMP/good.err"
ok "[ $? -eq 0 ] && jq -e '.status == \"completed\" and .initial_explanation == \"[explain question=WHAT IS TWO PLUS TWO?]\"' '$TMP/good.json'" \
	"a before hook's text is what the plugin receives" || diag "$(cat "$TMP/good.json" "$TMP/good.err")"
BEFORE=lua/ok.lua:keep HOOK=lua/ok.lua:shout "$VIDGEN" run -p "$FAILING" -o "$JOBS" --json \
	"What is two plus two?" >"$TMP/good.json" 2>"$TMP/good.err"
ok "[ $? -eq 0 ] && jq -e '.initial_explanation == \"[EXPLAIN QUESTION=WHAT IS TWO PLUS TWO?]\" and .refined_explanation == \"[refine explain=[EXPLAIN QUESTION=WHAT IS TWO PLUS TWO?]]\"' '$TMP/good.json'" \
	"an after hook's text is the stage's result and what later stages receive" ||
	diag "$(cat "$TMP/good.json" "$TMP/good.err")"

# ---- vidgen hook: try a hook by hand ----------------------------------------
"$VIDGEN" hook --help >"$TMP/out" 2>&1
if grep -q 'usage: vidgen hook' "$TMP/out"; then
	(cd "$top_srcdir" && "$VIDGEN" hook lua/script.lua:strip_fences \
		tests/e2e/hooks/answers/pythagoras/script.txt) >"$TMP/out" 2>"$TMP/err"
	ok "[ $? -eq 0 ] && cmp -s '$H/expected/script.py' '$TMP/out'" \
		"vidgen hook runs a hook on a file and prints the new text" || diag "$(cat "$TMP/err")"
	printf 'from manim import *\n' | (cd "$top_srcdir" && "$VIDGEN" hook lua/script.lua:strip_fences) \
		>"$TMP/out" 2>"$TMP/err"
	ok "[ $? -eq 0 ] && [ \"\$(cat '$TMP/out')\" = 'from manim import *' ] && grep -q 'returned nil: text kept' '$TMP/err'" \
		"vidgen hook on stdin: a nil result prints the text unchanged and says so"
	echo hi | (cd "$H" && "$VIDGEN" hook --instructions 100000 lua/loop.lua:spin) >/dev/null 2>"$TMP/err"
	ok "[ $? -eq 1 ] && grep -qF 'lua/loop.lua:5: instruction budget of 100000 exceeded' '$TMP/err'" \
		"vidgen hook: a failing hook exits 1 with file:line"
	echo hi | (cd "$H" && "$VIDGEN" hook lua/syntax.lua:broken) >/dev/null 2>"$TMP/err"
	ok "[ $? -eq 3 ] && grep -qF 'lua/syntax.lua:6:' '$TMP/err'" "vidgen hook: a hook that does not compile exits 3"
	printf 'function f(t, job) return job.stage .. "|" .. job.question .. "|" .. job.artifacts.explain end\n' >"$TMP/j.lua"
	echo text | "$VIDGEN" hook -s refine -q "Why?" -a explain="$H/answers/pythagoras/explain.txt" "$TMP/j.lua:f" \
		>"$TMP/out" 2>"$TMP/err"
	ok "[ $? -eq 0 ] && grep -q '^refine|Why?|Imagine a right triangle' '$TMP/out'" \
		"vidgen hook fills the job table from its options" || diag "$(cat "$TMP/err")"
else
	for i in 1 2 3 4 5; do skip "vidgen hook is not wired into this vidgen"; done
fi
exit 0
