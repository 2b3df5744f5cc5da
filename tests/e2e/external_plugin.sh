#!/bin/sh
# A plugin an outside author writes (the example of doc/plugins.md, taken
# from the document itself), compiled with only include/vidgen/plugin.h and
# dropped into a folder: vidgen loads it without a rebuild. Also: a
# descriptor of another ABI major (a later one, and a 1.x plugin from before
# ABI 2.0) is refused with the file and both versions named.
# tests/e2e/install.sh builds the same example against an installed vidgen
# with pkg-config.
. "$(dirname "$0")/lib.sh"
src=$top_srcdir/tests/e2e/external
plan 7
CC=${CC:-cc}
mkdir -p "$TMP/plugins"
doc_block "$top_srcdir/doc/plugins.md" c >"$TMP/shout.c"
$CC -std=c11 -Wall -Wextra -Werror -fPIC -shared -fvisibility=hidden -I"$top_srcdir/include" \
	-o "$TMP/plugins/shout.so" "$TMP/shout.c" 2>"$TMP/cc.err"
ok $? "doc/plugins.md's example compiles against plugin.h alone, without a warning" ||
	diag "$(cat "$TMP/cc.err")"
"$VIDGEN" plugins --plugin-dir "$TMP/plugins" >"$TMP/list" 2>&1
ok "grep -q '^shout  *model' $TMP/list" "vidgen plugins --plugin-dir lists it"
"$VIDGEN" plugins --plugin-dir "$TMP/plugins" shout >"$TMP/doc" 2>&1
ok "grep -q 'suffix' $TMP/doc" "its settings table is documented"
out=$("$VIDGEN" run --json --plugin-dir "$TMP/plugins" -p "$src/shout.cfg" -o "$TMP/jobs" \
	"Shout this question back" 2>"$TMP/err")
ok $? "a pipeline runs it" || diag "$(cat "$TMP/err")"
echo "$out" >"$TMP/out.json"
ok "grep -q '\"initial_explanation\": \"Shout this question back!!\"' $TMP/out.json" \
	"its output, with the suffix the pipeline set, reaches the response"

# build_abi MAJOR MINOR DIR: the example's descriptor with another version.
build_abi() {
	mkdir -p "$3"
	$CC -std=c11 -fPIC -shared -fvisibility=hidden -I"$top_srcdir/include" \
		-o "$3/shout.so" -x c - <<EOC 2>>"$TMP/cc.err"
#include <vidgen/plugin.h>
static int run(void *i, vg_stage *st) { (void)i; (void)st; return VG_OK; }
VG_PLUGIN_EXPORT const vg_plugin vidgen_plugin = {
	.abi_major = $1, .abi_minor = $2, .struct_size = sizeof(vg_plugin),
	.name = "shout", .run = run,
};
EOC
}
abi=$("$VIDGEN" --version | sed -n 's/.*plugin ABI \([0-9.]*\)).*/\1/p')
build_abi 3 0 "$TMP/new"
"$VIDGEN" plugins --plugin-dir "$TMP/new" >"$TMP/list2" 2>&1
ok "grep -q 'new/shout.so: refused: built for plugin ABI 3.0, this vidgen speaks $abi' $TMP/list2" \
	"a plugin built for a later ABI major is refused, naming the file and both versions" ||
	diag "$(cat "$TMP/list2")"
build_abi 1 2 "$TMP/old"
"$VIDGEN" plugins --plugin-dir "$TMP/old" >"$TMP/list3" 2>&1
ok "grep -q 'old/shout.so: refused: built for plugin ABI 1.2, this vidgen speaks $abi .*rebuild.*doc/plugins.md' $TMP/list3" \
	"a 1.x plugin is refused, naming the file, both versions and what to do" ||
	diag "$(cat "$TMP/list3")"
exit 0
