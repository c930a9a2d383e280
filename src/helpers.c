/* helpers: Lua entry points of savepath, hint and the input sniffer (see
 * helpers.h). */
#include <math.h>
#include <string.h>
#include "helpers.h"
#include "hint.h"
#include "input.h"
#include "savepath.h"

static int helper_save_path(lua_State *L) {
  const char *tmpl = luaL_checkstring(L, 1);
  lua_Integer index = luaL_checkinteger(L, 2), count = luaL_checkinteger(L, 3);
  const char *format = luaL_optstring(L, 4, NULL);
  const char *ext = gi_savepath_ext(format);
  /* each "{i}" grows to at most 6 digits, each "{ext}" to the extension */
  size_t cap = (strlen(tmpl) + 1) * (strlen(ext) + 6) + 16;
  char *out;
  if (index < 1 || count < 1 || index > count || count > 100000)
    return luaL_error(L, "gptimage.save_path: index must be 1..count and count at most 100000");
  out = (char *)lua_newuserdata(L, cap); /* collected, whatever raises */
  if (gi_savepath(tmpl, (unsigned)index, (unsigned)count, ext, out, cap) != 0)
    return luaL_error(L, "gptimage.save_path: template too long");
  lua_pushstring(L, out);
  return 1;
}

static int helper_extension(lua_State *L) {
  lua_pushstring(L, gi_savepath_ext(luaL_optstring(L, 1, "png")));
  return 1;
}

static int helper_edit_distance(lua_State *L) {
  const char *a = luaL_checkstring(L, 1);
  const char *b = luaL_checkstring(L, 2);
  size_t d = gi_edit_distance(a, b);
  if (d == (size_t)-1) lua_pushnumber(L, HUGE_VAL);
  else lua_pushinteger(L, (lua_Integer)d);
  return 1;
}

static int helper_sniff(lua_State *L) {
  size_t len;
  const char *bytes = luaL_checklstring(L, 1, &len);
  gi_image_type type;
  if (!gi_input_sniff((const unsigned char *)bytes, len, &type)) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushstring(L, type == GI_IMG_PNG ? "png" : type == GI_IMG_JPEG ? "jpeg" : "webp");
  return 1;
}

static const luaL_Reg HELPER_FUNCTIONS[] = {
  {"save_path", helper_save_path},
  {"extension", helper_extension},
  {"edit_distance", helper_edit_distance},
  {"sniff", helper_sniff},
  {NULL, NULL}
};

void gi_helpers_open(lua_State *L) {
  luaL_setfuncs(L, HELPER_FUNCTIONS, 0);
}
