#!/bin/sh
# CORS origins from the pipeline file (cors_origins), and the environment
# (VIDGEN_CORS_ORIGINS) taking precedence, through a real `vidgen serve`.
. "$(dirname "$0")/lib.sh"
plan 4
{ sed 's/^name = "serve-test";/name = "serve-test";\ncors_origins = ["https:\/\/app.example"];/' \
	"$top_srcdir/tests/e2e/serve/pipeline.cfg"; } >"$TMP/cors.cfg"
cp -r "$top_srcdir/tests/e2e/serve/answers" "$TMP/answers"

start() { # start [ENV=VALUE]: runs the daemon, sets $pid and $url
	# Emptied here, not by the background job's redirection: the loop below
	# could read the last daemon's address before that job truncates it.
	: >"$TMP/out"
	env "$@" "$VIDGEN" serve -p "$TMP/cors.cfg" -l 127.0.0.1:0 --data-dir "$TMP/data" \
		--db "$TMP/db.sqlite" >"$TMP/out" 2>"$TMP/err" &
	pid=$!
	url=
	for _ in $(seq 50); do
		url=$(sed -n 's/^listening on //p' "$TMP/out")
		[ -n "$url" ] && break
		sleep 0.1
	done
}
stop() { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }
allow() { # allow ORIGIN: the Access-Control-Allow-Origin answered for it
	curl -s -D - -o /dev/null -H "Origin: $1" "$url/api/v1/config" |
		tr -d '\r' | sed -n 's/^[Aa]ccess-[Cc]ontrol-[Aa]llow-[Oo]rigin: //p'
}

start VIDGEN_CORS_ORIGINS=
ok "[ -n '$url' ]" "the daemon starts with a pipeline that lists cors_origins" || diag "$(cat "$TMP/err")"
ok "[ \"$(allow https://app.example)\" = https://app.example ]" "an origin from the pipeline is allowed"
ok "[ -z \"$(allow https://evil.example)\" ]" "another origin is not"
stop
start VIDGEN_CORS_ORIGINS=https://other.example
ok "[ \"$(allow https://other.example)\" = https://other.example ] && [ -z \"$(allow https://app.example)\" ]" \
	"VIDGEN_CORS_ORIGINS overrides the pipeline"
stop
exit 0
