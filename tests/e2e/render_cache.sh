#!/bin/sh
# End-to-end: repairs re-render only what changed. A job keeps Manim's
# partial-movie cache across its attempts (stage/media): a script whose
# segment 3 (of 0-5) fails is repaired in that segment only, and the
# repaired attempt draws that segment's animation and takes the five others
# from the cache; the video is right, and the cache is gone once the stage
# has it. The static check and the sandbox still ran on both attempts.
. "$(dirname "$0")/lib.sh"

VIDGEN=${VIDGEN:-./vidgen}
CFG=${top_srcdir:-.}/tests/e2e/render/repair.cfg
render_setup 6

"$VIDGEN" run -p "$CFG" -o "$TMP/jobs" --json "Render six segments where the fourth is repaired" \
	>"$TMP/c.json" 2>"$TMP/c.err"
ok $? "the job completes after one repair" || diag "$(tail -10 "$TMP/c.err")"
first=$(grep -o '480p15 animations: [0-9]* rendered, [0-9]* from the cache' "$TMP/c.err" | sed -n 1p)
second=$(grep -o '480p15 animations: [0-9]* rendered, [0-9]* from the cache' "$TMP/c.err" | sed -n 2p)
drawn() { echo "$1" | awk '{print $3}'; }
cached() { echo "$1" | awk '{print $5}'; }
ok "[ \"\$(cached '$first')\" = 0 ] && [ \"\$(drawn '$first')\" -ge 6 ]" \
	"the first attempt draws every animation ($first)"
ok "[ \"\$(drawn '$second')\" -ge 1 ] && [ \"\$(drawn '$second')\" -lt \"\$(drawn '$first')\" ] && [ \"\$(cached '$second')\" -ge 5 ]" \
	"the repair draws only the changed segment's animations ($second)"
video=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["video_url"] or "")' "$TMP/c.json" 2>/dev/null)
segs=$(find "$TMP/jobs" -path '*/render/work1.*' -name segments.txt)
colours=""
for t in $(awk '{printf "%.2f ", ($2 + $3) / 2}' "$segs"); do
	colours="$colours$(ffmpeg -v error -ss "$t" -i "$video" -frames:v 1 -vf scale=1:1 -f rawvideo \
		-pix_fmt rgb24 - | od -An -tu1 | awk '{print ($1 > 80 && $2 < 80) ? "red" : "other"}') "
done
ok "[ '$colours' = 'red red red red red red ' ] && [ \"\$(awk '\$4 == \"rendered\"' '$segs' | wc -l)\" -eq 6 ]" \
	"the video made of cached and new parts shows all six segments ($colours)"
ok "[ \"\$(find '$TMP/jobs' -path '*/render/work*' -name check.log | wc -l)\" -eq 2 ] &&
    [ \"\$(grep -c 'SANDBOX' '$TMP/c.err')\" -eq 0 ] && [ \"\$(find '$TMP/jobs' -path '*/render/work*' -name render.log | wc -l)\" -eq 2 ]" \
	"both attempts were checked and rendered in the sandbox"
ok "[ ! -e \"\$(dirname '$segs')/../media\" ]" "the cache is removed once the stage has its video"
exit 0
