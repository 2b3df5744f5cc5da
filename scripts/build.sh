#!/usr/bin/env bash
# Configures and builds vidgen; prints the build directory on stdout.
#   scripts/build.sh [release|sanitize]
# A fresh checkout builds out of tree in _build/<flavour>; a tree already
# configured in place (a developer's) is built in place.
set -euo pipefail
flavour=${1:-release}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ -x configure ] && [ configure -nt configure.ac ] || autoreconf -fi >&2
flags=(--enable-werror)
[ "$flavour" = sanitize ] && flags+=(--enable-sanitizers)
if [ -f config.status ]; then
  dir=$top
  have=$(./config.status --config 2>/dev/null || true)
  if [ "$have" != "$(printf "'%s' " "${flags[@]}" | sed 's/ $//')" ]; then
    ./configure -q "${flags[@]}" >&2
  fi
else
  dir=$top/_build/$flavour
  mkdir -p "$dir"
  cd "$dir"
  [ -f config.status ] || "$top/configure" -q "${flags[@]}" >&2
fi
make -C "$dir" -j"$(nproc)" >&2
echo "$dir"
