#!/bin/sh
# End-to-end tests of the engine: the real vidgen binary, run as a user runs
# it, on the pipelines of tests/e2e/replay and pipelines/ (TAP output).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
VIDGEN=${VIDGEN:-$top_builddir/vidgen}
VIDGEN_PLUGIN_PATH=${VIDGEN_PLUGIN_PATH:-$top_builddir/plugins/.libs:$top_builddir/tests/.libs}
export VIDGEN_PLUGIN_PATH
unset TEMP_DIR REPLAY_DELAY_MS VIDGEN_REPLAY_LOG
PIPES=$top_srcdir/tests/e2e/replay
REPLAY=$PIPES/replay.cfg
BAD_DIR=$top_builddir/tests/bad/.libs
Q="What is two plus two?"
JOBS=$TMP/jobs

[ -x "$VIDGEN" ] || bail_out "no vidgen binary at $VIDGEN (run make first)"
command -v jq >/dev/null 2>&1 || bail_out "jq is not installed (scripts/install-deps.sh installs it)"

# Every pipeline file that ships, and ours: each must pass `vidgen check`.
# (Other test pipelines here need the environment their own tests set.)
CFGS=
for f in "$REPLAY" "$top_srcdir"/pipelines/*.cfg; do
	[ -f "$f" ] && CFGS="$CFGS $f"
done
N_CFGS=$(echo $CFGS | wc -w)

# Every command `vidgen --help` lists must answer --help and --version.
CMDS=$("$VIDGEN" --help 2>/dev/null | sed -n '/^commands:/,/^$/p' | awk 'NR > 1 && NF { print $1 }')
N_CMDS=$(echo $CMDS | wc -w)
[ "$N_CMDS" -ge 3 ] || bail_out "vidgen --help lists no commands"

plan $((46 + 2 * N_CMDS + N_CFGS))

# fails_with_line FILE LINE: stderr of the last command ($TMP/err) starts an
# error line with "FILE:LINE: ".
has_line() {
	grep -qF "$1:$2: " "$TMP/err"
}

# ---- the command line ------------------------------------------------------
"$VIDGEN" --help >"$TMP/out" 2>&1
ok "[ $? -eq 0 ] && grep -q '^usage: vidgen COMMAND' '$TMP/out'" "vidgen --help exits 0 with the usage"
"$VIDGEN" --version >"$TMP/out" 2>&1
ok "[ $? -eq 0 ] && grep -Eq '^vidgen [0-9]+\.[0-9]+' '$TMP/out'" "vidgen --version exits 0 with the version"
for cmd in $CMDS; do
	"$VIDGEN" $cmd --help >"$TMP/out" 2>&1
	rc=$?
	if grep -q "not built into this vidgen" "$TMP/out"; then
		skip "vidgen $cmd is not built into this vidgen"
	else
		ok "[ $rc -eq 0 ] && grep -q '^usage: vidgen $cmd' '$TMP/out'" "vidgen $cmd --help exits 0 with its usage"
	fi
done
for cmd in $CMDS; do
	"$VIDGEN" $cmd --version >"$TMP/out" 2>&1
	rc=$?
	if grep -q "not built into this vidgen" "$TMP/out"; then
		skip "vidgen $cmd is not built into this vidgen"
	else
		ok "[ $rc -eq 0 ] && grep -q '^vidgen ' '$TMP/out'" "vidgen $cmd --version exits 0" ||
			diag "exit $rc: $(head -3 "$TMP/out")"
	fi
done
"$VIDGEN" frobnicate >/dev/null 2>"$TMP/err"
ok "[ $? -eq 2 ] && grep -q 'unknown command' '$TMP/err'" "an unknown command exits 2"
"$VIDGEN" run -p "$REPLAY" -o "$JOBS" >/dev/null 2>"$TMP/err"
ok "[ $? -eq 2 ] && grep -q 'no question' '$TMP/err'" "vidgen run without a question exits 2"
"$VIDGEN" run -p "$REPLAY" -o "$JOBS" "$(printf 'bad \377\376 bytes')" >/dev/null 2>"$TMP/err"
ok "[ $? -eq 2 ] && grep -q 'UTF-8' '$TMP/err'" "a question that is not UTF-8 is refused (exit 2)"

# ---- vidgen check ----------------------------------------------------------
for f in $CFGS; do
	"$VIDGEN" check "$f" >"$TMP/out" 2>"$TMP/err"
	ok $? "vidgen check ${f#$top_srcdir/} passes" || diag "$(cat "$TMP/err")"
done

cat >"$TMP/syntax.cfg" <<'EOF'
name = "broken";
stages = (
  { id = "a"; plugin = "replay"; inputs = ["question"]
    settings = { dir = "answers" ; } ; }
  { id = "b"; }
);
EOF
"$VIDGEN" check "$TMP/syntax.cfg" >/dev/null 2>"$TMP/err"
rc=$?
ok "[ $rc -eq 3 ] && grep -Eq '^$TMP/syntax.cfg:[0-9]+: ' '$TMP/err'" "a syntax error: exit 3 and file:line on stderr" ||
	diag "exit $rc: $(cat "$TMP/err")"

cat >"$TMP/cycle.cfg" <<'EOF'
stages = (
  { id = "a"; plugin = "testplug"; inputs = ["question"]; },
  { id = "b"; plugin = "testplug"; inputs = ["a", "d"]; },
  { id = "c"; plugin = "testplug"; inputs = ["b"]; },
  { id = "d"; plugin = "testplug"; inputs = ["c"]; }
);
EOF
"$VIDGEN" check "$TMP/cycle.cfg" >/dev/null 2>"$TMP/err"
rc=$?
ok "[ $rc -eq 3 ] && has_line '$TMP/cycle.cfg' 3 && grep -q cycle '$TMP/err'" "a cycle: exit 3, named at its line" ||
	diag "exit $rc: $(cat "$TMP/err")"

cat >"$TMP/setting.cfg" <<'EOF'
stages = (
  { id = "a"; plugin = "testplug"; inputs = ["question"];
    settings = {
      sleep_ms = 5;
      sleepms = 5;
    };
  }
);
EOF
"$VIDGEN" check "$TMP/setting.cfg" >/dev/null 2>"$TMP/err"
rc=$?
ok "[ $rc -eq 3 ] && has_line '$TMP/setting.cfg' 5 && grep -q 'valid: sleep_ms' '$TMP/err'" \
	"a plugin's unknown setting: exit 3, its line, the valid ones" || diag "exit $rc: $(cat "$TMP/err")"

"$VIDGEN" check >/dev/null 2>"$TMP/err"
ok "[ $? -eq 2 ] && grep -q '^usage: vidgen check' '$TMP/err'" "vidgen check without a file exits 2 with the usage"
"$VIDGEN" run -p "$TMP/no-such.cfg" -o "$JOBS" "$Q" >/dev/null 2>"$TMP/err"
ok "[ $? -eq 3 ] && grep -q 'no-such.cfg' '$TMP/err'" "vidgen run with a missing pipeline file exits 3 naming it"

# One bad file among good ones: the good one is still reported ok.
"$VIDGEN" check "$REPLAY" "$TMP/cycle.cfg" >"$TMP/out" 2>"$TMP/err"
rc=$?
ok "[ $rc -eq 3 ] && grep -q 'replay.cfg: ok' '$TMP/out' && has_line '$TMP/cycle.cfg' 3" \
	"check of a good and a bad file: exit 3, both reported"
"$VIDGEN" check "$TMP/no-such.cfg" >/dev/null 2>"$TMP/err"
ok "[ $? -eq 3 ] && grep -q 'no-such.cfg' '$TMP/err'" "check of a missing file exits 3 naming it"

# ---- vidgen plugins --------------------------------------------------------
"$VIDGEN" plugins >"$TMP/out" 2>"$TMP/err"
ok "[ $? -eq 0 ] && grep -Eq '^replay +model +[0-9.]+ +/.*replay\.so' '$TMP/out' && grep -Eq '^file +store +[0-9.]+ +/.*file\.so' '$TMP/out'" \
	"vidgen plugins lists replay and file with kind, version, file"
"$VIDGEN" plugins --json >"$TMP/plugins.json" 2>"$TMP/err"
ok "[ $? -eq 0 ] && jq -e 'map(select(.name == \"replay\" and .kind == \"model\" and (.version|length) > 0 and (.file|endswith(\"replay.so\")) and .error == null)) | length == 1' '$TMP/plugins.json'" \
	"vidgen plugins --json parses and describes replay"
"$VIDGEN" plugins replay >"$TMP/out" 2>"$TMP/err"
ok "[ $? -eq 0 ] && grep -q 'dir' '$TMP/out' && grep -q 'required' '$TMP/out' && grep -q 'delay_ms' '$TMP/out'" \
	"vidgen plugins replay documents its settings"
"$VIDGEN" plugins nosuch >/dev/null 2>"$TMP/err"
ok "[ $? -ne 0 ] && grep -q 'unknown plugin \"nosuch\"' '$TMP/err'" "vidgen plugins NAME of an unknown plugin fails"
if [ -f "$BAD_DIR/badabi.so" ]; then
	"$VIDGEN" plugins --plugin-dir "$BAD_DIR" >"$TMP/out" 2>"$TMP/err"
	abi=$("$VIDGEN" --version | sed -n 's/.*plugin ABI \([0-9.]*\)).*/\1/p')
	ok "grep -q 'refused: .*badabi.so.*ABI 99.3.*speaks $abi' '$TMP/out' && grep -q 'refused: .*nosym.so.*vidgen_plugin' '$TMP/out'" \
		"plugins refused for their ABI or a missing symbol are listed with why"
	"$VIDGEN" plugins --json --plugin-dir "$BAD_DIR" >"$TMP/bad.json" 2>/dev/null
	ok "jq -e '(map(select(.name == \"badabi\"))[0].error | test(\"ABI 99\")) and (map(select(.name == \"file\"))[0].error == null)' '$TMP/bad.json'" \
		"plugins --json gives a refused plugin's reason in \"error\""
	cat >"$TMP/usebad.cfg" <<'EOF'
