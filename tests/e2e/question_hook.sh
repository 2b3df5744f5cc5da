#!/bin/sh
# The pipeline's question_hook, the per-stage hook limits and the job table's
# artifacts, through the real `vidgen run` and `vidgen check`.
. "$(dirname "$0")/lib.sh"
dir=$top_srcdir/tests/e2e/qhook
plan 7

out=$("$VIDGEN" run --json -p "$dir/qhook.cfg" -o "$TMP/jobs" \
	"What is two plus two? Write to me at bob@example.com" 2>"$TMP/err")
ok $? "a job with a question_hook completes" || diag "$(cat "$TMP/err")"
echo "$out" >"$TMP/out.json"
ok "grep -q '\"original_question\": \"What is two plus two? Write to me at bob@example.com\"' $TMP/out.json" \
	"the response keeps the question as typed"
ok "grep -q 'question=What is two plus two? Write to me at \[email\]' $TMP/out.json" \
	"stages see the redacted question"
ok "! grep -q 'bob@example.com' $TMP/jobs/*/stages/echo/out.txt" \
	"no stage output holds the address"

"$VIDGEN" check "$dir/limits.cfg" >/dev/null 2>&1
ok $? "hook_instructions within range passes vidgen check"
sed 's/hook_instructions = 10000;/hook_instructions = 5;/' "$dir/limits.cfg" >"$dir/../qhook-bad.cfg.tmp"
mv "$dir/../qhook-bad.cfg.tmp" "$TMP/bad.cfg"
cp -r "$dir/answers" "$TMP/answers"
"$VIDGEN" check "$TMP/bad.cfg" 2>"$TMP/err" >/dev/null
ok "[ $? -ne 0 ] && grep -q 'bad.cfg:6:.*hook_instructions' $TMP/err" \
	"an out-of-range hook_instructions is refused with file:line"
out=$("$VIDGEN" run --json -p "$dir/peek.cfg" -o "$TMP/jobs2" \
	"What is two plus two? Write to me at [email]" 2>"$TMP/err")
echo "$out" >"$TMP/peek.json"
ok "grep -q 'explain=Two plus two is four' $TMP/peek.json" \
	"a hook sees a finished stage that is not its input in job.artifacts" || diag "$(cat "$TMP/err")"
exit 0
