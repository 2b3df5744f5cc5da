#!/bin/sh
# End-to-end: the TeX and text caches that a sliced render's processes
# share (vidgen_caches.py, doc/render.md "Sliced, parallel render"). Four
# processes typeset the same three formulas and three texts at once into one
# media folder: all succeed, each formula is typeset once (latex runs
# counted through a logging `latex` first on PATH), the caches hold whole
# files only (no claim, scratch or build leftovers); and the prefetch finds
# a script's literal formulas, also through lists and loops, and nothing
# that is not literal.
. "$(dirname "$0")/lib.sh"

PY=${VIDGEN_MANIM_VENV:-/opt/vidgen/venv}/bin/python
plan 6
if [ ! -x "$PY" ] || ! command -v latex >/dev/null; then
	for i in 1 2 3 4 5 6; do skip "no Manim venv or no latex"; done
	exit 0
fi
HERE=${top_srcdir:-.}/tests/e2e/render
export PYTHONPATH=${top_srcdir:-.}/plugins/manim/python
mkdir -p "$TMP/bin"
real=$(command -v latex)
cat >"$TMP/bin/latex" <<SH
#!/bin/sh
echo "\$*" >>"$TMP/latex.log"
exec "$real" "\$@"
SH
chmod +x "$TMP/bin/latex"
: >"$TMP/latex.log"
(cd "$TMP" && PATH="$TMP/bin:$PATH" "$PY" "$HERE/caches.py" race "$TMP/media") >"$TMP/race.json" 2>"$TMP/race.err"
ok $? "four processes typeset the same formulas and texts at once" || diag "$(tail -5 "$TMP/race.err")"
field() { python3 -c 'import json,sys; print(eval(sys.argv[2], {}, json.load(open(sys.argv[1]))))' "$TMP/race.json" "$1"; }
ok "[ \"\$(field 'installed and codes == [0, 0, 0, 0]')\" = True ]" \
	"the patches are in and every process succeeded ($(field codes 2>/dev/null))"
ok "[ \"\$(wc -l <'$TMP/latex.log')\" -eq 3 ]" \
	"each formula was typeset once ($(wc -l <"$TMP/latex.log") latex runs for 3 formulas in 4 processes)"
ok "[ \"\$(field 'len(tex) == 3 and all(f.endswith(\".svg\") for f in tex) and len(texts) == 3 and all(f.endswith(\".svg\") for f in texts)')\" = True ]" \
	"the caches hold the 3 formulas and 3 texts as whole SVG files, nothing else ($(field 'tex + texts' 2>/dev/null | tr -d "[]'" | head -c 200))"
"$PY" "$HERE/caches.py" formulas "$HERE/prefetch.py" Derived >"$TMP/formulas.txt" 2>"$TMP/formulas.err"
ok "[ \"\$(cat '$TMP/formulas.txt')\" = \"\$(cat '$HERE/prefetch.expected')\" ]" \
	"the prefetch finds the literal formulas of the scene and its base, through lists and loops, in file order" ||
	diag "$(cat "$TMP/formulas.txt" "$TMP/formulas.err")"
"$PY" "$HERE/caches.py" formulas "$HERE/prefetch.py" Other >"$TMP/other.txt" 2>&1
ok "[ \"\$(cat '$TMP/other.txt')\" = '[\"MathTex\", [\"z\"], {}]' ]" \
	"another scene of the same file gets only its own ($(cat "$TMP/other.txt"))"
exit 0
