#!/bin/sh
# End-to-end: the repair loop through `vidgen run`. A script that fails to
# render goes back to the validation stage with the error, up to
# on_error.max times; then the job fails with the last real error. Also:
# a host without a usable bubblewrap refuses (required) or degrades
# loudly (best-effort).
. "$(dirname "$0")/lib.sh"

VIDGEN=${VIDGEN:-./vidgen}
VENV=${VIDGEN_MANIM_VENV:-/opt/vidgen/venv}
CFG=${top_srcdir:-.}/tests/e2e/render/repair.cfg
N=11
plan $N
if [ ! -x "$VENV/bin/python" ]; then
	for i in $(seq 1 $N); do skip "no Manim venv at $VENV"; done
	exit 0
fi
export RENDER_TEST_VIDEOS="$TMP/videos" VIDGEN_REPLAY_LOG="$TMP/replay.log"
mkdir -p "$TMP/videos"

# calls STAGE: how many times the replay plugin answered for STAGE.
calls() {
	awk -v s="$1" '$1 == s' "$TMP/replay.log" | wc -l
}

# 1-5: broken -> repaired -> rendered.
: >"$TMP/replay.log"
"$VIDGEN" run -p "$CFG" -o "$TMP/jobs" --json "Render a circle that gets repaired" \
	>"$TMP/ok.json" 2>"$TMP/ok.err"
ok $? "the job completes after a repair" || diag "$(tail -20 "$TMP/ok.err")"
ok "[ \"\$(calls validate)\" -eq 2 ] && [ \"\$(calls explain)\" -eq 1 ]" \
	"validate ran twice (first try + one repair), explain once"
ok "grep -q \"unexpected keyword argument 'scale'\" '$TMP/ok.err'" \
	"the render error (with its cause) was logged before the repair"
video=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["video_url"] or "")' "$TMP/ok.json" 2>/dev/null)
ok "[ -s '$video' ] && ffprobe -v error -show_entries stream=codec_name -of csv=p=0 '$video' | tr '\n' ' ' | grep -q 'h264 aac'" \
	"the repaired script's video is stored (H.264 + AAC)"
ok "python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(d[\"status\"] != \"completed\" or d[\"progress\"] != 100)' '$TMP/ok.json'" \
	"status completed, progress 100"

# 6-8: broken -> still broken -> still broken: the job fails after two
# repairs with the last error.
: >"$TMP/replay.log"
"$VIDGEN" run -p "$CFG" -o "$TMP/jobs" --json "Render a circle that stays broken" \
	>"$TMP/bad.json" 2>"$TMP/bad.err"
ok "[ $? -ne 0 ]" "the job fails"
ok "[ \"\$(calls validate)\" -eq 3 ]" "validate ran three times (max = 2 repairs)" ||
	diag "$(cat "$TMP/replay.log")"
ok "grep -q \"undefined_distance\" '$TMP/bad.err' && grep -q 'line 8' '$TMP/bad.err'" \
	"the failure names the last script's error and its line" || diag "$(tail -5 "$TMP/bad.err")"

# 9-10: no usable bubblewrap, sandbox required: a loud refusal, and no
# repair (the script is not at fault).
: >"$TMP/replay.log"
RENDER_TEST_BWRAP=/bin/false "$VIDGEN" run -p "$CFG" -o "$TMP/jobs" \
	"Render a circle that gets repaired" >/dev/null 2>"$TMP/nobwrap.err"
ok "[ $? -ne 0 ] && grep -q 'SANDBOX UNAVAILABLE' '$TMP/nobwrap.err'" \
	"sandbox = required refuses to render without bubblewrap"
ok "[ \"\$(calls validate)\" -eq 1 ]" "an infrastructure failure does not ask for a repair"

# 11: best-effort renders anyway and says so.
RENDER_TEST_BWRAP=/bin/false RENDER_TEST_SANDBOX=best-effort "$VIDGEN" run -p "$CFG" \
	-o "$TMP/jobs" "Render a circle that gets repaired" >/dev/null 2>"$TMP/besteffort.err"
ok "[ $? -eq 0 ] && grep -q 'SANDBOX UNAVAILABLE' '$TMP/besteffort.err'" \
	"sandbox = best-effort renders with a loud warning" || diag "$(tail -5 "$TMP/besteffort.err")"
exit 0
