#!/bin/sh
# A plugin an outside author writes (the example of doc/plugins.md, taken
# from the document itself), compiled with only include/vidgen/plugin.h and
# dropped into a folder: vidgen loads it without a rebuild. Also: a plugin
# built for another ABI major is refused with the file and both versions
# named. tests/e2e/install.sh builds the same example against an installed
# vidgen with pkg-config.
. "$(dirname "$0")/lib.sh"
src=$top_srcdir/tests/e2e/external
plan 6
CC=${CC:-cc}
mkdir -p "$TMP/plugins" "$TMP/old"
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
$CC -std=c11 -fPIC -shared -fvisibility=hidden -I"$top_srcdir/include" \
	-o "$TMP/old/shout.so" -x c - <<EOC 2>>"$TMP/cc.err"
#include <vidgen/plugin.h>
static int run(void *i, vg_stage *st) { (void)i; (void)st; return VG_OK; }
VG_PLUGIN_EXPORT const vg_plugin vidgen_plugin = {
	.abi_major = 2, .abi_minor = 0, .struct_size = sizeof(vg_plugin),
	.name = "shout", .run = run,
};
EOC
"$VIDGEN" plugins --plugin-dir "$TMP/old" >"$TMP/list2" 2>&1
abi=$("$VIDGEN" --version | sed -n 's/.*plugin ABI \([0-9.]*\)).*/\1/p')
ok "grep -q 'old/shout.so: refused: built for plugin ABI 2.0, this vidgen speaks $abi' $TMP/list2" \
	"a plugin built for ABI 2 is refused, naming the file and both versions" || diag "$(cat "$TMP/list2")"
exit 0
