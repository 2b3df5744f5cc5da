# The example Lua hooks (doc/hooks.md), installed for pipelines to name.
luadir = $(datadir)/vidgen/lua
dist_lua_DATA = lua/audience.lua lua/script.lua lua/house_style.lua lua/redact.lua
