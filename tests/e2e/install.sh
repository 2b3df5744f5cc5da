#!/bin/sh
# An installed vidgen, as a user has it after `make install`: its man pages,
# no libtool .la files beside the plugins, pipelines found by name in
# $(pipelinedir), the offline demo made from the installed files, and
# doc/plugins.md's example plugin built outside the tree with only
# `pkg-config --cflags vidgen-plugin` (the document's own commands), then
# loaded and run by the installed vidgen.
#
# Under `make check` it configures, builds and installs the source tree into
# a scratch prefix. `make installcheck` runs it on the configured prefix
# instead (VIDGEN_PREFIX): then the example plugin is copied into the real
# plugin folder only if no shout.so is there, and removed afterwards.
. "$(dirname "$0")/lib.sh"
unset VIDGEN_PLUGIN_PATH TEMP_DIR VIDGEN_REPLAY_LOG REPLAY_DELAY_MS
N=16
plan $N
skip_rest() {
	while [ "$TAP_N" -lt "$N" ]; do skip "$1"; done
	exit 0
}

if [ -n "${VIDGEN_PREFIX:-}" ]; then
	prefix=$VIDGEN_PREFIX
	ok "[ -x '$prefix/bin/vidgen' ]" "vidgen is installed in $prefix" || skip_rest "nothing installed"
