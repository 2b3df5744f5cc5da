#!/usr/bin/env bash
# Checks the release tarball as a packager would use it: `make distcheck`
# (unpack, configure out of tree with the source read-only, build, make
# check, install, installcheck, uninstall, distclean, each checked), then that
# the tarball holds every file git tracks but the few that only make sense in
# a clone. Ends with "distcheck: ok (...)" or says what failed.
#   scripts/distcheck.sh             (after scripts/install-deps.sh; 4-5 min on 2 CPUs)
#   scripts/distcheck.sh --contents  only make dist and the file list (seconds; CI)
#
# distcheck makes the unpacked source read-only to catch a build or a test
# that writes into it, but root ignores file modes (and the render sandbox
# needs root's powers, so they cannot be dropped): .ci/run checks instead that
# its fresh clone holds no file the build and the tests wrote outside _build/.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
start=$(date +%s)
[ -x configure ] && [ configure -nt configure.ac ] || autoreconf -fi >&2
dir=$top/_build/dist
mkdir -p "$dir"
cd "$dir"
[ -f config.status ] || "$top/configure" -q >&2
rm -f vidgen-*.tar.gz
if [ "${1:-}" = --contents ]; then
	make dist >distcheck.out 2>&1 || { tail -20 distcheck.out; echo "distcheck: make dist failed"; exit 1; }
elif ! make -j2 distcheck DISTCHECK_CONFIGURE_FLAGS=--enable-werror >distcheck.out 2>&1; then
	grep -E '^(FAIL|ERROR|XPASS):|^ERROR|\*\*\*' distcheck.out | head -20 || true
	echo "distcheck: make distcheck failed; the log is $dir/distcheck.out"
	exit 1
fi
tarball=$(ls vidgen-*.tar.gz)

# Every tracked file is in the tarball, but for the clone-only ones.
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
	root=${tarball%.tar.gz}
	missing=$(comm -23 \
		<(git -C "$top" ls-files | grep -Ev '^(\.ci/|\.gitignore$|m4/\.keep$)' | sort) \
		<(tar tzf "$tarball" | sed -n "s|^$root/||p" | grep -v '/$' | sort))
	if [ -n "$missing" ]; then
		echo "distcheck: tracked files missing from $tarball (add them to EXTRA_DIST):"
		echo "$missing" | sed 's/^/  /'
		exit 1
	fi
fi
if [ "${1:-}" = --contents ]; then
	echo "distcheck: $tarball holds every tracked file ($(($(date +%s) - start)) s)"
	exit 0
fi
passed=$(sed -n 's/^# PASS: *//p' distcheck.out | head -1)
echo "distcheck: ok ($tarball, $passed test cases passed in make check; $(($(date +%s) - start)) s)"