stages = (
  { id = "a";
    plugin = "badabi"; inputs = ["question"]; }
);
EOF
	"$VIDGEN" check --plugin-dir "$BAD_DIR" "$TMP/usebad.cfg" >/dev/null 2>"$TMP/err"
	ok "[ $? -eq 3 ] && has_line '$TMP/usebad.cfg' 3 && grep -q 'ABI 99' '$TMP/err'" \
		"a pipeline naming a refused plugin gets the reason at its line"
else
	skip "no tests/bad plugins built"
	skip "no tests/bad plugins built"
	skip "no tests/bad plugins built"
fi

# ---- vidgen run on the replay pipeline --------------------------------------
VIDGEN_REPLAY_LOG=$TMP/replay.log "$VIDGEN" run -p "$REPLAY" -o "$JOBS" --json "$Q" \
	>"$TMP/run.json" 2>"$TMP/run.err"
rc=$?
ok $rc "the replay pipeline runs end to end (exit 0)" || diag "$(cat "$TMP/run.err")"
ok "jq -e 'keys == ([\"video_id\",\"status\",\"message\",\"video_url\",\"s3_url\",\"created_at\",\"progress\",\"original_question\",\"initial_explanation\",\"refined_explanation\",\"usage\",\"captions_url\",\"captions_srt_url\",\"poster_url\",\"thumbnail_url\"] | sort)' '$TMP/run.json'" \
	"--json prints exactly the VideoResponse fields"
