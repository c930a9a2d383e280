/* luabuf: handing memory that C owns to Lua without leaking it when Lua
 * raises.  Pushing a string allocates, and an allocation that fails raises
 * (a longjmp) past the free() that was to follow; here the push runs
 * protected, the buffer is freed either way, and the error is raised again
 * only once nothing is owned. */
#ifndef GPTIMAGE_LUABUF_H
#define GPTIMAGE_LUABUF_H

#include <stdlib.h>
#include "lua_compat.h"

typedef struct gi_owned_push {
  const char *bytes;
  size_t len;
} gi_owned_push;

#if LUA_VERSION_NUM < 502
/* lua_cpcall allocates nothing outside its protection; the string comes
 * back through the registry, as cpcall returns no values. */
static int gi_owned_push_step(lua_State *L) {
  gi_owned_push *p = (gi_owned_push *)lua_touserdata(L, 1);
  lua_pushlstring(L, p->bytes, p->len);
  lua_setfield(L, LUA_REGISTRYINDEX, "gptimage.owned_push");
  return 0;
}
#else
static int gi_owned_push_step(lua_State *L) {
  gi_owned_push *p = (gi_owned_push *)lua_touserdata(L, 1);
  lua_pushlstring(L, p->bytes, p->len);
  return 1;
}
#endif

/* Pushes len bytes of bytes (NULL: the empty string) and frees bytes. */
static inline void gi_push_owned(lua_State *L, char *bytes, size_t len) {
  gi_owned_push p;
  int status;
  p.bytes = bytes ? bytes : "";
  p.len = bytes ? len : 0;
#if LUA_VERSION_NUM < 502
  status = lua_cpcall(L, gi_owned_push_step, &p);
  free(bytes);
  if (status != 0) lua_error(L);
  lua_getfield(L, LUA_REGISTRYINDEX, "gptimage.owned_push");
  lua_pushnil(L);
  lua_setfield(L, LUA_REGISTRYINDEX, "gptimage.owned_push");
#else
  /* a light C function and a light userdata: pushing them allocates nothing */
  if (!lua_checkstack(L, 3)) {
    free(bytes);
    luaL_error(L, "gptimage: out of stack space");
  }
  lua_pushcfunction(L, gi_owned_push_step);
  lua_pushlightuserdata(L, &p);
  status = lua_pcall(L, 1, 1, 0);
  free(bytes);
  if (status != 0) lua_error(L);
#endif
}

#endif
