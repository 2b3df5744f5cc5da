#!/bin/sh
# The cloud plugins end to end against the protocol fakes (real vidgen, real
# plugin code, signatures checked): success with metadata and sidecar, 429
# then success, 403, on-demand refusal, timeout, wrong signature (Bedrock and
# S3), missing credentials, Polly engine fallback, OpenAI 401, metadata over
# 2 KB and non-ASCII, ACL fallback, and no secret in any log line.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cloud_lib.sh"

N=19
plan $N
PIPE=$top_srcdir/tests/e2e/cloud/cloud.cfg
PIPE_S3=$top_srcdir/tests/e2e/cloud/cloud-s3.cfg
Q="Explain the Pythagorean theorem with visual proof"

cloud_start_or_skip "$N"

# 1-5: the happy path, every stage against its fake.
cloud_run ok "$PIPE" "$Q"
ok $? "cloud pipeline completes against the fakes" || sed 's/^/# /' "$TMP/ok.err" | tail -20
ID=$(jget "$TMP/ok.json" 'd["video_id"]')
ok "[ \"$(jget "$TMP/ok.json" 'd["s3_url"]')\" = \"$S3_ENDPOINT_URL/loli/$ID.mp4\" ]" \
	"s3_url names the object in the S3 store"
s3_inspect "$ID" >"$TMP/ok.s3"
ok "python3 - \"$TMP/ok.s3\" \"$TMP/ok.json\" <<'PY'
import json, sys
o = json.load(open(sys.argv[1])); job = json.load(open(sys.argv[2]))
m = o['metadata']
assert o['content_type'] == 'video/mp4', o
for k in ('original-question', 'initial-explanation', 'refined-explanation',
          'model-used', 'voice-used', 'generation-date'):
    assert k in m, k
assert m['original-question'] == job['original_question']
assert m['model-used'] == 'claude-4-sonnet' and m['voice-used'] == 'Joanna'
assert o['public_read'] is True
s = o['sidecar']
assert s['initial_explanation'] == job['initial_explanation']
assert s['refined_explanation'] == job['refined_explanation']
PY" "object has the metadata of doc/cloud.md, public read, and the JSON sidecar with the full texts"
NJ=$TMP/jobs/$ID/stages/narrate/narration.json
ok "python3 - \"$NJ\" <<'PY'
import json, os, sys
n = json.load(open(sys.argv[1])); d = os.path.dirname(sys.argv[1])
segs = n['segments']
assert len(segs) >= 3 and n['voice'] == 'Joanna'
for i, s in enumerate(segs):
    assert s['index'] == i and s['file'].endswith('.mp3') and s['duration'] > 0.1
    assert os.path.getsize(os.path.join(d, s['file'])) > 100
assert abs(sum(s['duration'] for s in segs) - n['total_duration']) < 0.01
PY" "polly wrote narration.json: one MP3 per sentence with measured durations"
ok "cloud_log | python3 -c 'import json,sys; l=json.load(sys.stdin); assert all(e[\"problem\"] is None for e in l), l'" \
	"the fakes found nothing wrong in any request (paths, JSON, signatures)"

