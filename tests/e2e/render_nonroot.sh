#!/bin/sh
# End-to-end: the sandbox of a vidgen that does not run as root (bubblewrap
# in a user namespace, --unshare-all), run as the user nobody. The script is
# not checked (--no-check): the sandbox alone must hold. Needs root to
# switch users, and a Manim venv other users can run (install-deps makes one
# from Debian's python3).
. "$(dirname "$0")/lib.sh"

VIDGEN=$(realpath "${VIDGEN:-./vidgen}")
VENV=${VIDGEN_MANIM_VENV:-/opt/vidgen/venv}
N=5
plan $N
why=""
if [ "$(id -u)" -ne 0 ] || ! command -v runuser >/dev/null; then
	why="needs root, to run as nobody"
elif [ ! -x "$VENV/bin/python" ]; then
	why="no Manim venv at $VENV"
elif ! runuser -u nobody -- "$VENV/bin/python" -c "import manim" 2>/dev/null; then
	why="the Manim venv at $VENV cannot be run by other users (scripts/install-deps.sh makes one that can)"
elif ! runuser -u nobody -- bwrap --unshare-all --ro-bind / / --dev /dev --proc /proc true 2>/dev/null; then
	why="no unprivileged user namespaces here"
elif ! runuser -u nobody -- test -x "$VIDGEN"; then
	why="nobody cannot run $VIDGEN (a build tree others cannot read)"
fi
if [ -n "$why" ]; then
	for i in $(seq 1 $N); do skip "$why"; done
	exit 0
fi

# A scratch folder nobody may use; the rest of $TMP stays root's.
chmod 755 "$TMP"
mkdir -m 1777 "$TMP/nb"
# A service on the host's loopback that notes any connection.
python3 -c '
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
print(s.getsockname()[1], flush=True)
c, _ = s.accept(); open(sys.argv[1], "w").write("CONNECTED\n")
' "$TMP/connected" >"$TMP/port" &
LISTENER=$!
for i in $(seq 1 50); do [ -s "$TMP/port" ] && break; sleep 0.1; done
PORT=$(cat "$TMP/port")

cat >"$TMP/nb/probe.py" <<EOF
from manim import *
import os, socket
print("UID", os.getuid(), "PID", os.getpid(), "ENV", " ".join(sorted(os.environ)))
try:
    open("$TMP/nb/escaped.txt", "w").write("x")
    print("WRITE escaped")
except Exception as e:
    print("WRITE blocked:", e)
try:
    socket.create_connection(("127.0.0.1", $PORT), timeout=2)
    print("NET reached the host")
except Exception as e:
    print("NET blocked:", e)
class Probe(Scene):
    def construct(self):
        self.wait(1)
EOF
chmod 644 "$TMP/nb/probe.py"

runuser -u nobody -- env HOME="$TMP/nb" TMPDIR="$TMP/nb" VIDGEN_MANIM_VENV="$VENV" \
	VIDGEN_PLUGIN_PATH="${VIDGEN_PLUGIN_PATH:-}" AWS_SECRET_ACCESS_KEY=not-for-scripts \
	"$VIDGEN" render --no-check --keep -o "$TMP/nb/probe.mp4" "$TMP/nb/probe.py" \
	>"$TMP/out" 2>"$TMP/err"
rc=$?
kept=$(sed -n 's/.*work directory kept: //p' "$TMP/err")
log=$(ls "$kept"/render/work*/render.log 2>/dev/null | head -1)
ok "[ $rc -eq 0 ] && [ \$(stat -c %s '$TMP/nb/probe.mp4' 2>/dev/null || echo 0) -gt 1000 ]" \
	"as nobody: the sandboxed render makes the video" || diag "$(tail -5 "$TMP/err")"
ok "grep -q '^UID 65534 PID [1-9] ' '$log'" \
	"the script runs as the calling user, in a PID namespace of its own" ||
	diag "$(head -3 "$log" 2>/dev/null)"
ok "grep -q '^UID .* ENV ' '$log' && ! grep -q 'AWS_SECRET_ACCESS_KEY' '$log'" \
	"no credentials in the script's environment" || diag "$(grep '^UID' "$log")"
ok "grep -q '^WRITE blocked' '$log' && [ ! -e '$TMP/nb/escaped.txt' ]" \
	"the script cannot write outside its own directory" || diag "$(grep '^WRITE' "$log")"
ok "grep -q '^NET blocked' '$log' && [ ! -e '$TMP/connected' ]" \
	"the script cannot reach a service on the host's loopback" || diag "$(grep '^NET' "$log")"
kill "$LISTENER" 2>/dev/null
rm -rf "$kept"
exit 0
