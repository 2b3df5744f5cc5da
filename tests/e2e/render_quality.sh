#!/bin/sh
# End-to-end: draft, then final. Attempts render at draft_quality (480p15)
# until one is clean; then one final render at the stage's quality makes
# the video: a script that fails once is repaired at draft quality, and the
# job's video is 1080p60 while the clean attempt's draft (kept as
# draft.mp4) is 480p15, both of the same length.
. "$(dirname "$0")/lib.sh"

VIDGEN=${VIDGEN:-./vidgen}
CFG=${top_srcdir:-.}/tests/e2e/render/repair.cfg
render_setup 5
# geometry FILE: "WIDTHxHEIGHT@RATE" of its video stream.
geometry() {
	ffprobe -v error -select_streams v:0 -show_entries stream=width,height,r_frame_rate \
		-of csv=p=0 "$1" | awk -F, '{print $1 "x" $2 "@" $3}'
}
length() {
	ffprobe -v error -select_streams v:0 -show_entries stream=duration -of csv=p=0 "$1"
}

RENDER_TEST_QUALITY=1080p60 "$VIDGEN" run -p "$CFG" -o "$TMP/jobs" --json \
	"Render a circle that gets repaired" >"$TMP/q.json" 2>"$TMP/q.err"
ok $? "the job completes after one repair" || diag "$(tail -10 "$TMP/q.err")"
video=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["video_url"] or "")' "$TMP/q.json" 2>/dev/null)
ok "[ \"\$(geometry '$video')\" = '1920x1080@60/1' ]" \
	"the final video is 1080p60 ($(geometry "$video" 2>/dev/null))"
draft=$(find "$TMP/jobs" -path '*/render/work*' -name draft.mp4)
ok "[ \"\$(echo '$draft' | wc -w)\" -eq 1 ] && [ \"\$(geometry '$draft')\" = '854x480@15/1' ]" \
	"one draft, of the clean attempt, at 480p15 ($(geometry "$draft" 2>/dev/null))"
ok "[ \"\$(grep -c 'the draft at 480p15 rendered cleanly; final render at 1080p60' '$TMP/q.err')\" -eq 1 ] &&
    grep -q \"unexpected keyword argument 'scale'\" '$TMP/q.err'" \
	"the failed attempt went to repair from its draft, without a final render"
ok "python3 -c 'import sys; sys.exit(abs(float(sys.argv[1]) - float(sys.argv[2])) > 1 / 15 + 1e-3)' \
    \"\$(length '$draft')\" \"\$(length '$video')\"" \
	"the final lasts as long as the draft (within a frame: $(length "$draft" 2>/dev/null) s, $(length "$video" 2>/dev/null) s)"
exit 0
