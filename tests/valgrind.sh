#!/bin/sh
# Runs a unit test binary, under valgrind when VIDGEN_VALGRIND=1 (a leak or
# an invalid access then fails the test).
if [ "${VIDGEN_VALGRIND:-0}" = 1 ] && command -v valgrind >/dev/null 2>&1; then
  exec valgrind --quiet --error-exitcode=99 --leak-check=full --child-silent-after-fork=yes \
    --errors-for-leak-kinds=definite,indirect --track-fds=no "$@"
fi
exec "$@"
