#!/bin/sh
# End-to-end: the partial-movie cache's key (vidgen_hash.py, doc/render.md
# "Cache across repairs"). The plays of two scenes (shapes, updaters with
# closures, rate functions, functools.partial, an image's pixels, a
# formula) are keyed by vidgen's function and by Manim's, for a base and
# five variants that each change one input, twice for the base in separate
# processes. vidgen's key never stands for two of Manim's keys (a stale
# partial movie would be reused), is the same in every process, changes
# wherever Manim's does, and also where Manim's misses a change (a default
# argument's value, a partial's argument); a play it cannot key gets
# Manim's key.
. "$(dirname "$0")/lib.sh"

PY=${VIDGEN_MANIM_VENV:-/opt/vidgen/venv}/bin/python
plan 5
if [ ! -x "$PY" ] || ! command -v latex >/dev/null; then
	for i in 1 2 3 4 5; do skip "no Manim venv or no latex"; done
	exit 0
fi
HERE=${top_srcdir:-.}/tests/e2e/render
export PYTHONPATH=${top_srcdir:-.}/plugins/manim/python
mkdir -p "$TMP/keys"
fails=0
for run in base.1 base.2 color.1 rate.1 closure.1 image.1 partial.1; do
	(cd "$TMP" && VARIANT=${run%.*} TMPDIR=$TMP "$PY" "$HERE/keys.py" "$HERE/keyed.py" Shapes Pictures) \
		>"$TMP/keys/$run.txt" 2>"$TMP/keys.$run.err" || { fails=$((fails + 1)); diag "$(tail -3 "$TMP/keys.$run.err")"; }
done
python3 "$HERE/keycmp.py" "$TMP/keys" >"$TMP/cmp.json"
field() { python3 -c 'import json,sys; print(eval(sys.argv[2], json.load(open(sys.argv[1]))))' "$TMP/cmp.json" "$1"; }
ok "[ $fails -eq 0 ] && [ \"\$(field 'plays')\" -eq 70 ] && [ \"\$(field 'merged')\" -eq 0 ]" \
	"no vidgen key stands for two of Manim's keys ($(field 'plays' 2>/dev/null) plays keyed, $(field 'merged' 2>/dev/null) merged)"
ok "[ \"\$(field 'stable')\" = True ]" "the same script gives the same keys in two processes"
ok "[ \"\$(field 'all(set(changed[v]) <= set(vchanged[v]) for v in changed) and len(changed[\"color\"]) == 6 and len(changed[\"image\"]) == 4')\" = True ]" \
	"vidgen's key changes wherever Manim's does ($(field 'changed' 2>/dev/null))"
ok "[ \"\$(field 'vchanged[\"rate\"] == [\"Shapes 2\"] and vchanged[\"partial\"] == [\"Shapes 4\"]')\" = True ]" \
	"vidgen's key also changes with a rate function's default argument and a partial's argument (vidgen: $(field 'vchanged["rate"] + vchanged["partial"]' 2>/dev/null); Manim: $(field 'changed["rate"] + changed["partial"]' 2>/dev/null))"
(cd "$TMP" && "$PY" "$HERE/keys.py" fallback) >"$TMP/fallback.txt" 2>"$TMP/fallback.err"
ok "[ \"\$(tail -1 '$TMP/fallback.txt')\" = same ]" \
	"a play with an object that refuses to be pickled gets Manim's own key ($(tail -1 "$TMP/fallback.txt"))"
exit 0