ok "jq -e '.status == \"completed\" and .progress == 100 and .message == \"Video generated successfully\" and (.video_id | test(\"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\$\")) and .original_question == \"$Q\" and .initial_explanation == \"Two plus two is four.\" and .refined_explanation == \"Refined: 2+2=4.\" and (.created_at | test(\"^20[0-9][0-9]-[01][0-9]-[0-3][0-9]T\"))' '$TMP/run.json'" \
	"the response says completed, 100, with the recorded texts"
id=$(jq -r .video_id "$TMP/run.json" 2>/dev/null)
jobdir=$JOBS/$id
ok "[ -n '$id' ] && [ -f '$jobdir/job.json' ] && [ -f '$jobdir/stages/explain/result.json' ] && [ -f '$jobdir/stages/refine/result.json' ] && [ -f '$jobdir/stages/script/out.txt' ] && grep -q 'job folder: $jobdir' '$TMP/run.err'" \
	"every stage's output is kept in the job folder, which is printed"
ok "grep -q 'Refined: 2+2=4.' '$jobdir/stages/script/out.txt' && grep -q 'Two plus two is four.' '$jobdir/stages/script/out.txt'" \
	"a stage receives all its inputs"

# Progress on a pipe: plain lines "NN% status", never going back, and no
# carriage returns (those are for a terminal's bar).
CR=$(printf '\r')
grep -E '^ *[0-9]+% [a-z_]+$' "$TMP/run.err" >"$TMP/progress"
ok "[ \$(wc -l <'$TMP/progress') -ge 4 ] && awk '{ p = \$1 + 0; if (p < last) bad = 1; last = p } END { exit bad || !(last == 100 && \$2 == \"completed\") }' '$TMP/progress' && ! grep -q '$CR' '$TMP/run.err'" \
	"non-terminal progress: plain lines, non-decreasing, ending at 100% completed" ||
	diag "$(cat "$TMP/run.err")"
