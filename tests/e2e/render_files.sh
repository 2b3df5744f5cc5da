#!/bin/sh
# End-to-end: which of the host's files a rendered script can read. Secret
# files of vidgen's user (mode 600, and world-readable copies) are planted
# where a deployment keeps them: an environment file under /etc, a job
# database under /var/lib, another deployment's data under /srv, a file
# beside the Manim venv, a sibling of the job in the jobs folder. Scripts try
# to read them through Manim's file-reading classes (with the static check
# on) and through plain Python (check off); none may succeed, as root (the
# render runs as a private uid) and as an unprivileged user (nobody). Control
# files planted inside the venv, which the sandbox shows, must be readable,
# so the readers are known to work.
. "$(dirname "$0")/lib.sh"

VIDGEN=$(realpath "${VIDGEN:-./vidgen}")
VENV=${VIDGEN_MANIM_VENV:-/opt/vidgen/venv}
N=8
plan $N
why=""
if [ "$(id -u)" -ne 0 ]; then
	why="needs root, to plant files under /etc, /var/lib and /srv"
elif [ ! -x "$VENV/bin/python" ]; then
	why="no Manim venv at $VENV"
elif ! bwrap --unshare-all --ro-bind / / --dev /dev --proc /proc true 2>/dev/null; then
	why="bubblewrap cannot create namespaces here"
fi
if [ -n "$why" ]; then
	for i in $(seq 1 $N); do skip "$why"; done
	exit 0
fi

tag=vidgen-e2e-files-$$
JOBS=/var/tmp/$tag-jobs
ETC=/etc/$tag
LIB=/var/lib/$tag
SRV=/srv/$tag
OPT=$(dirname "$VENV")/$tag
CTL=$VENV/$tag
cleanup() {
	rm -rf "$ETC" "$LIB" "$SRV" "$OPT" "$CTL" "$JOBS"
	tap_cleanup
}
trap cleanup EXIT

# plant DIR OWNER MODE: DIR/secret.{txt,svg,png}, each holding a marker.
plant() {
	mkdir -p "$1"
	printf 'AWS_SECRET_ACCESS_KEY=PLANTED-SECRET-%s\n' "$$" >"$1/secret.txt"
	printf '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">%s</svg>\n' \
		'<rect width="10" height="10"/><!-- PLANTED-SECRET -->' >"$1/secret.svg"
	python3 - "$1/secret.png" <<'PY'
import struct, sys, zlib
def chunk(t, d):
    c = t + d
    return struct.pack(">I", len(d)) + c + struct.pack(">I", zlib.crc32(c))
raw = b"".join(b"\0" + b"\xff\x00\x00" * 4 for _ in range(4))
png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
       + chunk(b"tEXt", b"Comment\0PLANTED-SECRET") + chunk(b"IDAT", zlib.compress(raw))
       + chunk(b"IEND", b""))
open(sys.argv[1], "wb").write(png)
PY
	chown -R "$2" "$1"
	chmod 755 "$1"
	chmod "$3" "$1"/secret.*
}

# readers SCRIPT DIR...: a scene that tries every reader on each DIR and
# raises "FILES=<what it read>" (or "FILES=none"), then "CONTROL=..." for the
# venv's control files.
readers() {
	out=$1
	shift
	{
		echo "from manim import *"
		echo "import numpy as np"
		printf 'DIRS = ['; for d; do printf '"%s", ' "$d"; done; echo ']'
		echo "CONTROL = \"$CTL\""
		cat <<'PY'
READERS = (
    ("code", lambda d: Code(code_file=d + "/secret.txt")),
    ("svg", lambda d: SVGMobject(d + "/secret.svg")),
    ("image", lambda d: ImageMobject(d + "/secret.png")),
    ("numpy", lambda d: np.fromfile(d + "/secret.txt", dtype=np.uint8)),
)


class Files(Scene):
    def construct(self):
        seen = []
        for d in DIRS:
            for name, read in READERS:
                try:
                    read(d)
                    seen.append(name + ":" + d)
                except Exception:
                    pass
        ctl = []
        # SVGMobject writes a modified copy beside the file it reads, so it
        # reads only from writable folders (none of the host's): no control.
        for name, read in READERS:
            if name == "svg":
                continue
            try:
                read(CONTROL)
                ctl.append(name)
            except Exception as e:
                ctl.append(name + "-failed(" + type(e).__name__ + ")")
        raise ValueError("FILES=" + (",".join(seen) or "none") + " CONTROL=" + ",".join(ctl))
PY
	} >"$out"
	chmod 644 "$out"
}

