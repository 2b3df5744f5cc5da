#!/bin/sh
# End-to-end: captions and poster. `vidgen render --narration-file` writes
# OUT.vtt, OUT.srt and OUT.jpg beside OUT.mp4; ffmpeg reads both caption
# files, and their cues hold the narration in cues of two lines of 42
# characters, each segment's first cue where the segment is heard (within a
# frame): where its narration block started (the wrapper's segments.txt),
# or, for a script without the helper, one segment after the other from 0
# with the last frame held to the narration's end. A job whose segment 3
# falls back to a card (vidgen run) stores {id}.vtt, .srt, .jpg and
# .thumb.jpg beside {id}.mp4 and lists them in its VideoResponse, the
# fallback segment's cue in place. The posters are not uniform images.
. "$(dirname "$0")/lib.sh"

VIDGEN=${VIDGEN:-./vidgen}
CFG=${top_srcdir:-.}/tests/e2e/render/repair.cfg
CHECK=${top_srcdir:-.}/tests/e2e/render/captions.py
PY=${VIDGEN_MANIM_VENV:-/opt/vidgen/venv}/bin/python
render_setup 14
mkdir -p "$TMP/jobs"
export TMPDIR="$TMP/jobs"

field() { # field FILE NAME: a string field of a VideoResponse
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]] or "")' "$1" "$2" 2>/dev/null
}
# image_stats FILE: "WIDTH STDDEV" of the picture's grey levels (Pillow and
# numpy from the Manim venv)
image_stats() {
	"$PY" -c 'import sys, numpy; from PIL import Image
a = numpy.asarray(Image.open(sys.argv[1]).convert("L"), dtype=float)
print(a.shape[1], round(float(a.std()), 2))' "$1"
}
not_uniform() { # not_uniform FILE: a picture, grey levels spread (std > 5)
	s=$(image_stats "$1") && [ "$(echo "$s" | awk '{print ($2 > 5)}')" = 1 ]
}

cp "${top_srcdir:-.}/tests/e2e/render/synced.py" "$TMP/synced.py"
cat >"$TMP/text.txt" <<'TXT'
Here is the Pythagorean theorem. The two legs of a right triangle, each squared and added together, always give the square of the hypotenuse, the side across from the right angle, whatever the triangle's size!
Does it always hold? Yes, for every right triangle.
TXT

# 1-5: a script using the narration helper.
out=$("$VIDGEN" render -v Matthew --narration-file "$TMP/text.txt" -o "$TMP/synced.mp4" \
	--keep "$TMP/synced.py" 2>"$TMP/synced.err")
rc=$?
ok "[ $rc -eq 0 ] && [ '$out' = '$TMP/synced.mp4' ] && [ -s '$TMP/synced.vtt' ] && [ -s '$TMP/synced.srt' ] && [ -s '$TMP/synced.jpg' ]" \
	"vidgen render writes OUT.vtt, OUT.srt and OUT.jpg beside OUT.mp4" || diag "$(tail -5 "$TMP/synced.err"; ls "$TMP")"
work=$(sed -n 's/.*work directory kept: //p' "$TMP/synced.err")
nar="$work/narrate/narration.json"
segs=$(find "$work" -path '*/render/work*' -name segments.txt | head -1)
ok "python3 '$CHECK' '$TMP/synced.vtt' '$nar' '$segs' 15 '$TMP/synced.mp4' >'$TMP/vtt.out'" \
	"WebVTT: ffmpeg reads it; each segment's first cue starts where it is heard, within a frame" ||
	diag "$(cat "$TMP/vtt.out")"
ok "python3 '$CHECK' '$TMP/synced.srt' '$nar' '$segs' 15 '$TMP/synced.mp4' >'$TMP/srt.out'" \
	"SRT: the same cues" || diag "$(cat "$TMP/srt.out")"
ok "[ \$(grep -c -- '-->' '$TMP/synced.vtt') -ge 6 ] && head -1 '$TMP/synced.vtt' | grep -qx WEBVTT" \
	"the long sentence is cut into several cues" || diag "$(cat "$TMP/synced.vtt")"
ok "not_uniform '$TMP/synced.jpg'" "the poster is not a uniform picture" ||
	diag "poster: $(image_stats "$TMP/synced.jpg")"

# 6-8: no narration helper, the narration longer than the animation: laid
# under the video from 0 and the last frame held to its end.
cat >"$TMP/plain.py" <<'PY'
from manim import *


