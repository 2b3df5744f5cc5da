#!/bin/sh
# End-to-end: the sliced, parallel render. The same narrated script
# rendered in one process (render_jobs = 1) and in 2 and 4 slices: the same
# video stream, byte for byte (the slices' partial movies joined by stream
# copy: one x264 header per animation, none re-encoded), the same length,
# and the narration at the same offsets; the slices' summed progress is
# live and monotonic.
. "$(dirname "$0")/lib.sh"

VIDGEN=${VIDGEN:-./vidgen}
CFG=${top_srcdir:-.}/tests/e2e/render/repair.cfg
render_setup 7
PY=${VIDGEN_MANIM_VENV:-/opt/vidgen/venv}/bin/python

for k in 1 2 4; do
	RENDER_TEST_JOBS=$k "$VIDGEN" run -p "$CFG" -o "$TMP/jobs$k" --json "Render a scene in slices" \
		>"$TMP/k$k.json" 2>"$TMP/k$k.err"
	echo $? >"$TMP/k$k.rc"
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["video_url"] or "")' \
		"$TMP/k$k.json" >"$TMP/k$k.video" 2>/dev/null
done
v1=$(cat "$TMP/k1.video"); v2=$(cat "$TMP/k2.video"); v4=$(cat "$TMP/k4.video")
ok "[ \"\$(cat '$TMP/k1.rc' '$TMP/k2.rc' '$TMP/k4.rc' | tr -d '\n')\" = 000 ] &&
    grep -q 'in 1 slice, ' '$TMP/k1.err' && grep -q 'in 2 slices, ' '$TMP/k2.err' && grep -q 'in 4 slices, ' '$TMP/k4.err'" \
	"k = 1, 2, 4: each job completes, rendered in that many slices" ||
	diag "$(grep -h 'slice\|failed' "$TMP"/k*.err | head -8)"
vmd5() { ffmpeg -v error -i "$1" -map 0:v -c copy -f md5 - 2>/dev/null; }
ok "[ -n \"\$(vmd5 '$v1')\" ] && [ \"\$(vmd5 '$v1')\" = \"\$(vmd5 '$v2')\" ] && [ \"\$(vmd5 '$v1')\" = \"\$(vmd5 '$v4')\" ]" \
	"the video stream is the same, packet for packet"
anims=$(grep -o 'animations: [0-9]* rendered, [0-9]* from' "$TMP/k1.err" | awk '{print $2 + $4}')
x264() { LC_ALL=C grep -a -o 'x264 - core' "$1" | wc -l; }
ok "[ \"\$(x264 '$v2')\" -eq '$anims' ] && [ \"\$(x264 '$v4')\" -eq '$anims' ] && [ '$anims' -ge 9 ]" \
	"the join re-encodes nothing: one x264 header per partial movie ($anims animations; k=2: $(x264 "$v2"), k=4: $(x264 "$v4"))"
len() { ffprobe -v error -show_entries format=duration -of csv=p=0 "$1"; }
ok "python3 -c 'import sys; a = [float(x) for x in sys.argv[1:]]; sys.exit(max(a) - min(a) > 4 / 15.0)' \
    \"\$(len '$v1')\" \"\$(len '$v2')\" \"\$(len '$v4')\"" \
	"the same duration ($(len "$v1") s, $(len "$v2") s, $(len "$v4") s)"
# The narration at the same offsets: the decoded soundtracks line up
# (cross-correlation peak at lag 0) and match.
ok "'$PY' - '$v1' '$v2' '$v4' <<'PY'
import subprocess, sys
import numpy as np
def pcm(path):
    raw = subprocess.run(['ffmpeg', '-v', 'error', '-i', path, '-map', '0:a', '-ac', '1',
                          '-ar', '8000', '-f', 's16le', '-'], capture_output=True).stdout
    return np.frombuffer(raw, dtype=np.int16).astype(float)
ref = pcm(sys.argv[1])
ok = len(ref) > 8000
for other in sys.argv[2:]:
    x = pcm(other)
    n = min(len(ref), len(x))
    c = np.correlate(x[:n], ref[:n], mode='full')
    lag = int(np.argmax(c)) - (n - 1)
    err = np.abs(x[:n] - ref[:n]).mean() / (np.abs(ref[:n]).mean() + 1e-9)
    ok = ok and abs(lag) <= 8 and err < 0.05
sys.exit(0 if ok else 1)
PY" "the narration is at the same offsets in all three"
# The parent sums its slices' progress into progress.txt, which the plugin
# follows: live (several steps) and never going back.
prog=$(find "$TMP/jobs2" -path '*/render/work*' -name progress.txt | head -1)
ok "awk '\$1 != \"p\" { exit 1 } \$2 < a || \$4 < t { exit 1 } { a = \$2; t = \$4; if (t != last) steps++; last = t }
    END { exit !(steps >= 3 && t > 9) }' '$prog'" \
	"the slices' summed progress is live and never goes back ($(sort -u "$prog" 2>/dev/null | wc -l) distinct lines, last: $(tail -1 "$prog" 2>/dev/null))"
ok "[ ! -e \"\$(find '$TMP/jobs2' -path '*/stages/render' -type d)/media\" ]" \
	"the cache (with the slices' own text and TeX folders) is removed afterwards"
exit 0
