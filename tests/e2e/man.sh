#!/bin/sh
# The man pages vidgen(1) and vidgen-pipeline(5), as the build made them:
# man(1) renders each without a warning; vidgen(1) has a section for every
# command `vidgen --help` lists, naming every option that command's --help
# prints, and names every variable a --help does; the example of
# vidgen-pipeline(5) passes `vidgen check`.
. "$(dirname "$0")/lib.sh"
VIDGEN=${VIDGEN:-$top_builddir/vidgen}
MAN1=$top_builddir/doc/vidgen.1
MAN5=$top_builddir/doc/vidgen-pipeline.5
[ -x "$VIDGEN" ] || bail_out "no vidgen binary at $VIDGEN (run make first)"
command -v man >/dev/null 2>&1 || bail_out "man is not installed (scripts/install-deps.sh installs man-db)"
command -v python3 >/dev/null 2>&1 || bail_out "python3 is not installed"
plan 6

for page in "$MAN1" "$MAN5"; do
	warnings=$(MANWIDTH=80 man --warnings -E UTF-8 -l "$page" 2>&1 >/dev/null)
	ok "[ -f '$page' ] && [ -z \"\$warnings\" ]" "man -l $(basename "$page") renders without a warning" ||
		diag "$warnings"
done

MANWIDTH=200 man -E UTF-8 -l "$MAN1" >"$TMP/vidgen.txt" 2>/dev/null
"$VIDGEN" --help >"$TMP/help" 2>&1
for cmd in $(sed -n '/^commands:/,/^$/s/^  \([a-z]*\) .*/\1/p' "$TMP/help"); do
	"$VIDGEN" "$cmd" --help >"$TMP/help.$cmd" 2>&1
done
ok "[ \$(ls '$TMP'/help.* | wc -l) -ge 6 ]" "vidgen --help lists the commands (run, serve, render, check, hook, plugins)" ||
	diag "$(cat "$TMP/help")"

# Options are what a --help prints that looks like -x or --long-name (not
# inside a word such as wall-clock). Each command's must be in its section,
# "vidgen CMD" under COMMANDS; the top-level ones anywhere in the page.
python3 - "$TMP" <<'PY'
import glob, os, re, sys
tmp = sys.argv[1]
page = open(os.path.join(tmp, "vidgen.txt")).read()
opt = re.compile(r"(?<![\w-])(--?[A-Za-z][A-Za-z-]*)")
sections, name, in_commands = {}, None, False
for line in page.splitlines():
    m = re.match(r"^   vidgen ([a-z]+)$", line)
    if re.match(r"^[A-Z]", line):
        in_commands = line == "COMMANDS"
    if m and in_commands:
        name = m.group(1)
        sections[name] = ""
    elif re.match(r"^[A-Z]", line):
        name = None
    elif name:
        sections[name] += line + "\n"
missing = []
for path in sorted(glob.glob(os.path.join(tmp, "help.*"))):
    cmd = path.rsplit(".", 1)[1]
    text = sections.get(cmd)
    if text is None:
        missing.append("no section 'vidgen %s'" % cmd)
        continue
    for o in sorted(set(opt.findall(open(path).read()))):
        if not re.search(r"(?<![\w-])" + re.escape(o) + r"(?![\w-])", text):
            missing.append("vidgen %s: %s" % (cmd, o))
for o in sorted(set(opt.findall(open(os.path.join(tmp, "help")).read()))):
    if not re.search(r"(?<![\w-])" + re.escape(o) + r"(?![\w-])", page):
        missing.append("vidgen: %s" % o)
if missing:
    print("\n".join("# missing: " + m for m in missing))
    sys.exit(1)
PY
ok $? "every option each command's --help prints is in that command's section of vidgen(1)"

# Every variable a --help names (VIDGEN_HTTP_THREADS, TEMP_DIR, ...) too.
vars=$(cat "$TMP"/help "$TMP"/help.* | grep -oE '\b[A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9]\b' | sort -u)
absent=$(for v in $vars; do grep -qw -- "$v" "$TMP/vidgen.txt" || echo "$v"; done)
ok "[ -n '$vars' ] && [ -z '$absent' ]" "every environment variable a --help names is in vidgen(1)" ||
	diag "missing: $absent"

# The pipeline in vidgen-pipeline(5)'s EXAMPLE, beside the demo's answers.
MANWIDTH=200 man -E UTF-8 -l "$MAN5" 2>/dev/null |
	sed -n '/^EXAMPLE$/,/^[A-Z]/{/^[A-Z]/d;s/^       //;p}' >"$TMP/example.cfg"
ln -s "$top_srcdir/pipelines/answers" "$TMP/answers"
"$VIDGEN" check "$TMP/example.cfg" >"$TMP/check.out" 2>&1
rc=$?
ok "[ $rc -eq 0 ] && grep -q 'example.cfg: ok (5 stages)' '$TMP/check.out'" \
	"the example of vidgen-pipeline(5) passes vidgen check" || diag "$(cat "$TMP/check.out" "$TMP/example.cfg")"
exit 0
