#!/bin/sh
# End-to-end: the offline demo (pipelines/demo.cfg) turns each recorded
# question into a narrated MP4: video + audio, audio within 10% of the
# video, at least 20 s; the Pythagoras answer goes through one repair.
. "$(dirname "$0")/lib.sh"

VIDGEN=${VIDGEN:-./vidgen}
VENV=${VIDGEN_MANIM_VENV:-/opt/vidgen/venv}
CFG=${top_srcdir:-.}/pipelines/demo.cfg
N=9
plan $N
if [ ! -x "$VENV/bin/python" ] || ! command -v espeak-ng >/dev/null; then
	for i in $(seq 1 $N); do skip "no Manim venv at $VENV or no espeak-ng"; done
	exit 0
fi
export VIDGEN_REPLAY_LOG="$TMP/replay.log"

# check_video NAME QUESTION: runs the demo, then checks its MP4.
check_video() {
	name=$1 q=$2
	: >"$TMP/replay.log"
	"$VIDGEN" run -p "$CFG" -o "$TMP/jobs" "$q" >"$TMP/$name.out" 2>"$TMP/$name.err"
	rc=$?
	video=$(sed -n 's/^video: //p' "$TMP/$name.out")
	ok "[ $rc -eq 0 ] && [ -s '$video' ]" "$name: the demo prints where the MP4 is" ||
		diag "$(tail -8 "$TMP/$name.err")"
	ok "python3 - '$video' <<'PY'
import json, subprocess, sys
out = subprocess.run(['ffprobe', '-v', 'error', '-show_entries', 'stream=codec_type,codec_name,duration',
                      '-of', 'json', sys.argv[1]], capture_output=True, text=True, check=True).stdout
s = {x['codec_type']: x for x in json.loads(out)['streams']}
v, a = float(s['video']['duration']), float(s['audio']['duration'])
assert s['video']['codec_name'] == 'h264' and s['audio']['codec_name'] == 'aac'
assert v >= 20 and abs(a - v) <= 0.1 * v, (v, a)
PY" "$name: H.264 + AAC, at least 20 s, audio within 10% of the video"
}

check_video pythagoras "Explain the Pythagorean theorem with visual proof"
ok "[ \"\$(awk '\$1 == \"validate\"' '$TMP/replay.log' | wc -l)\" -eq 2 ]" \
	"pythagoras: the first script fails to render and is repaired once"
ok "grep -q 'asking validate for a repair' '$TMP/pythagoras.err' || grep -qi 'repair' '$TMP/pythagoras.err'" \
	"pythagoras: the repair is reported"
# The repaired job's usage: the render ran twice, its sandboxed CPU counted.
ok "python3 - '$TMP/jobs' <<'PY'
import glob, json, sys
jobs = [json.load(open(p)) for p in glob.glob(sys.argv[1] + '/*/job.json')]
u = [s['counters'] for j in jobs for s in (j.get('usage') or {}).get('stages', [])
     if s['stage'] == 'render']
assert len(u) == 1, u
c = u[0]
assert c['attempts'] == 2 and c['cpu_seconds'] > 1 and c['wall_seconds'] > 1, c
PY" "pythagoras: the render's usage shows 2 attempts, its wall and its CPU seconds"
check_video derivative "What is a derivative?"
check_video binary-search "How does binary search work?"
exit 0
