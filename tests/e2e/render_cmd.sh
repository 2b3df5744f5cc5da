#!/bin/sh
# End-to-end: `vidgen render` on correct scripts, checked with ffprobe:
# H.264 + AAC, faststart, narration in step, presets, and clear errors.
. "$(dirname "$0")/lib.sh"

VIDGEN=${VIDGEN:-./vidgen}
VENV=${VIDGEN_MANIM_VENV:-/opt/vidgen/venv}
N=18
plan $N
if [ ! -x "$VENV/bin/python" ] || ! command -v ffprobe >/dev/null; then
	for i in $(seq 1 $N); do skip "no Manim venv at $VENV or no ffprobe"; done
	exit 0
fi
mkdir -p "$TMP/jobs"
export TMPDIR="$TMP/jobs"

# probe FILE ENTRIES: one value per line, e.g. probe f.mp4 stream=codec_name
probe() {
	ffprobe -v error -show_entries "$2" -of default=nw=1:nk=1 "$1"
}
# within A B PCT: |A-B| <= PCT% of B
within() {
	python3 -c "import sys; a, b, p = map(float, sys.argv[1:]); sys.exit(abs(a - b) > b * p / 100)" "$1" "$2" "$3"
}
ge() {
	python3 -c "import sys; a, b = map(float, sys.argv[1:]); sys.exit(not a >= b)" "$1" "$2"
}

cp "${top_srcdir:-.}/tests/e2e/render/synced.py" "$TMP/synced.py"
cat >"$TMP/text.txt" <<'TXT'
Here is the Pythagorean theorem. The two legs squared add up to the hypotenuse squared!
Does it always hold? Yes, for every right triangle.
TXT

# 1-8: a script using the narration helper.
out=$("$VIDGEN" render -v Matthew --narration-file "$TMP/text.txt" -o "$TMP/synced.mp4" \
	--keep "$TMP/synced.py" 2>"$TMP/synced.err")
ok $? "vidgen render exits 0" || diag "$(cat "$TMP/synced.err")"
ok "[ '$out' = '$TMP/synced.mp4' ] && [ -s '$TMP/synced.mp4' ]" "prints the output path"
work=$(sed -n 's/.*work directory kept: //p' "$TMP/synced.err")
nar="$work/narrate/narration.json"
ok "python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d[\"segments\"]) == 4 and d[\"voice\"] == \"Matthew\"' '$nar'" \
	"the narration has one segment per sentence"
total=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["total_duration"])' "$nar" 2>/dev/null || echo 0)
ok "[ \"\$(probe '$TMP/synced.mp4' stream=codec_name | tr '\n' ' ')\" = 'h264 aac ' ]" \
	"H.264 video and AAC audio"
vdur=$(probe "$TMP/synced.mp4" stream=duration | sed -n 1p)
adur=$(probe "$TMP/synced.mp4" stream=duration | sed -n 2p)
ok "within '$adur' '$vdur' 10" "audio ($adur s) within 10% of video ($vdur s)"
ok "ge '$vdur' '$total'" "the video ($vdur s) is not shorter than the narration ($total s)"
ok "python3 - '$TMP/synced.mp4' <<'PY'
import struct, sys
f = open(sys.argv[1], 'rb'); order = []
while True:
    h = f.read(8)
    if len(h) < 8: break
    size, kind = struct.unpack('>I4s', h)
    if size == 1: size = struct.unpack('>Q', f.read(8))[0]; f.seek(size - 16, 1)
    else: f.seek(size - 8, 1)
    order.append(kind)
    if size == 0: break
sys.exit(not (b'moov' in order and b'mdat' in order and order.index(b'moov') < order.index(b'mdat')))
PY" "faststart: the moov atom comes before the media data"
ok "[ \"\$(probe '$TMP/synced.mp4' stream=width,height,r_frame_rate | head -3 | tr '\n' ' ')\" = '854 480 15/1 ' ]" \
	"480p15 is the default preset"
