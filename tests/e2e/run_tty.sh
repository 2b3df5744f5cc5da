#!/bin/sh
# `vidgen run`'s progress on a terminal (a pty from Python's pty module) and
# on a pipe, with --verbose so that log lines arrive while the bar is shown.
# The pty output is replayed through a small terminal model (\r, ESC[K, \n)
# to get the lines a user sees: a log line never shares one with the bar.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
VIDGEN=${VIDGEN:-$top_builddir/vidgen}
REPLAY=$top_srcdir/tests/e2e/replay/replay.cfg
Q="What is two plus two?"
unset TEMP_DIR REPLAY_DELAY_MS VIDGEN_REPLAY_LOG
[ -x "$VIDGEN" ] || bail_out "no vidgen binary at $VIDGEN (run make first)"
command -v python3 >/dev/null 2>&1 || bail_out "python3 is not installed"
plan 7

python3 - "$TMP/tty.raw" "$VIDGEN" run --verbose -p "$REPLAY" -o "$TMP/jobs" "$Q" <<'PY'
import os, pty, sys
out, argv = sys.argv[1], sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
data = b""
while True:
    try:
        chunk = os.read(fd, 65536)
    except OSError:  # EIO: the child closed the terminal
        break
    if not chunk:
        break
    data += chunk
_, status = os.waitpid(pid, 0)
open(out, "wb").write(data)
sys.exit(os.waitstatus_to_exitcode(status))
PY
ok $? "vidgen run on a terminal exits 0" || diag "$(cat "$TMP/tty.raw")"

# The screen lines, as a terminal shows them: \r to column 0, ESC[K erases
# to the end of the line, other bytes overwrite. The pty turns \n to \r\n.
python3 - "$TMP/tty.raw" >"$TMP/screen" <<'PY'
import sys
data = open(sys.argv[1], "rb").read().decode("utf-8", "replace")
lines, line, col, i = [], [], 0, 0
while i < len(data):
    c = data[i]
    if data.startswith("\033[K", i):
        del line[col:]
        i += 3
        continue
    if c == "\r":
        col = 0
    elif c == "\n":
        lines.append("".join(line))
        line, col = [], 0
    else:
        if col < len(line):
            line[col] = c
        else:
            line.append(c)
        col += 1
    i += 1
if line:
    lines.append("".join(line))
print("\n".join(lines))
PY
BAR='\[[#.]{30}\] +[0-9]+% [a-z_]+'
LOGLINE='[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3} (error|warn|info|debug) '
ok "[ \$(grep -Ec '^$LOGLINE' '$TMP/screen') -ge 3 ]" \
	"log lines were printed while the bar was shown (--verbose)" || diag "$(cat "$TMP/screen")"
ok "! grep -E '$BAR' '$TMP/screen' | grep -Evq '^$BAR\$' && ! grep -E '$LOGLINE' '$TMP/screen' | grep -Evq '^$LOGLINE'" \
	"no screen line holds both the bar and a log line" || diag "$(cat "$TMP/screen")"
ok "[ \$(grep -Ec '^$BAR\$' '$TMP/screen') -eq 1 ] && grep -Eq '^\[#{30}\] 100% completed\$' '$TMP/screen'" \
	"one bar is left on the screen, full and completed" || diag "$(cat "$TMP/screen")"

# After every log line the bar is drawn again: in the byte stream, each log
# line's newline is followed by the bar (the last one may be followed by the
# next log line only if no bar was shown yet).
python3 - "$TMP/tty.raw" <<'PY'
import re, sys
data = open(sys.argv[1], "rb").read().decode("utf-8", "replace")
log = re.compile(r"\d\d:\d\d:\d\d\.\d{3} (error|warn|info|debug) [^\r\n]*\r?\n")
seen = 0
for m in log.finditer(data):
    seen += 1
    if not data.startswith("[", m.end()):
        sys.exit("no bar after: " + m.group(0).strip())
sys.exit(0 if seen >= 3 else "only %d log lines" % seen)
PY
ok $? "the bar is redrawn after each log line"

# Not a terminal: plain lines as before, no carriage return or escape code.
"$VIDGEN" run --verbose -p "$REPLAY" -o "$TMP/jobs" "$Q" >"$TMP/pipe.out" 2>"$TMP/pipe.err"
ok $? "vidgen run on a pipe exits 0" || diag "$(cat "$TMP/pipe.err")"
CTRL=$(printf '[\r\033]')
ok "! grep -q '$CTRL' '$TMP/pipe.err' && grep -Eq '^ *40% refining_explanation\$' '$TMP/pipe.err' && grep -Eq '^$LOGLINE' '$TMP/pipe.err' && ! grep -Ev '^(job |usage: |$LOGLINE| *[0-9]+% [a-z_]+\$)' '$TMP/pipe.err' | grep -q ." \
	"on a pipe: plain progress lines and log lines, each on its own line, no control codes" ||
	diag "$(cat -A "$TMP/pipe.err")"
exit 0