# 6: 429 (ThrottlingException) then success, retried by the HTTP client.
before=$(cloud_log | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
cloud_script bedrock '["throttle"]'
cloud_run throttle "$PIPE" "$Q"
rc=$?
ok "[ $rc -eq 0 ] && cloud_log | python3 -c 'import json,sys; l=json.load(sys.stdin)[$before:]; b=[e[\"status\"] for e in l if e[\"service\"]==\"bedrock\"]; assert b[:2]==[429,200], b'" \
	"a 429 then success: retried, the job completes"

# 7: 403 AccessDeniedException: a clear message, no retry.
cloud_script bedrock '["denied"]'
cloud_run denied "$PIPE" "$Q"
ok "[ $? -eq 1 ] && grep -q 'no access to model claude-4-sonnet' \"$TMP/denied.json\"" \
	"a 403 says the account has no access to the model"

# 8: on-demand throughput not supported -> use an inference profile.
cloud_script bedrock '["ondemand"]'
cloud_run ondemand "$PIPE" "$Q" -m claude-3-7-sonnet
ok "[ $? -eq 1 ] && grep -q 'inference profile' \"$TMP/ondemand.json\"" \
	"on-demand refusal says to map the model to an inference profile"

# 9: a model that does not answer in time (retries = 1 in the pipeline).
cloud_script bedrock '[]' slow
BEDROCK_HTTP_TIMEOUT=1 cloud_run timeout "$PIPE" "$Q"
rc=$?
cloud_script bedrock '[]' ok
ok "[ $rc -eq 1 ] && grep -q 'did not answer within 1 s' \"$TMP/timeout.json\"" \
	"a timeout fails the stage with a clear message"

# 10: a wrong secret: the fake rejects the signature.
AWS_SECRET_ACCESS_KEY=wrong-secret cloud_run badsig "$PIPE" "$Q"
rc=$?
ok "[ $rc -eq 1 ] && grep -q 'rejected the credentials' \"$TMP/badsig.json\" && cloud_log | grep -q 'signature we calculated does not match'" \
	"a wrong signature is rejected by Bedrock's fake and reported" ||
	{ jget "$TMP/badsig.json" 'd["message"]' | sed 's/^/# /'; cloud_log | tail -c 600 | sed 's/^/# /'; }

# 11: no credentials at all: the job fails before any stage calls out.
before=$(cloud_log | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY AWS_PROFILE=nobody \
	"$VIDGEN" run -p "$PIPE" -o "$TMP/jobs" --json "$Q" >"$TMP/nocred.json" 2>"$TMP/nocred.err"
rc=$?
after=$(cloud_log | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
ok "[ $rc -ne 0 ] && grep -q 'no AWS credentials' \"$TMP/nocred.json\" \"$TMP/nocred.err\" && [ $before -eq $after ]" \
	"missing credentials: a clear error and no request sent" ||
	{ diag "rc=$rc before=$before after=$after"; tail -3 "$TMP/nocred.err" | sed 's/^/# /'; }

# 12: a voice without the neural engine falls back to standard.
before=$(cloud_log | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
cloud_script polly '["no_neural"]'
cloud_run fallback "$PIPE" "$Q" -v Matthew
rc=$?
ok "[ $rc -eq 0 ] && cloud_log | python3 -c 'import json,sys; l=[e for e in json.load(sys.stdin)[$before:] if e[\"service\"]==\"polly\" and e[\"status\"]==200]; assert l and all(e[\"engine\"]==\"standard\" for e in l), l'" \
	"Polly: neural refused, narration made with the standard engine"

# 13: OpenAI refuses the key.
OPENAI_API_KEY=sk-not-the-key cloud_run badkey "$PIPE" "$Q"
rc=$?
ok "[ $rc -eq 1 ] && grep -q 'rejected the API key' \"$TMP/badkey.json\" && ! grep -q 'sk-not-the-key' \"$TMP/badkey.json\" \"$TMP/badkey.err\"" \
	"an OpenAI 401 says the key was rejected, without printing it"

# 14-15: long and non-ASCII texts: metadata made ASCII, within 2 KB; the
# sidecar keeps everything.
QU="Expliquez le théorème de Pythagore — a² + b² = c², démonstration visuelle"
cloud_script bedrock '["long"]'
cloud_run meta "$PIPE" "$QU"
ok $? "a job with long, non-ASCII texts completes"
ID=$(jget "$TMP/meta.json" 'd["video_id"]')
s3_inspect "$ID" >"$TMP/meta.s3"
ok "python3 - \"$TMP/meta.s3\" \"$QU\" <<'PY'
import json, sys, urllib.parse
o = json.load(open(sys.argv[1])); q = sys.argv[2]
m = o['metadata']
assert o['metadata_bytes'] <= 2048, o['metadata_bytes']
assert o['metadata_ascii']
assert urllib.parse.unquote(m['original-question']) == q, m['original-question']
assert m['initial-explanation'].endswith('...')
assert o['sidecar']['original_question'] == q
assert len(o['sidecar']['initial_explanation']) > 2000
PY" "metadata over 2 KB is encoded and cut to fit; the sidecar has the full UTF-8 texts"

# 16: a bucket with ACLs disabled: uploaded without the ACL, with a warning.
S3_BUCKET_NAME=loli-noacl cloud_run noacl "$PIPE_S3" "$Q"
rc=$?
ID=$(jget "$TMP/noacl.json" 'd["video_id"]')
ok "[ $rc -eq 0 ] && grep -q 'ACLs disabled' \"$TMP/noacl.err\" && s3_inspect $ID loli-noacl | grep -q '\"public_read\": false'" \
	"ACL refused (AccessControlListNotSupported): stored without it, with a warning"

# 17: moto checks S3 signatures too.
AWS_SECRET_ACCESS_KEY=wrong-secret cloud_run s3badsig "$PIPE_S3" "$Q"
ok "[ $? -eq 1 ] && grep -q 'SignatureDoesNotMatch' \"$TMP/s3badsig.json\"" \
	"a wrong signature is rejected by S3 (moto) and reported"

# 18: an upload above the multipart threshold goes up in parts.
S3_MULTIPART_MB=0 cloud_run multipart "$PIPE_S3" "$Q"
rc=$?
ID=$(jget "$TMP/multipart.json" 'd["video_id"]')
ok "[ $rc -eq 0 ] && grep -q \"POST /loli/$ID.mp4?uploads\" \"$TMP/fakes.log\" && grep -q \"POST /loli/$ID.mp4?uploadId=\" \"$TMP/fakes.log\" && s3_inspect $ID | grep -q '\"content_type\": \"video/mp4\"'" \
	"multipart upload (create, parts, complete) stores the object"

# 19: no secret in any output.
ok "! grep -l -e \"$CLOUD_SECRET\" -e \"$CLOUD_OPENAI_KEY\" -e 'wrong-secret' \"$TMP\"/*.err \"$TMP\"/*.json" \
	"no secret key appears in any log or output"
exit 0
