/*
 * Lua's string pattern functions with a step budget, for the hook sandbox:
 * string.find, match, gmatch and gsub count their matching steps, which
 * Lua's instruction count hook does not see.
 */
#ifndef VG_LUA_MATCH_H
#define VG_LUA_MATCH_H

#include <stddef.h>
#include <lua.h>

/* charge(L, steps) is called for every thousand or so steps of matching;
 * a non-zero return stops the match with a Lua error. */
typedef struct lua_match_budget {
	int (*charge)(lua_State *L, size_t steps);
} lua_match_budget;

/* Replaces string.find, match, gmatch and gsub of L (the string library
 * must be open) by versions charging budget, which must outlive L. */
void lua_match_open(lua_State *L, const lua_match_budget *budget);

#endif