# plain SCRIPT DIR...: the same with plain Python (check off): open, stat,
# a directory listing of each DIR's parent.
plain() {
	out=$1
	shift
	{
		echo "import os"
		echo "from manim import *"
		printf 'DIRS = ['; for d; do printf '"%s", ' "$d"; done; echo ']'
		cat <<'PY'


class Plain(Scene):
    def construct(self):
        seen = []
        for d in DIRS:
            for f in ("secret.txt", "secret.svg", "secret.png"):
                try:
                    with open(d + "/" + f, "rb") as fh:
                        fh.read()
                    seen.append("open:" + d + "/" + f)
                except OSError:
                    pass
            if os.path.exists(d):
                seen.append("exists:" + d)
        for top in ("/etc", "/var/lib", "/srv", "/opt", "/home", "/root", "/var/tmp"):
            try:
                names = [n for n in os.listdir(top) if n.startswith("vidgen-e2e")]
                if names:
                    seen.append("listed:" + top)
            except OSError:
                pass
        raise ValueError("FILES=" + (",".join(seen) or "none"))
PY
	} >"$out"
	chmod 644 "$out"
}

# render AS NAME [OPTIONS]: renders $TMP/NAME.py as root or nobody, with its
# jobs under $JOBS; its stderr in $TMP/NAME.err.
render() {
	as=$1 name=$2
	shift 2
	if [ "$as" = root ]; then
		TMPDIR=$JOBS "$VIDGEN" render "$@" -o "$JOBS/$name.mp4" "$TMP/$name.py" \
			>/dev/null 2>"$TMP/$name.err"
	else
		runuser -u nobody -- env HOME="$JOBS" TMPDIR="$JOBS" \
			VIDGEN_MANIM_VENV="$VENV" VIDGEN_PLUGIN_PATH="${VIDGEN_PLUGIN_PATH:-}" \
			"$VIDGEN" render "$@" -o "$JOBS/$name.mp4" "$TMP/$name.py" \
			>/dev/null 2>"$TMP/$name.err"
	fi
}

# attempt AS: renders both reader scripts as AS (root or nobody) and checks
# that they read nothing planted but the control files.
attempt() {
	readers "$TMP/$1_manim.py" $DIRS
	plain "$TMP/$1_plain.py" $DIRS
	render "$1" "$1_manim"
	render "$1" "$1_plain" --no-check
	ok "grep -q 'FILES=none ' '$TMP/$1_manim.err'" \
		"as $1: Manim's Code, SVGMobject, ImageMobject and numpy read none of them" ||
		diag "$(grep -o 'FILES=.*' "$TMP/$1_manim.err" | head -c 600)"
	ok "grep -q 'CONTROL=code,image,numpy' '$TMP/$1_manim.err'" \
		"as $1: the same readers read the control files the sandbox shows" ||
		diag "$(grep -o 'CONTROL=.*' "$TMP/$1_manim.err" | head -c 600)"
	ok "grep -q 'FILES=none' '$TMP/$1_plain.err'" \
		"as $1, check off: plain Python cannot open, see or list them" ||
		diag "$(grep -o 'FILES=.*' "$TMP/$1_plain.err" | head -c 600)"
}

chmod 755 "$TMP"
mkdir -m 1777 "$JOBS"
DIRS="$ETC $LIB $SRV $OPT $JOBS/other-job"

# As root: the files are root's, 600 and world-readable (644) alike.
plant "$ETC" root 644
plant "$LIB" root 600
plant "$SRV" root 644
plant "$OPT" root 644
plant "$JOBS/other-job" root 644
plant "$CTL" root 644
attempt root
ok "[ -r '$ETC/secret.txt' ] && grep -q PLANTED '$SRV/secret.txt'" \
	"the planted files are there on the host"

# As nobody: the files are nobody's own (600), as vidgen's user's would be.
why=""
if ! runuser -u nobody -- "$VENV/bin/python" -c "import manim" 2>/dev/null; then
	why="the Manim venv at $VENV cannot be run by other users"
elif ! runuser -u nobody -- bwrap --unshare-all --ro-bind / / --dev /dev --proc /proc true 2>/dev/null; then
	why="no unprivileged user namespaces here"
elif ! runuser -u nobody -- test -x "$VIDGEN"; then
	why="nobody cannot run $VIDGEN (a build tree others cannot read)"
fi
if [ -n "$why" ]; then
	for i in $(seq 5 $N); do skip "$why"; done
	exit 0
fi
for d in $DIRS; do
	chown -R nobody "$d"
	chmod 600 "$d"/secret.*
done
ok "runuser -u nobody -- cat '$LIB/secret.txt' | grep -q PLANTED" \
	"as nobody, outside the sandbox, the files are readable"
attempt nobody
exit 0
