#!/bin/sh
# The seed pipeline itself, pipelines/default.cfg, end to end: bedrock,
# openai, polly and s3 against the protocol fakes, and the real Manim render.
# Done when the video's s3_url holds the MP4 in the S3 store, with its
# metadata and the JSON sidecar, and its captions and poster beside it
# ({id}.vtt, .srt, .jpg, .thumb.jpg: content types, public read, the job's
# URLs).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cloud_lib.sh"

N=7
plan $N
VENV=${VIDGEN_MANIM_VENV:-/opt/vidgen/venv}
Q="Explain the Pythagorean theorem with visual proof"
# The plumbing is under test, not the picture: the final render at 480p15
# (the pipeline ships 1080p60) keeps the test fast.
export VIDGEN_QUALITY=480p15

if ! "$VENV/bin/python" -c 'import manim' 2>/dev/null; then
	for i in $(seq 1 $N); do skip "no Manim venv at $VENV (scripts/install-deps.sh)"; done
	exit 0
fi
cloud_start_or_skip "$N"

"$VIDGEN" check "$top_srcdir/pipelines/default.cfg" >"$TMP/check.out" 2>&1
ok $? "vidgen check accepts pipelines/default.cfg" || sed 's/^/# /' "$TMP/check.out"

cloud_run seed "$top_srcdir/pipelines/default.cfg" "$Q" -m claude-4-sonnet -v Joanna
rc=$?
ok $rc "vidgen run -p pipelines/default.cfg completes against the fakes" ||
	grep -v ' > ' "$TMP/seed.err" | tail -25 | sed 's/^/# /'
ID=$(jget "$TMP/seed.json" 'd["video_id"]')
ok "[ \"$(jget "$TMP/seed.json" 'd["s3_url"]')\" = \"$S3_ENDPOINT_URL/loli/$ID.mp4\" ]" \
	"s3_url is the object's URL in the S3 store"
s3_inspect "$ID" >"$TMP/seed.s3"
MP4=$TMP/jobs/$ID/$(jget "$TMP/jobs/$ID/stages/render/result.json" 'd["path"]' 2>/dev/null)
ok "python3 - \"$TMP/seed.s3\" \"$TMP/seed.json\" \"$MP4\" <<'PY'
import json, os, sys
o = json.load(open(sys.argv[1])); job = json.load(open(sys.argv[2]))
assert o['content_type'] == 'video/mp4' and o['size'] == os.path.getsize(sys.argv[3]), o
m = o['metadata']
assert set(m) >= {'original-question', 'initial-explanation', 'refined-explanation',
                  'model-used', 'voice-used', 'generation-date'}, m
assert o['public_read']
assert o['sidecar']['original_question'] == job['original_question']
assert o['sidecar']['refined_explanation'] == job['refined_explanation']
PY" "the stored object is the rendered MP4, with metadata, public read and the sidecar"
ok "python3 - \"$TMP/seed.s3\" \"$TMP/seed.json\" \"$S3_ENDPOINT_URL/loli/$ID\" \"$(dirname "$MP4")\" <<'PY'
import json, os, sys
o = json.load(open(sys.argv[1]))['companions']; job = json.load(open(sys.argv[2]))
want = {'.vtt': ('text/vtt; charset=utf-8', 'captions_url'),
        '.srt': ('application/x-subrip', 'captions_srt_url'),
        '.jpg': ('image/jpeg', 'poster_url'), '.thumb.jpg': ('image/jpeg', 'thumbnail_url')}
for suffix, (ctype, field) in want.items():
    c = o[suffix]
    assert c and c['content_type'] == ctype and c['public_read'], (suffix, c)
    assert c['size'] == os.path.getsize(os.path.join(sys.argv[4], 'video' + suffix)), (suffix, c)
    assert job[field] == sys.argv[3] + suffix, (field, job[field])
PY" "the captions and poster are stored as {id}.vtt, .srt, .jpg, .thumb.jpg: content types, public read, the job's URLs" ||
	diag "$(cat "$TMP/seed.s3")"
ok "cloud_log | python3 -c 'import json,sys; l=json.load(sys.stdin); s={e[\"service\"] for e in l if e[\"status\"]==200}; assert s=={\"bedrock\",\"openai\",\"polly\"}, s; assert all(e[\"problem\"] is None for e in l); k=[e.get(\"kind\") for e in l if e[\"service\"]==\"bedrock\"]; assert k.count(\"script\")>=2, k'" \
	"every model and voice call reached its fake, signed and well formed"
ok "ffprobe -v error -show_entries stream=codec_type -of csv=p=0 \"$MP4\" | sort -u | tr '\n' ' ' | grep -q 'audio video'" \
	"the MP4 has a video and an audio stream"
exit 0
