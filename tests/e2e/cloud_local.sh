#!/bin/sh
# pipelines/local.cfg end to end: every model stage on one OpenAI-compatible
# server (here the OpenAI fake standing in for Ollama/llama.cpp/vLLM, with an
# optional key), espeak-ng narration, the real Manim render, the file store.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cloud_lib.sh"

N=3
plan $N
VENV=${VIDGEN_MANIM_VENV:-/opt/vidgen/venv}
if ! "$VENV/bin/python" -c 'import manim' 2>/dev/null || ! command -v espeak-ng >/dev/null; then
	for i in $(seq 1 $N); do skip "no Manim venv at $VENV or no espeak-ng"; done
	exit 0
fi
cloud_start
case $? in
0) ;;
1) for i in $(seq 1 $N); do skip "no test venv at $CLOUD_VENV (scripts/install-deps.sh)"; done
   exit 0 ;;
*) sed 's/^/# /' "$TMP/fakes.log"; bail_out "the protocol fakes did not start" ;;
esac
# No cloud credential at all: the local pipeline must not need one.
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY OPENAI_API_KEY
export LOCAL_LLM_URL=$CLOUD_URL/v1 LOCAL_LLM_API_KEY=$CLOUD_OPENAI_KEY
export LOCAL_MODEL=llama3.1:8b LOCAL_CODE_MODEL=qwen2.5-coder:7b VIDGEN_MEDIA_URL=

before=$(cloud_log | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
cloud_run local "$top_srcdir/pipelines/local.cfg" "Explain the Pythagorean theorem"
ok $? "vidgen run -p pipelines/local.cfg completes on one local model server" ||
	grep -v ' > ' "$TMP/local.err" | tail -20 | sed 's/^/# /'
ok "cloud_log | python3 -c 'import json,sys; l=json.load(sys.stdin)[$before:]; m=[e.get(\"model\") for e in l]; assert m.count(\"llama3.1:8b\")==2 and m.count(\"qwen2.5-coder:7b\")==2 and {e[\"service\"] for e in l}=={\"openai\"}, m'" \
	"four chat calls on the local server, code stages on the code model, nothing else called"
V=$(jget "$TMP/local.json" 'd["video_url"]')
ok "[ -s \"$V\" ] && ffprobe -v error -show_entries stream=codec_type -of csv=p=0 \"$V\" | grep -q audio" \
	"video_url is a playable MP4 with narration"
exit 0
