#!/bin/sh
# End-to-end: the stall watchdog. An endless loop inside a narration
# segment is stopped after stall_timeout seconds without a frame or a
# finished animation, with "no progress for N s in segment i (line L)" and
# the line's code, and goes to repair; a segment that is slow but draws its
# frames (far longer in all than stall_timeout) is not stopped.
. "$(dirname "$0")/lib.sh"

VIDGEN=${VIDGEN:-./vidgen}
CFG=${top_srcdir:-.}/tests/e2e/render/repair.cfg
render_setup 5

# 1-3: the loop is stopped (by the watchdog, not the wall-clock limit of
# 60 s + 30 s per second of narration), reported and repaired.
: >"$TMP/replay.log"
RENDER_TEST_STALL=3 "$VIDGEN" run -p "$CFG" -o "$TMP/jobs" --json "Render a segment that never ends" \
	>"$TMP/loop.json" 2>"$TMP/loop.err"
ok $? "the job completes once the loop is repaired" || diag "$(tail -20 "$TMP/loop.err")"
# The loop is stopped on its condition (line 12) or its body (line 13).
ok "grep -q 'no progress for 3 s in segment 1 (line 1[23]): the render was stopped' '$TMP/loop.err' &&
    grep -q '^    turns += 1\|^    while turns >= 0:' '$TMP/loop.err'" \
	"the watchdog names the segment, the line and its code" ||
	diag "$(grep -n 'progress\|ran out' "$TMP/loop.err" | head -5)"
ok "[ \"\$(calls validate)\" -eq 2 ] && ! grep -q 'ran out of time' '$TMP/loop.err'" \
	"the stall went to repair (validate ran twice), before the wall-clock limit"

# 4-5: slow but honest: every frame costs a lot, no frame costs 2 s.
: >"$TMP/replay.log"
RENDER_TEST_STALL=2 "$VIDGEN" run -p "$CFG" -o "$TMP/jobs" --json "Render a segment that is slow but honest" \
	>"$TMP/slow.json" 2>"$TMP/slow.err"
ok "[ $? -eq 0 ] && [ \"\$(calls validate)\" -eq 1 ] && ! grep -q 'no progress' '$TMP/slow.err'" \
	"a slow honest segment is not stopped" || diag "$(tail -10 "$TMP/slow.err")"
segs=$(find "$TMP/jobs" -path '*/render/work*' -name segments.txt -newer "$TMP/loop.json" | head -1)
ok "awk '\$1 == 0 && \$5 > 2 { found = 1 } END { exit !found }' '$segs'" \
	"it rendered for longer than stall_timeout (wall seconds: $(awk '{print $5}' "$segs" 2>/dev/null))"
exit 0
