#!/bin/sh
# Builds the libFuzzer harnesses of tests/fuzz/ with clang, ASan and UBSan
# into OUT (default ./fuzz-build): the engine's sources and the plugins'
# common code once into a library, then one program per fuzz_*.c.
#   tests/fuzz/build.sh [OUT]
# Needs clang and its runtime (scripts/install-deps.sh) and a configured
# build tree for the generated OpenAPI source (BUILD, default _build/sanitize).
set -e
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-fuzz-build}
build=${BUILD:-$top/_build/sanitize}
CC=${FUZZ_CC:-clang}
mkdir -p "$out/obj"
out=$(cd "$out" && pwd)
pc="libconfig jansson lua5.4 sqlite3 libpq libmicrohttpd openssl"
version=$(sed -n 's/^PACKAGE_VERSION = //p' "$build/Makefile")
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CFLAGS="-std=c11 -g -O1 -w $SAN -D_GNU_SOURCE -DVG_FUZZ -I$top/include -I$top/core \
-I$top/plugins/common -I$top/tests/unit \
-DVG_PLUGINDIR=\"/nonexistent\" -DVG_PIPELINEDIR=\"/nonexistent\" \
-DVG_PKGLIBDIR=\"/nonexistent\" -DVG_DATADIR=\"$top\" -DPACKAGE_VERSION=\"$version\" \
$(pkg-config --cflags $pc)"
LIBS="$(pkg-config --libs $pc) -lpthread -lm -ldl"

# The engine without its commands, SigV4 (the rest of the cloud module needs
# libcurl: not fuzzed here), the plugins' shared code and the services mock.
srcs=$(cd "$top" && ls core/*.c core/serve/*.c core/cloud/cloud.c core/cloud/sigv4.c \
	plugins/common/*.c plugins/manim/bomb_watch.c plugins/manim/poller.c tests/unit/svc_mock.c | grep -v -e '/main\.c$' -e '/cmd_')
srcs="$srcs $build/core/serve/openapi_spec.c"
[ -f "$build/core/serve/openapi_spec.c" ] ||
	make -s -C "$build" core/serve/openapi_spec.c >/dev/null
objs=
for s in $srcs; do
	case $s in /*) src=$s ;; *) src=$top/$s ;; esac
	o=$out/obj/$(echo "$s" | sed 's|^/||; s|/|_|g; s|\.c$|.o|')
	if [ ! -f "$o" ] || [ "$src" -nt "$o" ]; then
		$CC $CFLAGS -fsanitize=fuzzer-no-link -c "$src" -o "$o"
	fi
	objs="$objs $o"
done
rm -f "$out/libfuzzcore.a"
ar rcs "$out/libfuzzcore.a" $objs

# The test plugin fuzz_http's pipeline runs, built by the same compiler.
if [ ! -f "$out/plugins/testplug.so" ] || [ "$top/tests/plugins/testplug.c" -nt "$out/plugins/testplug.so" ]; then
	mkdir -p "$out/plugins"
	$CC $CFLAGS -fPIC -shared "$top/tests/plugins/testplug.c" -o "$out/plugins/testplug.so"
fi

for h in "$top"/tests/fuzz/fuzz_*.c; do
	name=$(basename "$h" .c)
	if [ ! -x "$out/$name" ] || [ "$h" -nt "$out/$name" ] || [ "$out/libfuzzcore.a" -nt "$out/$name" ]; then
		$CC $CFLAGS -fsanitize=fuzzer "$h" "$out/libfuzzcore.a" $LIBS -o "$out/$name"
	fi
done
echo "$out"
