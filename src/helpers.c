/* helpers: Lua entry points of savepath, hint and the input sniffer (see
 * helpers.h). */
#include <math.h>
#include <string.h>
#include "helpers.h"
#include "fnv.h"
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

/* gptimage.fnv1a64(text [, hex]) -> hex : hex is the running hash of the
 * text before (16 lowercase hex digits, as this returns) */
static int helper_fnv1a64(lua_State *L) {
  size_t len, hlen, i;
  const char *text = luaL_checklstring(L, 1, &len);
  const char *hex = luaL_optlstring(L, 2, NULL, &hlen);
  uint64_t h = GI_FNV1A64_START;
  char out[17];
  if (hex) {
    if (hlen != 16) luaL_argerror(L, 2, "16 hex digits, as gptimage.fnv1a64 returns");
    h = 0;
    for (i = 0; i < 16; i++) {
      char ch = hex[i];
      unsigned digit = ch >= '0' && ch <= '9' ? (unsigned)(ch - '0')
                       : ch >= 'a' && ch <= 'f' ? (unsigned)(ch - 'a' + 10)
                       : ch >= 'A' && ch <= 'F' ? (unsigned)(ch - 'A' + 10) : 16u;
      if (digit > 15) luaL_argerror(L, 2, "16 hex digits, as gptimage.fnv1a64 returns");
      h = (h << 4) | digit;
    }
  }
  h = gi_fnv1a64(h, text, len);
  for (i = 0; i < 16; i++) out[i] = "0123456789abcdef"[(h >> (60 - 4 * i)) & 15];
  out[16] = '\0';
  lua_pushlstring(L, out, 16);
  return 1;
}

static const luaL_Reg HELPER_FUNCTIONS[] = {
  {"save_path", helper_save_path},
  {"extension", helper_extension},
  {"edit_distance", helper_edit_distance},
  {"sniff", helper_sniff},
  {"fnv1a64", helper_fnv1a64},
  {NULL, NULL}
};

void gi_helpers_open(lua_State *L) {
  luaL_setfuncs(L, HELPER_FUNCTIONS, 0);
}