rm -rf "$work"

# 9-10: a script that ignores the helper gets the narration laid under, and
# its last frame held until the narration ends.
cat >"$TMP/plain.py" <<'PY'
from manim import *


class Plain(Scene):
    def construct(self):
        self.play(Create(Square()), run_time=1)
PY
"$VIDGEN" render -n "$TMP/text.txt" -o "$TMP/plain.mp4" "$TMP/plain.py" >/dev/null 2>"$TMP/plain.err"
ok $? "a script without the helper renders" || diag "$(cat "$TMP/plain.err")"
vdur=$(probe "$TMP/plain.mp4" stream=duration | sed -n 1p)
adur=$(probe "$TMP/plain.mp4" stream=duration | sed -n 2p)
ok "ge '$vdur' '$total' && within '$adur' '$vdur' 2" \
	"its 1 s animation is held to the narration ($vdur s video, $adur s audio, $total s narrated)"

# 11-12: no narration: a silent AAC track, the animation's own length.
(cd "$TMP" && "$VIDGEN" render plain.py >"$TMP/silent.out" 2>"$TMP/silent.err")
ok "[ \"\$(cat '$TMP/silent.out')\" = '$TMP/plain.mp4' ]" "without -o the video is SCRIPT.mp4 beside it"
vdur=$(probe "$TMP/plain.mp4" stream=duration | sed -n 1p)
ok "[ \"\$(probe '$TMP/plain.mp4' stream=codec_name | tr '\n' ' ')\" = 'h264 aac ' ] && within '$vdur' 1 5" \
	"without narration: 1 s of video with a silent AAC track"

# 13: the 720p30 preset.
"$VIDGEN" render -q 720p30 -o "$TMP/hd.mp4" "$TMP/plain.py" >/dev/null 2>&1
ok "[ \"\$(probe '$TMP/hd.mp4' stream=width,height,r_frame_rate | head -3 | tr '\n' ' ')\" = '1280 720 30/1 ' ]" \
	"-q 720p30 renders 1280x720 at 30 fps"

# 14-16: errors say what is wrong.
"$VIDGEN" render -q 4k "$TMP/plain.py" >/dev/null 2>"$TMP/q.err"
ok "[ $? -ne 0 ] && grep -q '480p15|720p30|1080p60' '$TMP/q.err'" "an unknown preset is refused with the choices"
VIDGEN_MANIM_VENV=/nonexistent "$VIDGEN" render "$TMP/plain.py" >/dev/null 2>"$TMP/venv.err"
ok "[ $? -ne 0 ] && grep -q 'no Manim venv at /nonexistent' '$TMP/venv.err'" "a missing venv is named"
ok "[ -z \"\$(ls '$TMP/jobs')\" ]" "no work directory is left behind"
# 17-18: the helper without vidgen (plain manim, no VIDGEN_NARRATION):
# no segments, every segment 1 s long, so a script can be tried alone.
cat >"$TMP/alone.py" <<'PY'
from manim import *
from vidgen_narration import narration, segments


class Alone(Scene):
    def construct(self):
        assert segments() == []
        with narration(self, 3) as seg:
            assert seg.duration == 1.0 and seg.text == "" and seg.remaining >= 0.1
            self.play(Create(Dot()), run_time=0.25)
PY
(cd "$TMP" && PYTHONPATH="${top_srcdir:-.}/plugins/manim/python" "$VENV/bin/manim" render -ql \
	--disable_caching --media_dir "$TMP/alone" -o alone.mp4 alone.py Alone >"$TMP/alone.log" 2>&1)
ok $? "the helper works in a script rendered by plain manim" || diag "$(tail -5 "$TMP/alone.log")"
f=$(find "$TMP/alone" -name alone.mp4 | head -1)
d=$(probe "$f" stream=duration | sed -n 1p)
ok "ge '$d' 1.0 && within '$d' 1.0 10" "standalone, a segment lasts 1 s ($d s)"
exit 0