else
	[ -x "$top_srcdir/configure" ] || skip_rest "no configure script in $top_srcdir"
	prefix=$TMP/prefix
	mkdir -p "$TMP/build"
	# The build under test's make flags (its jobserver, TESTS=...) are not ours.
	(cd "$TMP/build" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL sh -c '
		"$1/configure" -q --prefix="$2" --disable-dependency-tracking CFLAGS=-O0 &&
		make -s -j2 && make -s install' sh "$top_srcdir" "$prefix") >"$TMP/build.log" 2>&1
	ok $? "configure --prefix, make and make install into a scratch prefix" ||
		{ diag "$(tail -20 "$TMP/build.log")"; skip_rest "the install failed"; }
fi
vidgen=$prefix/bin/vidgen
# installcheck passes the folders configure chose; a scratch prefix has the defaults.
export PKG_CONFIG_PATH=${VIDGEN_PKGCONFIGDIR:-$prefix/lib/pkgconfig}
pipelinedir=${VIDGEN_PIPELINEDIR:-$prefix/share/vidgen/pipelines}
plugindir=$(pkg-config --variable=plugindir vidgen-plugin)

mandir=${VIDGEN_MANDIR:-$prefix/share/man}
# The page names the folders as the build wrote them: each '/' followed by \:.
man_pipelinedir=$(printf '%s' "$pipelinedir" | sed 's|/|/\\:|g')
MANPATH=$mandir man -w vidgen >"$TMP/man.w" 2>&1
MANPATH=$mandir man -w 5 vidgen-pipeline >>"$TMP/man.w" 2>&1
ok "[ \"\$(cat '$TMP/man.w')\" = '$mandir/man1/vidgen.1
$mandir/man5/vidgen-pipeline.5' ] && grep -qF -- '$man_pipelinedir' '$mandir/man1/vidgen.1'" \
	"the man pages are installed (man vidgen, man 5 vidgen-pipeline), naming the installed folders" ||
	diag "$(cat "$TMP/man.w")"

las=$(find "$plugindir" "$plugindir/.." -maxdepth 1 -name '*.la')
ok "[ -z '$las' ] && [ -f '$plugindir/replay.so' ]" "no libtool .la file is left beside the installed plugins" ||
	diag "left: $las"

# Pipelines by name. Run from a folder of our own, holding a demo.cfg that is
# not the demo: a name ending in .cfg that is a file here is that file.
mkdir -p "$TMP/cwd"
cat >"$TMP/cwd/demo.cfg" <<'EOF'
name = "not-the-demo";
models = ( { name = "m"; id = "m"; } );
stages = ( { id = "say"; plugin = "replay"; inputs = ["question"]; settings = { dir = "."; }; } );
EOF
cd "$TMP/cwd" || bail_out "cannot enter $TMP/cwd"
"$vidgen" check demo >"$TMP/check.out" 2>&1
ok "grep -qx '$pipelinedir/demo.cfg: ok (.* stages)' '$TMP/check.out'" \
	"vidgen check demo: the installed demo.cfg, by name" || diag "$(cat "$TMP/check.out")"
"$vidgen" check demo.cfg >"$TMP/check2.out" 2>&1
ok "grep -qx 'demo.cfg: ok (1 stages)' '$TMP/check2.out'" \
	"vidgen check demo.cfg: a file of that name in the current folder comes first" ||
	diag "$(cat "$TMP/check2.out")"
"$vidgen" run -p nonesuch "Anything?" >/dev/null 2>"$TMP/none.err"
rc=$?
ok "[ $rc -eq 3 ] && grep -q 'no nonesuch.cfg in $pipelinedir' '$TMP/none.err'" \
	"a name found nowhere: exit 3, naming the folder searched" || diag "exit $rc: $(cat "$TMP/none.err")"
"$vidgen" serve -p nonesuch -l 127.0.0.1:0 >/dev/null 2>"$TMP/serve.err"
rc=$?
ok "[ $rc -eq 3 ] && grep -q '^vidgen serve: pipeline \"nonesuch\": .*no nonesuch.cfg in $pipelinedir' '$TMP/serve.err'" \
	"vidgen serve -p looks a name up the same way" || diag "exit $rc: $(cat "$TMP/serve.err")"

# The whole offline demo from the installed files (prompts, recorded answers,
# the manim plugin and its Python helpers).
VENV=${VIDGEN_MANIM_VENV:-/opt/vidgen/venv}
if [ -x "$VENV/bin/python" ] && command -v espeak-ng >/dev/null 2>&1; then
	"$vidgen" run -p demo -o "$TMP/jobs" "How does binary search work?" >"$TMP/demo.out" 2>"$TMP/demo.err"
	rc=$?
	video=$(sed -n 's/^video: //p' "$TMP/demo.out")
	# (./demo.cfg here has no answer for it and makes no video.)
	ok "[ $rc -eq 0 ] && [ -s '$video' ]" \
		"vidgen run -p demo makes the demo video from the installed pipeline" ||
		diag "exit $rc: $(tail -5 "$TMP/demo.err")"
else
	skip "no Manim venv at $VENV or no espeak-ng for the demo"
fi

# doc/plugins.md: its example source and its build-and-install commands,
# run as written by an author whose PATH holds the installed vidgen.
mkdir -p "$TMP/author"
doc_block "$top_srcdir/doc/plugins.md" c >"$TMP/author/shout.c"
doc_block "$top_srcdir/doc/plugins.md" sh >"$TMP/author/build.sh"
ok "grep -q 'pkg-config --cflags vidgen-plugin' '$TMP/author/build.sh' && ! grep -q -- '-I' '$TMP/author/build.sh'" \
	"the document builds with pkg-config alone (no -I into a source tree)"
if [ -n "${VIDGEN_PREFIX:-}" ] && [ -e "$plugindir/shout.so" ]; then
	skip_rest "$plugindir/shout.so exists already; not replacing it"
fi
[ -n "${VIDGEN_PREFIX:-}" ] && trap 'rm -f "$plugindir/shout.so"; tap_cleanup' EXIT
(cd "$TMP/author" && PATH=$prefix/bin:$PATH sh -e build.sh) >"$TMP/author.out" 2>&1
ok $? "the document's commands build and install the plugin" || diag "$(cat "$TMP/author.out")"
ok "[ -f '$plugindir/shout.so' ] && grep -q 'suffix' '$TMP/author.out'" \
	"it lands in the installed plugin folder and vidgen plugins shout documents it" ||
	diag "$(cat "$TMP/author.out")"
"$vidgen" plugins >"$TMP/list" 2>&1
ok "grep -q '^shout  *model  *1.0.0  *$plugindir/shout.so' '$TMP/list' && grep -q '^replay .*$plugindir/replay.so' '$TMP/list'" \
	"the installed vidgen lists it with the bundled plugins, from its own plugin folder" ||
	diag "$(cat "$TMP/list")"
"$vidgen" plugins shout >"$TMP/doc" 2>&1
ok "grep -q 'suffix' '$TMP/doc' && grep -q 'text added after the answer' '$TMP/doc'" \
	"vidgen plugins shout prints its settings table"
"$vidgen" run --json -p "$top_srcdir/tests/e2e/external/shout.cfg" -o "$TMP/jobs" \
	"Shout this question back" >"$TMP/shout.json" 2>"$TMP/shout.err"
ok $? "a pipeline using it runs" || diag "$(cat "$TMP/shout.err")"
ok "grep -q '\"initial_explanation\": \"Shout this question back!!\"' '$TMP/shout.json'" \
	"its answer, with the pipeline's suffix, reaches the response" || diag "$(cat "$TMP/shout.json")"
ok "grep -q ' info  \[[0-9a-f]* say\] answered with suffix !!\$' '$TMP/shout.err'" "its log line is shown" ||
	diag "$(cat "$TMP/shout.err")"
exit 0