ok "awk '{ s[\$2] = s[\$2] ? s[\$2] : NR } END { exit !(s[\"generating_initial_explanation\"] && s[\"generating_initial_explanation\"] < s[\"refining_explanation\"] && s[\"refining_explanation\"] < s[\"generating_script\"] && s[\"generating_script\"] < s[\"completed\"]) }' '$TMP/progress'" \
	"the stage statuses appear in pipeline order"
ok "[ \$(wc -l <'$TMP/replay.log') -eq 2 ] && grep -q '^explain	$id	0\$' '$TMP/replay.log' && grep -q '^refine	$id	0\$' '$TMP/replay.log'" \
	"each replay stage answered once"

# On a terminal (a pty from script(1)) the progress is one bar redrawn in place.
if command -v script >/dev/null 2>&1; then
	script -qec "'$VIDGEN' run -p '$REPLAY' -o '$JOBS' '$Q'" /dev/null >"$TMP/tty.out" 2>&1
	ok "grep -q '$CR' '$TMP/tty.out' && grep -q '\[##############################\] 100% completed' '$TMP/tty.out' && ! grep -Eq '^ *[0-9]+% [a-z_]+$CR?\$' '$TMP/tty.out'" \
		"on a terminal, progress is a bar redrawn in place, ending full" || diag "$(od -c "$TMP/tty.out" | head -8)"
else
	skip "no script(1) to give vidgen a terminal"
fi

# Resume: the lost last stage runs again, the paid ones do not.
rm -f "$jobdir/stages/script/out.txt"
VIDGEN_REPLAY_LOG=$TMP/replay.log "$VIDGEN" run -p "$REPLAY" --resume "$jobdir" --json \
	>"$TMP/resume.json" 2>"$TMP/resume.err"
