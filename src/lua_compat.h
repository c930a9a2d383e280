/* lua_compat: the few Lua 5.4 API calls the module uses that LuaJIT (5.1 ABI)
 * lacks, as static inline shims, so the rest of the code is written once. */
#ifndef GPTIMAGE_LUA_COMPAT_H
#define GPTIMAGE_LUA_COMPAT_H

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#if LUA_VERSION_NUM < 502
#define GI_LUA51 1
static inline void gi_setfuncs(lua_State *L, const luaL_Reg *l, int nup) {
  for (; l->name; l++) {
    int i;
    for (i = 0; i < nup; i++) lua_pushvalue(L, -nup);
    lua_pushcclosure(L, l->func, nup);
    lua_setfield(L, -(nup + 2), l->name);
  }
  lua_pop(L, nup);
}
#define luaL_setfuncs gi_setfuncs
#define lua_rawlen(L, i) lua_objlen(L, (i))
static inline void *gi_testudata(lua_State *L, int ud, const char *tname) {
  void *p = lua_touserdata(L, ud);
  if (p != NULL && lua_getmetatable(L, ud)) {
    luaL_getmetatable(L, tname);
    if (!lua_rawequal(L, -1, -2)) p = NULL;
    lua_pop(L, 2);
    return p;
  }
  return NULL;
}
#define luaL_testudata gi_testudata
/* a userdata's uservalue must be a table in 5.1 (its environment) */
#define gi_setuservalue(L, i) lua_setfenv(L, (i))
#define gi_getuservalue(L, i) lua_getfenv(L, (i))
#define gi_newuserdata(L, sz) lua_newuserdata(L, (sz))
static inline int gi_absindex(lua_State *L, int i) {
  return (i > 0 || i <= LUA_REGISTRYINDEX) ? i : lua_gettop(L) + i + 1;
}
#define lua_absindex gi_absindex
#else
#define gi_setuservalue(L, i) lua_setiuservalue(L, (i), 1)
#define gi_getuservalue(L, i) ((void)lua_getiuservalue(L, (i), 1))
#define gi_newuserdata(L, sz) lua_newuserdatauv(L, (sz), 1)
#endif

/* A number with no fraction that fits a lua_Integer exactly (|x| <= 2^53 for
 * a float): NaN, infinities and huge floats are not, and are never cast. */
static inline int gi_isinteger(lua_State *L, int i) {
  lua_Number d;
  if (lua_type(L, i) != LUA_TNUMBER) return 0;
#if LUA_VERSION_NUM >= 503
  if (lua_isinteger(L, i)) return 1;
#endif
  d = lua_tonumber(L, i);
  return d >= -9007199254740992.0 && d <= 9007199254740992.0 && d == (lua_Number)(long long)d;
}

#define GI_HIDDEN __attribute__((visibility("hidden")))

#endif
