#!/bin/sh
# End-to-end: the manim plugin's layout check (text off screen, texts on
# top of each other, reported with the script line of the play() call) in
# warn and repair mode, silence on clean scripts and on the demo's scripts,
# and live progress while a narrated script renders.
. "$(dirname "$0")/lib.sh"

VIDGEN=${VIDGEN:-./vidgen}
VENV=${VIDGEN_MANIM_VENV:-/opt/vidgen/venv}
SRC=${top_srcdir:-.}
CFG=$SRC/tests/e2e/render/layout.cfg
N=18
plan $N
if [ ! -x "$VENV/bin/python" ] || ! command -v espeak-ng >/dev/null; then
	for i in $(seq 1 $N); do skip "no Manim venv at $VENV or no espeak-ng"; done
	exit 0
fi
export RENDER_TEST_VIDEOS="$TMP/videos" VIDGEN_REPLAY_LOG="$TMP/replay.log"
mkdir -p "$TMP/videos"

# run NAME QUESTION [MODE]: one job; its stderr in NAME.err, exit in NAME.rc,
# its render stage's layout report (if any) in NAME.layout.
run() {
	: >"$TMP/replay.log"
	RENDER_TEST_LAYOUT=${3:-warn} "$VIDGEN" run -p "$CFG" -o "$TMP/jobs.$1" "$2" \
		>"$TMP/$1.out" 2>"$TMP/$1.err"
	echo $? >"$TMP/$1.rc"
	report=$(find "$TMP/jobs.$1" -path '*/render/layout.txt' | head -1)
	if [ -n "$report" ]; then cp "$report" "$TMP/$1.layout"; else : >"$TMP/$1.layout"; fi
}

# 1-3: warn, a formula off the right edge and a word below the frame.
run off "Lay out a formula off screen"
ok "[ \"\$(cat '$TMP/off.rc')\" -eq 0 ]" "warn: the job completes despite the problems" ||
	diag "$(tail -5 "$TMP/off.err")"
ok "grep -q '^line 9: MathTex \"a^2+b^2=c^2\" extends past the right edge (x=7\\.[0-9], frame edge 7\\.1)' '$TMP/off.layout' &&
    grep -q '^line 13: Text \"Gone\" is entirely past the bottom edge' '$TMP/off.layout'" \
	"warn: layout.txt names both, with the lines of their play() calls" ||
	diag "$(cat "$TMP/off.layout")"
ok "grep -q 'layout: line 9: MathTex' '$TMP/off.err'" "warn: the problems are logged"

# 4-5: warn, two texts on top of each other; the Transform that crosses
# the word on its way down is not a problem.
run overlap "Lay out two labels on top of each other"
ok "[ \"\$(cat '$TMP/overlap.rc')\" -eq 0 ] && grep -q '^line 12: Text \"Area\" overlaps MathTex \"c^2\" ([0-9]*% of the smaller)' '$TMP/overlap.layout'" \
	"warn: the overlap is reported with its line" || diag "$(cat "$TMP/overlap.layout")"
ok "[ \"\$(wc -l <'$TMP/overlap.layout')\" -eq 1 ]" "each problem is reported once"

# 6-9: repair mode: the same script goes back to validate with the report,
# and the repaired one renders.
run repair "Lay out two labels on top of each other" repair
ok "[ \"\$(cat '$TMP/repair.rc')\" -eq 0 ]" "repair: the job completes after a repair" ||
	diag "$(tail -5 "$TMP/repair.err")"
ok "[ \"\$(awk '\$1 == \"validate\"' '$TMP/replay.log' | wc -l)\" -eq 2 ]" \
	"repair: validate ran twice (the layout problem asked for a repair)"
ok "grep -q 'off screen or on top of each other' '$TMP/repair.err' && grep -q 'line 12: Text \"Area\" overlaps' '$TMP/repair.err'" \
	"repair: the report is the render's error" || diag "$(grep -i layout "$TMP/repair.err" | head -5)"
