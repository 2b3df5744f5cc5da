#!/bin/sh
# End-to-end: a failed narration segment never loses the video. A script
# whose segment 3 (of 0-5) raises half-way through a play() on every
# attempt goes back for repair with that segment's error and code; after
# the last repair the job completes, segment 3 replaced by a card with its
# text over its narration, the other segments rendered in step with their
# audio, and the job's message names segment 3. With on_segment_failure =
# "fail" the same job fails naming the segment; a script that fails before
# its first segment fails after its repairs.
. "$(dirname "$0")/lib.sh"

VIDGEN=${VIDGEN:-./vidgen}
CFG=${top_srcdir:-.}/tests/e2e/render/repair.cfg
render_setup 11

field() { # field FILE NAME: a string field of a VideoResponse
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]] or "")' "$1" "$2" 2>/dev/null
}
# rgb VIDEO T: the average colour of the frame at T s, "R G B".
rgb() {
	ffmpeg -v error -ss "$2" -i "$1" -frames:v 1 -vf scale=1:1 -f rawvideo \
		-pix_fmt rgb24 - | od -An -tu1 | tr -s ' ' | sed 's/^ //'
}

# 1-8: fallback (the shipped behaviour).
: >"$TMP/replay.log"
"$VIDGEN" run -p "$CFG" -o "$TMP/jobs" --json "Render six segments where the fourth always fails" \
	>"$TMP/fb.json" 2>"$TMP/fb.err"
ok $? "the job completes although segment 3 fails on every attempt" ||
	diag "$(tail -20 "$TMP/fb.err")"
ok "[ \"\$(field '$TMP/fb.json' status)\" = completed ] && [ \"\$(calls validate)\" -eq 3 ]" \
	"status completed, after both repairs were asked for" || diag "$(cat "$TMP/replay.log")"
ok "grep -q 'segment 3 (script lines 13-23): NameError: name .undefined_distance. is not defined' '$TMP/fb.err' &&
    grep -q '  21:                     m.shift(UP \\* undefined_distance)' '$TMP/fb.err'" \
	"the repair is asked with the segment, its lines, its error and its code" ||
	diag "$(grep -n 'segment' "$TMP/fb.err" | head -5)"
ok "field '$TMP/fb.json' message | grep -q '^Video generated successfully; narration segment 3 could not be rendered'" \
	"the job's message names segment 3" || diag "$(field "$TMP/fb.json" message)"
segs=$(find "$TMP/jobs" -path '*/render/work*' -name segments.txt | sort | tail -1)
ok "[ \"\$(awk '{printf \"%s:%s \", \$1, \$4}' '$segs')\" = '0:rendered 1:rendered 2:rendered 3:fallback 4:rendered 5:rendered ' ]" \
	"segments 0-2 and 4-5 rendered, 3 fell back" || diag "$(cat "$segs")"
video=$(field "$TMP/fb.json" video_url)
colours=""
for t in $(awk '{printf "%.2f ", ($2 + $3) / 2}' "$segs"); do
	colours="$colours$(rgb "$video" "$t" | awk '{print ($1 > 80 && $2 < 80) ? "red" : ($1 < 30 && $2 < 30) ? "card" : "other"}') "
done
ok "[ '$colours' = 'red red red card red red ' ]" \
	"the video shows the squares, and a plain dark card for segment 3" || diag "$colours"
# Each segment starts when the audio of those before it has ended (plus at
# most one frame each, as the helper waits out whole frames).
nar=$(find "$TMP/jobs" -path '*/narrate/narration.json' | head -1)
ok "python3 - '$nar' '$segs' <<'PY'
import json, sys
d = [s['duration'] for s in json.load(open(sys.argv[1]))['segments']]
starts = [float(l.split()[1]) for l in open(sys.argv[2])]
ok = all(-0.01 <= starts[i] - sum(d[:i]) <= (i + 1) * 2 / 15.0 for i in range(len(d)))
sys.exit(0 if ok and len(starts) == 6 else 1)
PY" "each segment starts where the narration before it ends (the fallback kept the timing)" ||
	diag "$(cat "$segs")"
ok "python3 -c 'import sys; sys.exit(abs(float(sys.argv[1]) - float(sys.argv[2])) > 0.1)' \
    \"\$(ffprobe -v error -show_entries format=duration -of csv=p=0 '$video')\" \"\$(tail -1 '$segs' | cut -d' ' -f3)\"" \
	"the video lasts until the last segment's end" 

# 9: on_segment_failure = fail: the job fails, naming the segment.
: >"$TMP/replay.log"
RENDER_TEST_SEGMENTS=fail "$VIDGEN" run -p "$CFG" -o "$TMP/jobs" --json \
	"Render six segments where the fourth always fails" >"$TMP/fail.json" 2>"$TMP/fail.err"
ok "[ $? -ne 0 ] && field '$TMP/fail.json' message | grep -q 'segment 3 (script lines 13-23): NameError'" \
	"on_segment_failure = fail: the job fails with the segment's error" ||
	diag "$(field "$TMP/fail.json" message | head -3)"

# 10-11: a script that fails before its first segment: repairs, then fails.
: >"$TMP/replay.log"
"$VIDGEN" run -p "$CFG" -o "$TMP/jobs" --json "Render segments after a failure at the start" \
	>"$TMP/early.json" 2>"$TMP/early.err"
ok "[ $? -ne 0 ] && [ \"\$(field '$TMP/early.json' status)\" = failed ] && [ \"\$(calls validate)\" -eq 3 ]" \
	"a failure before the first segment is repaired, then fails the job" ||
	diag "$(field "$TMP/early.json" message | head -3)"
ok "field '$TMP/early.json' message | grep -q 'zero_width' && ! field '$TMP/early.json' message | grep -q '^segment'" \
	"its message is the script's error, not a segment's"
exit 0