class Plain(Scene):
    def construct(self):
        self.play(Create(Square(color=BLUE)), run_time=1)
PY
"$VIDGEN" render --narration-file "$TMP/text.txt" -o "$TMP/plain.mp4" --keep "$TMP/plain.py" \
	>/dev/null 2>"$TMP/plain.err"
work=$(sed -n 's/.*work directory kept: //p' "$TMP/plain.err")
ok "python3 '$CHECK' '$TMP/plain.vtt' '$work/narrate/narration.json' laid 15 '$TMP/plain.mp4' >'$TMP/plain.out'" \
	"no helper: segments one after the other from 0, within a frame" ||
	diag "$(cat "$TMP/plain.out" "$TMP/plain.err" | tail -8)"
last=$(ffmpeg -v error -i "$TMP/plain.vtt" -f srt - | sed -n 's/.* --> \([0-9:]*\),\([0-9]*\)$/\1.\2/p' | tail -1)
len=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$TMP/plain.mp4")
ok "python3 -c 'import sys; h, m, s = sys.argv[1].split(\":\"); t = int(h) * 3600 + int(m) * 60 + float(s); sys.exit(not (abs(t - float(sys.argv[2])) <= 2 / 15.0 and t > 4))' '$last' '$len'" \
	"the held tail: the last cue ends with the video ($last, video $len)"
ok "not_uniform '$TMP/plain.jpg'" "its poster is not uniform either" ||
	diag "poster: $(image_stats "$TMP/plain.jpg")"

# 9-14: vidgen run, segment 3 a fallback card.
"$VIDGEN" run -p "$CFG" -o "$TMP/jobs" --json "Render six segments where the fourth always fails" \
	>"$TMP/fb.json" 2>"$TMP/fb.err"
ok "[ \"\$(field '$TMP/fb.json' status)\" = completed ]" "the job with a fallback segment completes" ||
	diag "$(tail -10 "$TMP/fb.err")"
id=$(field "$TMP/fb.json" video_id)
ok "[ \"\$(field '$TMP/fb.json' captions_url)\" = '$TMP/videos/$id.vtt' ] &&
    [ \"\$(field '$TMP/fb.json' captions_srt_url)\" = '$TMP/videos/$id.srt' ] &&
    [ \"\$(field '$TMP/fb.json' poster_url)\" = '$TMP/videos/$id.jpg' ] &&
    [ \"\$(field '$TMP/fb.json' thumbnail_url)\" = '$TMP/videos/$id.thumb.jpg' ] &&
    [ -s '$TMP/videos/$id.vtt' ] && [ -s '$TMP/videos/$id.srt' ] && [ -s '$TMP/videos/$id.jpg' ] &&
    [ -s '$TMP/videos/$id.thumb.jpg' ]" \
	"the file store keeps {id}.vtt, .srt, .jpg, .thumb.jpg beside {id}.mp4; the job lists them" ||
	diag "$(python3 -m json.tool "$TMP/fb.json" | tail -6; ls "$TMP/videos")"
segs=$(find "$TMP/jobs/$id" -path '*/render/work*' -name segments.txt | sort | tail -1)
nar=$(find "$TMP/jobs/$id/stages/narrate" -name narration.json | head -1)
ok "grep -q '^3 .* fallback' '$segs' && python3 '$CHECK' '$TMP/videos/$id.vtt' '$nar' '$segs' 15 '$TMP/videos/$id.mp4' >'$TMP/fb.out'" \
	"the stored captions follow the video, the fallback card's segment in place" ||
	diag "$(cat "$TMP/fb.out" "$segs")"
ok "python3 '$CHECK' '$TMP/videos/$id.srt' '$nar' '$segs' 15 '$TMP/videos/$id.mp4' >'$TMP/fb2.out'" \
	"and the stored SRT" || diag "$(cat "$TMP/fb2.out")"
ok "not_uniform '$TMP/videos/$id.jpg'" "the stored poster is not uniform" ||
	diag "poster: $(image_stats "$TMP/videos/$id.jpg")"
ok "[ \"\$(image_stats '$TMP/videos/$id.thumb.jpg' | cut -d' ' -f1)\" = 320 ]" \
	"the thumbnail is 320 pixels wide" || diag "$(image_stats "$TMP/videos/$id.thumb.jpg")"
