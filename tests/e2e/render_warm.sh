#!/bin/sh
# End-to-end: a sliced render with a warm cache (doc/render.md, "Sliced,
# parallel render" and "Repairs re-render only what changed"), through the
# render wrapper with one media folder, as a job's attempts share it. The
# same narrated script rendered again in k = 2 forks no slice, takes every
# animation from the cache and its soundtrack from the media folder: the
# same video and audio packets. The script with only its last segment
# changed draws that segment's animations only, in slices that start
# there (the 15 animations before it are taken from the cache by the pass
# itself), and the video shows the change: the same packets as the
# changed script's rendered with an empty cache. The second segment
# changed instead: the slice that draws it ends with it, and the pass takes
# the segments after it from the cache, with the same packets again.
. "$(dirname "$0")/lib.sh"

PY=${VIDGEN_MANIM_VENV:-/opt/vidgen/venv}/bin/python
plan 6
if [ ! -x "$PY" ] || ! command -v espeak-ng >/dev/null; then
	for i in 1 2 3 4 5 6; do skip "no Manim venv or no espeak-ng"; done
	exit 0
fi
HERE=${top_srcdir:-.}/tests/e2e/render
PYDIR=${top_srcdir:-.}/plugins/manim/python
mkdir -p "$TMP/narr"
i=0
for text in "A blue square." "A blue circle." "A blue triangle." "And a large square to end with."; do
	espeak-ng -w "$TMP/narr/seg00$i.wav" "$text" || exit 1
	i=$((i + 1))
done
python3 - "$TMP/narr" <<'PY'
import json, sys, wave
d = sys.argv[1]
segs = []
for i in range(4):
    with wave.open("%s/seg00%d.wav" % (d, i)) as w:
        segs.append({"index": i, "text": "segment %d" % i, "file": "seg00%d.wav" % i,
                     "duration": round(w.getnframes() / w.getframerate(), 3)})
json.dump({"segments": segs}, open(d + "/narration.json", "w"))
PY
# render NAME COLOR [MEDIA]: the wrapper in k = 2 slices, media folder
# shared unless named.
render() {
	mkdir -p "$TMP/$1"
	cp "$HERE/warm.py" "$TMP/$1/scene.py"
	(cd "$TMP" && COLOR=$2 VIDGEN_NARRATION=$TMP/narr/narration.json "$PY" -E -s -B "$PYDIR/vidgen_render.py" \
		"$TMP/$1/scene.py" Warm 480p15 "$TMP/$1/scene.mp4" "$TMP/$1/error.txt" \
		"progress=$TMP/$1/progress.txt" segments=fallback stall=60 "media=$TMP/${3:-media}" jobs=2) \
		>"$TMP/$1.log" 2>&1
}
stat() { awk -v k="$2" '$1 == k { print $2 } $3 == k { print $4 }' "$TMP/$1/stats.txt"; }
md5() { ffmpeg -v error -i "$TMP/$1/scene.mp4" -map "0:$2" -c copy -f md5 - 2>/dev/null; }
render cold red
render warm red
ok "[ \"\$(stat cold rendered)\" -ge 10 ] && [ \"\$(stat cold cached)\" -eq 0 ] && [ \"\$(stat cold slices)\" -eq 2 ] &&
    [ \"\$(stat warm rendered)\" -eq 0 ] && [ \"\$(stat warm cached)\" -eq \"\$(stat cold rendered)\" ] && [ \"\$(stat warm slices)\" -eq 1 ]" \
	"the same script again forks no slice: every animation from the cache (cold: $(tr '\n' ' ' <"$TMP/cold/stats.txt"); warm: $(tr '\n' ' ' <"$TMP/warm/stats.txt"))" ||
	diag "$(tail -5 "$TMP/warm.log")"
ok "[ -n \"\$(md5 cold a)\" ] && [ \"\$(md5 cold v)\" = \"\$(md5 warm v)\" ] && [ \"\$(md5 cold a)\" = \"\$(md5 warm a)\" ] &&
    [ \"\$(ls '$TMP/media/soundtracks' | grep -c '\\.aac\$')\" -eq 1 ]" \
	"the same video and audio packets, the soundtrack kept once in the media folder"
render changed green
ranges=$(cat "$TMP"/changed/slice*.txt | wc -l)
ok "[ \"\$(stat changed rendered)\" -ge 2 ] && [ \"\$(stat changed rendered)\" -le 4 ] &&
    [ \$((\$(stat changed rendered) + \$(stat changed cached))) -eq \"\$(stat cold rendered)\" ] &&
    [ \"\$(cat '$TMP'/changed/slice*.stats | awk '{ n += \$1 } END { print n }')\" -eq \"\$(stat changed rendered)\" ] &&
    [ \"\$ranges\" -le 4 ]" \
	"the last segment changed: only its animations drawn, by slices that start there ($(tr '\n' ' ' <"$TMP/changed/stats.txt"); the slices' ranges: $ranges animations)" ||
	diag "$(tail -5 "$TMP/changed.log")"
end=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$TMP/changed/scene.mp4")
colour() {
	ffmpeg -v error -ss "$2" -i "$TMP/$1/scene.mp4" -frames:v 1 -vf crop=iw/4:ih/4,scale=1:1 -f rawvideo -pix_fmt rgb24 - |
		od -An -tu1 | awk '{ print ($2 > $1 + 40) ? "green" : ($1 > $2 + 40) ? "red" : "other" }'
}
t=$(python3 -c "print(float('$end') - 0.2)")
ok "[ \"\$(colour warm $t)\" = red ] && [ \"\$(colour changed $t)\" = green ]" \
	"the video shows the change (at ${t} s: $(colour warm "$t") before, $(colour changed "$t") after)"
render fresh green fresh-media
ok "[ -n \"\$(md5 fresh v)\" ] && [ \"\$(md5 changed v)\" = \"\$(md5 fresh v)\" ] && [ \"\$(md5 changed a)\" = \"\$(md5 fresh a)\" ] &&
    [ \"\$(stat fresh cached)\" -eq 0 ]" \
	"the repaired video is, packet for packet, the changed script's rendered with an empty cache"
# The second segment changed: the slice that draws it ends there, and the
# pass takes the two segments after it from the cache.
SECOND=green render middle red
SECOND=green render middle-fresh red middle-media
ranges=$(cat "$TMP"/middle/slice*.txt | wc -l)
ok "[ \"\$(stat middle rendered)\" -ge 2 ] && [ \"\$(stat middle rendered)\" -le 5 ] && [ \"\$ranges\" -le 5 ] &&
    [ -n \"\$(md5 middle v)\" ] && [ \"\$(md5 middle v)\" = \"\$(md5 middle-fresh v)\" ] && [ \"\$(md5 middle a)\" = \"\$(md5 middle-fresh a)\" ]" \
	"the second segment changed: drawn by a slice that ends with it, the rest from the cache, the same packets as with an empty cache ($(tr '\n' ' ' <"$TMP/middle/stats.txt"); the slices' ranges: $ranges animations)" ||
	diag "$(tail -5 "$TMP/middle.log")"
exit 0