rc=$?
ok "[ $rc -eq 0 ] && [ -f '$jobdir/stages/script/out.txt' ] && [ \$(wc -l <'$TMP/replay.log') -eq 2 ] && jq -e '.status == \"completed\" and .video_id == \"$id\"' '$TMP/resume.json'" \
	"--resume runs only the stage whose output is missing" || diag "exit $rc: $(cat "$TMP/resume.err")"

# The user's choices are kept with the job.
"$VIDGEN" run -p "$REPLAY" -o "$JOBS" -v Matthew -m claude-4-sonnet --json "$Q" >"$TMP/mv.json" 2>/dev/null
id2=$(jq -r .video_id "$TMP/mv.json" 2>/dev/null)
ok "[ -n '$id2' ] && jq -e '.voice == \"Matthew\" and .model == \"claude-4-sonnet\" and .status == \"completed\"' '$JOBS/$id2/job.json'" \
	"-v and -m are kept in the job's job.json"

# Text output without --json says where the video is.
"$VIDGEN" run -p "$REPLAY" -o "$JOBS" "$Q" >"$TMP/out" 2>"$TMP/err"
ok "[ $? -eq 0 ] && grep -q '^video: ' '$TMP/out'" "without --json, stdout says where the video is"

# A jobs folder others may write to (or another user's) is refused: a run
# there could be handed planted stages.
mkdir -m 0777 "$TMP/open-jobs" && chmod 0777 "$TMP/open-jobs"
"$VIDGEN" run -p "$REPLAY" -o "$TMP/open-jobs" "$Q" >/dev/null 2>"$TMP/err"
rc=$?
ok "[ $rc -eq 2 ] && grep -q 'data folder $TMP/open-jobs is writable by others' '$TMP/err'" \
	"a world-writable jobs folder is refused, naming it (exit $rc)" || diag "$(cat "$TMP/err")"
ok "[ -z \"\$(ls -A '$TMP/open-jobs')\" ]" "nothing was written into it"

# A question with no recorded answer.
"$VIDGEN" run -p "$REPLAY" -o "$JOBS" --json "What is the airspeed of a swallow?" \
	>"$TMP/miss.json" 2>"$TMP/miss.err"
rc=$?
ok "[ $rc -eq 1 ]" "a missing recorded answer fails the job with exit 1" || diag "exit $rc"
ok "grep -q 'airspeed of a swallow' '$TMP/miss.err' && grep -q '$PIPES/answers' '$TMP/miss.err' && grep -q 'explain' '$TMP/miss.err'" \
	"the error names the question, the stage and the answers folder" || diag "$(cat "$TMP/miss.err")"
ok "jq -e '.status == \"failed\" and .progress == 100 and (.message | contains(\"no recorded answer\"))' '$TMP/miss.json'" \
	"--json of a failed job says failed and why"

# A long question quoted in the error is cut at a character, not in one:
# the response keeps its message (invalid UTF-8 would drop it from JSON).
long="$(printf '%0199d' 0 | tr 0 a)é and more"
"$VIDGEN" run -p "$REPLAY" -o "$JOBS" --json "$long" >"$TMP/long.json" 2>/dev/null
ok "jq -e '(keys | length) == 15 and (.message | contains(\"aaaa\")) and .status == \"failed\"' '$TMP/long.json'" \
	"an error quoting a long non-ASCII question keeps the response whole"

# Choices the pipeline does not offer.
"$VIDGEN" run -p "$REPLAY" -o "$JOBS" -m gpt-9 "$Q" >/dev/null 2>"$TMP/err"
rc=$?
ok "[ $rc -ne 0 ] && grep -q 'gpt-9' '$TMP/err' && grep -q 'claude-4-sonnet' '$TMP/err'" \
	"an unknown model exits non-zero and lists the models" || diag "exit $rc: $(cat "$TMP/err")"
