/* buffer: the gptimage.Buffer userdata (see buffer.h). */
#include <stdlib.h>
#include "buffer.h"

gi_buffer *gi_buffer_new(lua_State *L) {
  gi_buffer *b = (gi_buffer *)gi_newuserdata(L, sizeof *b);
  b->bytes = NULL;
  b->len = 0;
  luaL_getmetatable(L, GI_BUFFER_MT);
  lua_setmetatable(L, -2);
  return b;
}

static gi_buffer *check_buffer(lua_State *L, int idx) {
  return (gi_buffer *)luaL_checkudata(L, idx, GI_BUFFER_MT);
}

static int buffer_len(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)check_buffer(L, 1)->len);
  return 1;
}

static int buffer_pointer(lua_State *L) {
  gi_buffer *b = check_buffer(L, 1);
  lua_pushlightuserdata(L, b->bytes ? (void *)b->bytes : (void *)b);
  return 1;
}

/* buf:string([i [, j]]): bytes i..j as string.sub counts them */
static int buffer_string(lua_State *L) {
  gi_buffer *b = check_buffer(L, 1);
  lua_Integer len = (lua_Integer)b->len;
  lua_Integer i = luaL_optinteger(L, 2, 1), j = luaL_optinteger(L, 3, -1);
  if (i < 0) i = len + i + 1 > 0 ? len + i + 1 : 1;
  else if (i == 0) i = 1;
  if (j < 0) j = len + j + 1;
  else if (j > len) j = len;
  if (i > j || b->bytes == NULL) lua_pushliteral(L, "");
  else lua_pushlstring(L, b->bytes + i - 1, (size_t)(j - i + 1));
  return 1;
}

static int buffer_tostring(lua_State *L) {
  lua_pushfstring(L, "gptimage.Buffer (%d bytes)", (int)check_buffer(L, 1)->len);
  return 1;
}

/* __gc, __close and buf:release(): the memory goes now, the Buffer stays
 * valid and empty */
static int buffer_release(lua_State *L) {
  gi_buffer *b = check_buffer(L, 1);
  free(b->bytes);
  b->bytes = NULL;
  b->len = 0;
  return 0;
}

static const luaL_Reg BUFFER_METHODS[] = {
  {"pointer", buffer_pointer},
  {"string", buffer_string},
  {"release", buffer_release},
  {NULL, NULL}
};

void gi_buffer_open(lua_State *L) {
  if (luaL_newmetatable(L, GI_BUFFER_MT)) {
    lua_newtable(L);
    luaL_setfuncs(L, BUFFER_METHODS, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, buffer_len);
    lua_setfield(L, -2, "__len");
    lua_pushcfunction(L, buffer_release);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, buffer_release);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, buffer_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, GI_BUFFER_MT);
    lua_setfield(L, -2, "__name");
  }
  lua_pop(L, 1);
}
