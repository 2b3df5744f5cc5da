# Lua hooks (core/hooks.c): the module, its unit test, its end-to-end tests
# and the example hooks in lua/.
libvgcore_la_SOURCES += core/hooks.c core/hooks.h core/cmd_hook.c

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_hooks
TESTS += tests/unit/test_hooks
tests_unit_test_hooks_SOURCES = tests/unit/test_hooks.c
tests_unit_test_hooks_CPPFLAGS = $(AM_CPPFLAGS) -DVG_TOP_SRCDIR='"$(abs_top_srcdir)"'
tests_unit_test_hooks_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(LUA_CFLAGS)
tests_unit_test_hooks_LDADD = libvgcore.la $(CMOCKA_LIBS)
endif

luadir = $(datadir)/vidgen/lua
dist_lua_DATA = lua/audience.lua lua/script.lua lua/house_style.lua lua/redact.lua
EXTRA_DIST += tests/unit/test_hooks.c tests/e2e/hooks doc/hooks.md

# End-to-end: `vidgen run`/`vidgen check` on tests/e2e/hooks/*.cfg, and the
# daemon serving jobs beside misbehaving hooks.
TESTS += tests/e2e/hooks_run.sh tests/e2e/hooks_serve.sh
EXTRA_DIST += tests/e2e/hooks_run.sh tests/e2e/hooks_serve.sh