"$VIDGEN" run -p "$REPLAY" -o "$JOBS" -v Brian "$Q" >/dev/null 2>"$TMP/err"
rc=$?
ok "[ $rc -ne 0 ] && grep -q 'Brian' '$TMP/err'" "an unknown voice exits non-zero" || diag "exit $rc: $(cat "$TMP/err")"
"$VIDGEN" run -p "$TMP/cycle.cfg" -o "$JOBS" "$Q" >/dev/null 2>"$TMP/err"
ok "[ $? -eq 3 ] && has_line '$TMP/cycle.cfg' 3" "run with a broken pipeline exits 3 with file:line"

# Ctrl-C cancels the job promptly; the job folder says so.
start=$(date +%s%N)
REPLAY_DELAY_MS=30000 "$VIDGEN" run -p "$REPLAY" -o "$JOBS" --json "$Q" >"$TMP/int.json" 2>"$TMP/int.err" &
pid=$!
sleep 1
kill -INT $pid 2>/dev/null
wait $pid
rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
ok "[ $rc -eq 1 ] && [ $ms -lt 4000 ] && jq -e '.status == \"failed\" and (.message | test(\"ancel\"))' '$TMP/int.json'" \
	"SIGINT cancels a running job within a second or two (exit 1, failed: cancelled)" ||
	diag "exit $rc after $ms ms: $(cat "$TMP/int.err")"

# A slow stage is really waited for, and the delay setting is honoured.
start=$(date +%s%N)
REPLAY_DELAY_MS=600 "$VIDGEN" run -p "$REPLAY" -o "$JOBS" "$Q" >/dev/null 2>&1
rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
ok "[ $rc -eq 0 ] && [ $ms -ge 600 ]" "replay's delay_ms (from \${REPLAY_DELAY_MS}) slows the stage" ||
	diag "exit $rc after $ms ms"

# The file store keeps the video beside the job folders and answers where.
cat >"$TMP/store.cfg" <<'EOF'
stages = (
  { id = "render"; plugin = "testplug"; inputs = ["question"]; progress = 90;
    settings = { kind = "video"; text = "MP4"; }; },
  { id = "store"; plugin = "file"; inputs = ["render"]; progress = 95; result = "video_url"; }
);
EOF
"$VIDGEN" run -p "$TMP/store.cfg" -o "$TMP/st" --json "$Q" >"$TMP/store.json" 2>"$TMP/err"
id=$(jq -r .video_id "$TMP/store.json" 2>/dev/null)
ok "[ -n '$id' ] && jq -e '.video_url == \"$TMP/st/videos/$id.mp4\" and .s3_url == null' '$TMP/store.json' && grep -q '^MP4\[render' '$TMP/st/videos/$id.mp4'" \
	"file stores the video as videos/<id>.mp4 and video_url says where" || diag "$(cat "$TMP/err")"
VIDGEN_MEDIA_URL=/media/ "$VIDGEN" run -p "$TMP/store.cfg" -o "$TMP/st" "$Q" >"$TMP/out" 2>/dev/null
ok "grep -Eq '^video: /media/[0-9a-f-]{36}\.mp4\$' '$TMP/out'" "with a base URL, file answers the URL"
cat >"$TMP/novideo.cfg" <<'EOF'
stages = ( { id = "store"; plugin = "file"; inputs = ["question"]; } );
EOF
"$VIDGEN" run -p "$TMP/novideo.cfg" -o "$TMP/st" "$Q" >/dev/null 2>"$TMP/err"
ok "[ $? -eq 1 ] && grep -q 'no video input' '$TMP/err'" "file without a video input fails clearly"

# A job folder elsewhere, given by TEMP_DIR.
TEMP_DIR=$TMP/tempdir "$VIDGEN" run -p "$REPLAY" --json "$Q" >"$TMP/td.json" 2>/dev/null
id=$(jq -r .video_id "$TMP/td.json" 2>/dev/null)
ok "[ -n '$id' ] && [ -f '$TMP/tempdir/$id/job.json' ]" "jobs go under \$TEMP_DIR when -o is not given"

exit 0
