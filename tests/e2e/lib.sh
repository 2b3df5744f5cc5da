# TAP helpers for the end-to-end scripts: source it, then `plan N` and one
# `ok`/`skip` per check. Also gives $TMP, a scratch directory removed on exit.
#
#   . "$(dirname "$0")/lib.sh"
#   plan 3
#   ok "[ -x \"$VIDGEN\" ]" "vidgen is built"   # COND: a shell command (eval'd)
#   "$VIDGEN" --help >/dev/null; ok $? "--help exits 0"  # COND: an exit status
#   skip "no Manim venv"
#   diag "text"                                 # a "# text" comment line
#
# The script should end with `exit 0`; the TAP driver judges the ok lines.
# `ok` returns COND's status (for `ok ... || diag ...`), so do not use set -e.
#
# Fixtures live beside the scripts, one folder per area: render_*.sh read
# render/, serve_*.sh serve/, cloud_*.sh cloud/, hooks_*.sh hooks/; engine.sh
# and run_tty.sh replay/, question_hook.sh qhook/, external_plugin.sh
# external/. A folder is never named like a script (engine/ beside
# engine.sh): make's built-in rule would take it for the script's target.

TAP_N=0
TAP_FAILED=0

# A scratch directory per script, removed on exit (VIDGEN_KEEP_TMP=1 keeps it).
TMP=$(mktemp -d "${TMPDIR:-/tmp}/vidgen-e2e.XXXXXX") || {
	echo "Bail out! cannot create a temporary directory"
	exit 1
}
export TMP
tap_cleanup() {
	if [ "${VIDGEN_KEEP_TMP:-0}" = 1 ]; then
		echo "# kept $TMP"
	else
		# A child still writing (a server being stopped) can refill the
		# folder while it is removed: try again a moment later.
		rm -rf "$TMP" 2>/dev/null || { sleep 1; rm -rf "$TMP"; }
	fi
}
trap tap_cleanup EXIT
trap 'exit 130' INT TERM

# plan N: the number of checks this script makes.
plan() {
	echo "1..$1"
}

# ok COND DESC: COND is an exit status (a number, 0 = pass) or a shell
# command run with eval (its exit status decides).
ok() {
	tap_cond=$1
	shift
	TAP_N=$((TAP_N + 1))
	case $tap_cond in
	'' | *[!0-9]*) (eval "$tap_cond") >/dev/null 2>&1; tap_rc=$? ;;
	*) tap_rc=$tap_cond ;;
	esac
	if [ "$tap_rc" -eq 0 ]; then
		echo "ok $TAP_N - $*"
	else
		echo "not ok $TAP_N - $*"
		TAP_FAILED=$((TAP_FAILED + 1))
	fi
	return "$tap_rc"
}

# skip DESC: a check that cannot run here (counted as passed by TAP).
skip() {
	TAP_N=$((TAP_N + 1))
	echo "ok $TAP_N # SKIP $*"
}

# diag TEXT...: a comment line; each line of TEXT is prefixed with "# ".
diag() {
	printf '%s\n' "$*" | sed 's/^/# /'
}

# doc_block FILE LANG [N]: the text of the Nth (default first) ```LANG
# block of a Markdown file, so that a test runs the code a document shows.
doc_block() {
	awk -v fence="\`\`\`$2" -v want="${3:-1}" '
		$0 == fence { n++; inside = (n == want); next }
		/^```/ { inside = 0; next }
		inside' "$1"
}

# bail_out REASON: stops the whole run (e.g. the binary is missing).
bail_out() {
	echo "Bail out! $*"
	exit 1
}

# render_setup N: for the render tests driven through `vidgen run` with
# recorded answers: plans N checks, skips them all (and exits) without the
# Manim venv or espeak-ng, exports where the videos and the replay log go,
# and defines `calls STAGE` (how many times replay answered for STAGE).
render_setup() {
	plan "$1"
	if [ ! -x "${VIDGEN_MANIM_VENV:-/opt/vidgen/venv}/bin/python" ] ||
	   ! command -v espeak-ng >/dev/null; then
		for i in $(seq 1 "$1"); do skip "no Manim venv or no espeak-ng"; done
		exit 0
	fi
	export RENDER_TEST_VIDEOS="$TMP/videos" VIDGEN_REPLAY_LOG="$TMP/replay.log"
	mkdir -p "$TMP/videos"
	: >"$TMP/replay.log"
}
calls() {
	awk -v s="$1" '$1 == s' "$TMP/replay.log" | wc -l
}
