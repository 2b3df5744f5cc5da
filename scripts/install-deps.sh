#!/usr/bin/env bash
# Installs everything vidgen needs on a fresh Debian 12 machine: build tools and
# libraries (apt), the rendering stack (ffmpeg, espeak-ng, bubblewrap, TeX Live) and
# Manim Community Edition in its own venv. Safe to run again: it skips what is there.
#
#   scripts/install-deps.sh            everything
#   scripts/install-deps.sh --no-manim skip the Manim venv (build + unit tests only)
set -euo pipefail

VENV=${VIDGEN_MANIM_VENV:-/opt/vidgen/venv}
MANIM_VERSION=0.22.0
with_manim=1
[ "${1:-}" = "--no-manim" ] && with_manim=0

APT_PACKAGES=(
  build-essential autoconf automake libtool pkg-config
  libcurl4-openssl-dev libconfig-dev libjansson-dev libssl-dev
  liblua5.4-dev lua5.4 libmicrohttpd-dev libsqlite3-dev sqlite3 libpq-dev postgresql
  libcmocka-dev valgrind curl jq python3 python3-venv python3-yaml strace systemd
  man-db groff-base
  bubblewrap espeak-ng ffmpeg sox
  libcairo2-dev libpango1.0-dev
  texlive-latex-base texlive-latex-recommended texlive-latex-extra
  texlive-fonts-recommended dvisvgm cm-super
  chromium
  clang libclang-rt-14-dev llvm
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${#missing[@]} Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The Manim venv is made from Debian's python3: a venv made from a python under
# /root (pyenv, say) cannot be run by other users, and a vidgen that does not
# run as root renders with the venv as its own user.
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
if [ $with_manim -eq 1 ]; then
  if [ "$(id -u)" -eq 0 ] && [ "$PY" = /usr/bin/python3 ] && [ -f "$VENV/pyvenv.cfg" ] &&
     command -v runuser >/dev/null && "$VENV/bin/python" -c "import manim" 2>/dev/null &&
     ! runuser -u nobody -- "$VENV/bin/python" -c "import manim" 2>/dev/null; then
    echo "install-deps: other users cannot run the Manim venv at $VENV: making it again from $PY"
    rm -rf "$VENV"
  fi
  if ! "$VENV/bin/python" -c "import manim" 2>/dev/null; then
    echo "install-deps: creating the Manim venv at $VENV (about 500 MB)"
    mkdir -p "$(dirname "$VENV")"
    "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q "manim==$MANIM_VERSION"
  fi
fi
# Test venv for the cloud e2e tests: moto in server mode plays S3 (tests/fakes).
TESTVENV=${VIDGEN_TEST_VENV:-/opt/vidgen/testvenv}
"$TESTVENV/bin/python" -c "import moto, boto3" 2>/dev/null || { mkdir -p "$(dirname "$TESTVENV")" && python3 -m venv "$TESTVENV" && "$TESTVENV/bin/pip" install -q "moto[server]==5.2.5"; }
# schemathesis, pinned, in a venv of its own (its pins must not meet moto's):
# tests/e2e/serve_openapi.sh runs it against the daemon's OpenAPI document.
SCHEMATHESIS_VENV=${VIDGEN_SCHEMATHESIS_VENV:-/opt/vidgen/schemathesis}
SCHEMATHESIS_VERSION=4.32.5
if [ "$("$SCHEMATHESIS_VENV/bin/schemathesis" --version 2>/dev/null)" != "schemathesis, version $SCHEMATHESIS_VERSION" ]; then
  echo "install-deps: installing schemathesis $SCHEMATHESIS_VERSION in $SCHEMATHESIS_VENV"
  rm -rf "$SCHEMATHESIS_VENV"
  mkdir -p "$(dirname "$SCHEMATHESIS_VENV")"
  "$PY" -m venv "$SCHEMATHESIS_VENV"
  "$SCHEMATHESIS_VENV/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi
echo "install-deps: done"
