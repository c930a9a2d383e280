/* json: the bridge to lua-cjson (see json.h). */
#include "json.h"

static const char JSON_KEY[] = "gptimage.cjson";

void gi_json_open(lua_State *L) {
  lua_getglobal(L, "require");
  lua_pushstring(L, "cjson");
  if (lua_pcall(L, 1, 1, 0) != 0)
    luaL_error(L, "gptimage needs lua-cjson: %s", lua_tostring(L, -1));
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

void gi_json_encode(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  lua_getfield(L, LUA_REGISTRYINDEX, JSON_KEY);
  lua_getfield(L, -1, "encode");
  lua_remove(L, -2);
  lua_pushvalue(L, idx);
  if (lua_pcall(L, 1, 1, 0) != 0)
    luaL_error(L, "cannot encode the request as JSON: %s", lua_tostring(L, -1));
}

static int decode_protected(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, JSON_KEY);
  lua_getfield(L, -1, "decode");
  lua_pushvalue(L, 1);
  lua_call(L, 1, 1);
  return 1;
}

int gi_json_decode(lua_State *L, const char *text, size_t len) {
  lua_pushcfunction(L, decode_protected);
  lua_pushlstring(L, text, len);
  if (lua_pcall(L, 1, 1, 0) != 0) {
    if (!lua_isstring(L, -1)) {
      lua_pop(L, 1);
      lua_pushliteral(L, "invalid JSON");
    }
    return 0;
  }
  return 1;
}
