#!/bin/sh
# End-to-end: scripts as models write them. A script with two Scene
# subclasses (Scene1_..., Scene2_...), scipy's integrate and special, and an
# `if __name__ == "__main__":` block passes the static check and renders
# both scenes, in the file's order, as consecutive parts of one video with
# the narration running on across them (the main guard's block never runs);
# `scene` still picks one. scipy's file readers and downloaders and an
# assignment to __name__ are refused.
. "$(dirname "$0")/lib.sh"

VIDGEN=${VIDGEN:-./vidgen}
CFG=${top_srcdir:-.}/tests/e2e/render/repair.cfg
CHECK="${VIDGEN_MANIM_VENV:-/opt/vidgen/venv}/bin/python ${top_srcdir:-.}/plugins/manim/python/vidgen_check.py"
render_setup 7

"$VIDGEN" run -p "$CFG" -o "$TMP/jobs" --json "Render a script with two scenes" \
	>"$TMP/s.json" 2>"$TMP/s.err"
ok "[ $? -eq 0 ] && [ \"\$(calls validate)\" -eq 1 ]" \
	"two scenes, scipy and a main guard: checked and rendered, no repair" ||
	diag "$(grep -i 'fail\|line' "$TMP/s.err" | head -5)"
video=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["video_url"] or "")' "$TMP/s.json" 2>/dev/null)
segs=$(find "$TMP/jobs" -path '*/render/work*' -name segments.txt | head -1)
nar=$(find "$TMP/jobs" -path '*/narrate/narration.json' | head -1)
rgb() {
	ffmpeg -v error -ss "$2" -i "$1" -frames:v 1 -vf scale=1:1 -f rawvideo -pix_fmt rgb24 - |
		od -An -tu1 | awk '{print ($1 > 80 && $3 < 80) ? "red" : ($3 > 80 && $1 < 80) ? "blue" : "other"}'
}
t0=$(awk '$1 == 0 {print $3 - 0.2}' "$segs"); t1=$(awk '$1 == 1 {print $3 - 0.2}' "$segs")
ok "[ \"\$(rgb '$video' $t0) \$(rgb '$video' $t1)\" = 'red blue' ]" \
	"the first scene's square, then the second scene's disk ($(rgb "$video" "$t0") $(rgb "$video" "$t1"))"
ok "python3 - '$nar' '$segs' <<'PY'
import json, sys
d = [s['duration'] for s in json.load(open(sys.argv[1]))['segments']]
rows = [l.split() for l in open(sys.argv[2])]
# segment 1 starts where the first scene (segment 0 and one frame) ends
sys.exit(0 if len(rows) == 2 and 0 <= float(rows[1][1]) - d[0] <= 2 / 15.0 else 1)
PY" "the narration runs on into the second scene ($(tr '\n' ';' <"$segs"))"
ok "! grep -rq 'this block is never run' '$TMP/jobs' --include=render.log" \
	"the main guard's block did not run"
RENDER_TEST_SCENE=Scene2_Area "$VIDGEN" run -p "$CFG" -o "$TMP/jobs2" --json "Render a script with two scenes" \
	>"$TMP/one.json" 2>"$TMP/one.err"
video2=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["video_url"] or "")' "$TMP/one.json" 2>/dev/null)
segs2=$(find "$TMP/jobs2" -path '*/render/work*' -name segments.txt | head -1)
ok "[ -s '$video2' ] && [ \"\$(awk '{print \$1}' '$segs2')\" = 1 ] &&
    [ \"\$(rgb '$video2' \$(awk '{print \$3 - 0.2}' '$segs2'))\" = blue ]" \
	"scene = \"Scene2_Area\" renders that one only"
printf 'from manim import *\nimport scipy.io\nfrom scipy import datasets, linalg\nimport scipy\nx = scipy.misc.face()\n__name__ = "x"\nclass A(Scene):\n    pass\n' >"$TMP/bad.py"
$CHECK "$TMP/bad.py" >"$TMP/bad.out" 2>&1
ok "grep -q \"line 2: import of 'scipy.io' is not allowed\" '$TMP/bad.out' &&
    grep -q \"line 3: import of 'scipy.datasets' is not allowed\" '$TMP/bad.out' &&
    grep -q \"line 5: attribute 'misc' is not allowed\" '$TMP/bad.out' &&
    grep -q \"line 6: '__name__' may not be assigned\" '$TMP/bad.out'" \
	"scipy.io, scipy.datasets, scipy.misc and assigning __name__ are refused" || diag "$(cat "$TMP/bad.out")"
printf 'from manim import *\nimport os\nclass A(Scene):\n    pass\nif __name__ == "__main__":\n    pass\nelse:\n    os.getcwd()\n' >"$TMP/else.py"
$CHECK "$TMP/else.py" >"$TMP/else.out" 2>&1
ok "grep -q \"line 2: import of 'os'\" '$TMP/else.out' && grep -q \"line 8: 'os' is not allowed\" '$TMP/else.out'" \
	"the main guard's else branch (which runs) is still checked" || diag "$(cat "$TMP/else.out")"
exit 0
