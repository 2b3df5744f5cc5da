# Shared by the cloud_*.sh tests (sourced after lib.sh): starts the protocol
# fakes (tests/fakes/fakes.py: Bedrock, Polly, OpenAI, moto S3) on loopback
# and points every endpoint and credential at them.
#
# Needs the test venv with moto (scripts/install-deps.sh makes it):
# VIDGEN_TEST_VENV, default /opt/vidgen/testvenv. cloud_start returns 1 when
# it is missing, so the caller can skip.

CLOUD_VENV=${VIDGEN_TEST_VENV:-/opt/vidgen/testvenv}
CLOUD_PY=$CLOUD_VENV/bin/python
CLOUD_SECRET='vidgen/test+secret/KEY0123456789abcdefghij'
CLOUD_OPENAI_KEY=sk-vidgen-test-key
CLOUD_FAKES_PID=

cloud_stop() {
	if [ -n "$CLOUD_FAKES_PID" ]; then
		kill "$CLOUD_FAKES_PID" 2>/dev/null
		wait "$CLOUD_FAKES_PID" 2>/dev/null
		CLOUD_FAKES_PID=
	fi
}
trap 'cloud_stop; tap_cleanup' EXIT

cloud_start() {
	"$CLOUD_PY" -c 'import moto, boto3' 2>/dev/null || return 1
	"$CLOUD_PY" "$top_srcdir/tests/fakes/fakes.py" --ports "$TMP/ports.json" \
		>"$TMP/fakes.log" 2>&1 &
	CLOUD_FAKES_PID=$!
	for _ in $(seq 1 100); do
		[ -s "$TMP/ports.json" ] && break
		kill -0 "$CLOUD_FAKES_PID" 2>/dev/null || return 2
		sleep 0.2
	done
	[ -s "$TMP/ports.json" ] || return 2
	CLOUD_PORT=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["cloud"])' "$TMP/ports.json")
	S3_PORT=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["s3"])' "$TMP/ports.json")
	CLOUD_URL=http://127.0.0.1:$CLOUD_PORT
	# Nothing from the caller's AWS setup may leak in: only the test key.
	unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE AWS_DEFAULT_REGION
	export AWS_ACCESS_KEY_ID=AKIDVIDGENTEST AWS_SECRET_ACCESS_KEY="$CLOUD_SECRET"
	export AWS_SHARED_CREDENTIALS_FILE="$TMP/no-credentials" AWS_CONFIG_FILE="$TMP/no-config"
	export AWS_REGION=eu-west-3
	export BEDROCK_ENDPOINT=$CLOUD_URL POLLY_ENDPOINT=$CLOUD_URL OPENAI_BASE_URL=$CLOUD_URL/v1
	export OPENAI_API_KEY=$CLOUD_OPENAI_KEY
	export S3_ENDPOINT_URL=http://127.0.0.1:$S3_PORT S3_PATH_STYLE=true S3_BUCKET_NAME=loli
	export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
	unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy
	export VIDGEN_HTTP_RETRY_BASE_MS=50
	return 0
}

# cloud_start_or_skip N: starts the fakes; without the test venv, skips all
# N tests and exits; bails out when they do not start.
cloud_start_or_skip() {
	cloud_start
	case $? in
	0) ;;
	1) for i in $(seq 1 "$1"); do skip "no test venv with moto at $CLOUD_VENV (scripts/install-deps.sh)"; done
	   exit 0 ;;
	*) sed 's/^/# /' "$TMP/fakes.log"; bail_out "the protocol fakes did not start" ;;
	esac
}

# cloud_script SERVICE JSON-LIST [DEFAULT]: queues fake behaviours.
cloud_script() {
	curl -s -o /dev/null -X POST "$CLOUD_URL/__fake/script" \
		-d "{\"service\":\"$1\",\"responses\":$2${3:+,\"default\":\"$3\"}}"
}

# cloud_log: the fakes' request log (JSON list) on stdout.
cloud_log() {
	curl -s "$CLOUD_URL/__fake/log"
}

# cloud_run NAME PIPELINE QUESTION [vidgen run options...]: runs a job;
# stdout JSON in $TMP/NAME.json, stderr in $TMP/NAME.err; returns the exit
# status.
cloud_run() {
	cr_name=$1 cr_pipe=$2 cr_q=$3
	shift 3
	"$VIDGEN" run -p "$cr_pipe" -o "$TMP/jobs" --json --verbose "$@" "$cr_q" \
		>"$TMP/$cr_name.json" 2>"$TMP/$cr_name.err"
}

# jget FILE EXPR: evaluates a Python expression over the JSON in FILE (d).
jget() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# s3_inspect VIDEO_ID [BUCKET]: what the S3 fake holds (JSON on stdout).
s3_inspect() {
	"$CLOUD_PY" "$top_srcdir/tests/fakes/s3_inspect.py" "$S3_ENDPOINT_URL" "${2:-loli}" "$1"
}
