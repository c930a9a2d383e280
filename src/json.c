/* json: the bridge to lua-cjson (see json.h). */
#include <string.h>
#include "json.h"

static const char JSON_KEY[] = "gptimage.cjson";

/* Pushes the cjson module: the one already loaded (package.loaded, which
 * the registry holds), else what `require` gives at this moment, the
 * module's load.  Nothing here runs later, so a sandbox that takes
 * `require` away after loading the module changes nothing. */
static void push_cjson(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, "_LOADED");
  if (lua_istable(L, -1)) {
    lua_getfield(L, -1, "cjson");
    lua_remove(L, -2);
    if (lua_istable(L, -1)) return;
  }
  lua_pop(L, 1);
  lua_getglobal(L, "require");
  if (!lua_isfunction(L, -1))
    luaL_error(L, "gptimage needs lua-cjson: load it (require \"cjson\") before gptimage when there is no require");
  lua_pushstring(L, "cjson");
  if (lua_pcall(L, 1, 1, 0) != 0)
    luaL_error(L, "gptimage needs lua-cjson: %s", lua_tostring(L, -1));
  if (!lua_istable(L, -1)) luaL_error(L, "gptimage needs lua-cjson: require \"cjson\" gave no table");
}

void gi_json_open(lua_State *L) {
  push_cjson(L);
  lua_getfield(L, -1, "new");
  if (lua_isfunction(L, -1)) {
    lua_call(L, 0, 1);
    lua_remove(L, -2);
  } else {
    lua_pop(L, 1);
  }
  /* Sparse arrays are a caller bug, not something to guess about; deep
   * nesting is never legitimate in a request. */
  lua_getfield(L, -1, "encode_sparse_array");
  if (lua_isfunction(L, -1)) {
    lua_pushboolean(L, 0);
    lua_call(L, 1, 0);
  } else {
    lua_pop(L, 1);
  }
  lua_getfield(L, -1, "decode_max_depth");
  if (lua_isfunction(L, -1)) {
    lua_pushinteger(L, 64);
    lua_call(L, 1, 0);
  } else {
    lua_pop(L, 1);
  }
  lua_setfield(L, LUA_REGISTRYINDEX, JSON_KEY);
}

static const char INTERRUPT_KEY[] = "gptimage.interrupted";

/* The error on top of the stack is the interpreter's "interrupted!" (the
 * hook lua.c and luajit.c install on SIGINT): not a problem of the data. */
static int is_interrupt(lua_State *L) {
  size_t n;
  const char *m = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL;
  return m != NULL && n >= 12 && memcmp(m + n - 12, "interrupted!", 12) == 0;
}

int gi_json_take_interrupt(lua_State *L) {
  int pending;
  lua_getfield(L, LUA_REGISTRYINDEX, INTERRUPT_KEY);
  pending = lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (pending) {
    lua_pushnil(L);
    lua_setfield(L, LUA_REGISTRYINDEX, INTERRUPT_KEY);
  }
  return pending;
}

void gi_json_encode(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  lua_getfield(L, LUA_REGISTRYINDEX, JSON_KEY);
  lua_getfield(L, -1, "encode");
  lua_remove(L, -2);
  lua_pushvalue(L, idx);
  if (lua_pcall(L, 1, 1, 0) != 0) {
    if (is_interrupt(L)) lua_error(L); /* nothing is under way yet: raise it as it is */
    luaL_error(L, "cannot encode the request as JSON: %s", lua_tostring(L, -1));
  }
}

static int decode_protected(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, JSON_KEY);
  lua_getfield(L, -1, "decode");
  lua_pushvalue(L, 1);
  lua_call(L, 1, 1);
  return 1;
}

int gi_json_decode(lua_State *L, const char *text, size_t len) {
  int attempt;
  for (attempt = 0;; attempt++) {
    lua_pushcfunction(L, decode_protected);
    lua_pushlstring(L, text, len);
    if (lua_pcall(L, 1, 1, 0) == 0) return 1;
    if (attempt == 0 && is_interrupt(L)) {
      /* The interrupt fired inside the decode, not because of the text: the
       * hook has removed itself, so decode again and let the caller raise
       * the interrupt once the job is whole (gi_json_take_interrupt). */
      lua_pop(L, 1);
      lua_pushboolean(L, 1);
      lua_setfield(L, LUA_REGISTRYINDEX, INTERRUPT_KEY);
      continue;
    }
    if (!lua_isstring(L, -1)) {
      lua_pop(L, 1);
      lua_pushliteral(L, "invalid JSON");
    }
    return 0;
  }
}