ok "[ ! -s '$TMP/repair.layout' ]" "repair: the repaired script's render leaves no report"

# 10: a clean script (the repaired one) reports nothing in warn mode either.
cat "$SRC/tests/e2e/render/answers/layout-overlap/validate.1.txt" >"$TMP/clean.py"
"$VIDGEN" render -o "$TMP/clean.mp4" "$TMP/clean.py" >/dev/null 2>"$TMP/clean.err"
ok "[ $? -eq 0 ] && ! grep -q 'layout:' '$TMP/clean.err'" "a clean script reports nothing" ||
	diag "$(tail -5 "$TMP/clean.err")"

# 11-13: the demo's scripts (the ones that render) report nothing.
for s in binary-search/validate derivative/validate pythagoras/validate.1; do
	cp "$SRC/pipelines/answers/demo/$s.txt" "$TMP/demo.py"
	"$VIDGEN" render -o "$TMP/demo.mp4" "$TMP/demo.py" >/dev/null 2>"$TMP/demo.err"
	ok "[ $? -eq 0 ] && ! grep -q 'layout:' '$TMP/demo.err'" "demo $s: no layout problems" ||
		diag "$(grep 'layout:\|rror' "$TMP/demo.err" | head -8)"
done

# 14: progress moves while a narrated script renders: the render stage
# spans 70-90%, its fixed steps are 71% (checked) and 87% (rendered); the
# percentages in between come from the watcher.
run progress "Show live progress over several sentences"
ok "[ \"\$(cat '$TMP/progress.rc')\" -eq 0 ] &&
    [ \"\$(sed -n 's/^ *\\([0-9]*\\)% rendering_video\$/\\1/p' '$TMP/progress.err' |
          awk '\$1 > 71 && \$1 < 87' | sort -un | wc -l)\" -ge 2 ]" \
	"progress lines between 71% and 87% appear while rendering" ||
	diag "$(grep '%' "$TMP/progress.err" | tr '\n' ' ')"
# 15-16: vidgen render --layout: the same check on a user's own script.
"$VIDGEN" render --layout repair -o "$TMP/own.mp4" "$SRC/tests/e2e/render/answers/layout-overlap/validate.txt" \
	>"$TMP/own.out" 2>"$TMP/own.err"
ok "[ $? -ne 0 ] && grep -q 'overlaps' '$TMP/own.err'" "vidgen render --layout repair fails on overlapping text" ||
	diag "$(tail -5 "$TMP/own.err")"
"$VIDGEN" render --layout off -o "$TMP/own2.mp4" "$SRC/tests/e2e/render/answers/layout-overlap/validate.txt" \
	>"$TMP/own2.out" 2>"$TMP/own2.err"
ok "[ $? -eq 0 ] && [ -s '$TMP/own2.mp4' ]" "vidgen render --layout off renders it" ||
	diag "$(tail -5 "$TMP/own2.err")"

# 17-18: repair mode with the repairs used up: the "repaired" script (the
# same recorded answer again) still draws off screen. The last render keeps
# its video instead of failing the job.
run lastrep "Lay out a formula off screen" repair
ok "[ \"\$(cat '$TMP/lastrep.rc')\" -eq 0 ] && [ -n \"\$(find '$TMP/jobs.lastrep' -path '*/render/*.mp4' -size +1k)\" ] &&
    grep -q '^line 9: MathTex' '$TMP/lastrep.layout'" \
	"repair: problems left after the last repair keep the video (and layout.txt)" ||
	diag "$(tail -5 "$TMP/lastrep.err")"
ok "[ \"\$(awk '\$1 == \"validate\"' '$TMP/replay.log' | wc -l)\" -eq 2 ] &&
    grep -q 'layout: 2 problems left after the last repair; keeping the video' '$TMP/lastrep.err'" \
	"repair: one repair was asked for, then the log says the video is kept" ||
	diag "$(grep -i 'layout\|validate' "$TMP/lastrep.err" | tail -5)"
exit 0
