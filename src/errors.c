/* errors: error tables and their __tostring (see errors.h). */
#include <string.h>
#include "errors.h"

void gi_redact_push(lua_State *L, const char *s, size_t len, const char *secret) {
  size_t slen = secret ? strlen(secret) : 0;
  luaL_Buffer b;
  size_t i = 0;
  /* Keys shorter than this would mask ordinary words; real keys are long. */
  if (slen < 8) {
    lua_pushlstring(L, s, len);
    return;
  }
  luaL_buffinit(L, &b);
  while (i < len) {
    size_t left = len - i;
    if (left >= slen && memcmp(s + i, secret, slen) == 0) {
      luaL_addstring(&b, "[redacted]");
      i += slen;
    } else if (left < slen && left >= 4 && memcmp(s + i, secret, left) == 0) {
      /* a text cut short (an excerpt) may end in the first part of the key */
      luaL_addstring(&b, "[redacted]");
      i = len;
    } else {
      luaL_addchar(&b, s[i]);
      i++;
    }
  }
  luaL_pushresult(&b);
}

static void set_string(lua_State *L, const char *field, const char *value, const char *secret) {
  if (value == NULL) return;
  gi_redact_push(L, value, strlen(value), secret);
  lua_setfield(L, -2, field);
}

void gi_error_push(lua_State *L, const gi_error *e, const char *secret) {
  lua_createtable(L, 0, 9);
  set_string(L, "kind", e->kind, NULL);
  if (e->status > 0) {
    lua_pushinteger(L, (lua_Integer)e->status);
    lua_setfield(L, -2, "status");
  }
  set_string(L, "message", e->message ? e->message : e->kind, secret);
  set_string(L, "code", e->code, secret);
  set_string(L, "type", e->type, secret);
  set_string(L, "param", e->param, secret);
  set_string(L, "request_id", e->request_id, secret);
  if (e->retry_after >= 0) {
    lua_pushnumber(L, e->retry_after);
    lua_setfield(L, -2, "retry_after");
  }
  luaL_getmetatable(L, GI_ERROR_MT);
  lua_setmetatable(L, -2);
}

static const char *field_string(lua_State *L, int idx, const char *name) {
  const char *s;
  lua_getfield(L, idx, name);
  s = lua_isstring(L, -1) ? lua_tostring(L, -1) : NULL;
  lua_pop(L, 1); /* still anchored by the table */
  return s;
}

static int error_tostring(lua_State *L) {
  const char *kind, *message, *code, *type, *rid;
  luaL_Buffer b;
  luaL_checktype(L, 1, LUA_TTABLE);
  kind = field_string(L, 1, "kind");
  message = field_string(L, 1, "message");
  code = field_string(L, 1, "code");
  type = field_string(L, 1, "type");
  rid = field_string(L, 1, "request_id");
  luaL_buffinit(L, &b);
  luaL_addstring(&b, "gptimage: ");
  luaL_addstring(&b, kind ? kind : "unknown");
  luaL_addstring(&b, " error");
  lua_getfield(L, 1, "status");
  if (lua_isnumber(L, -1)) {
    lua_pushfstring(L, " %d", (int)lua_tointeger(L, -1));
    lua_remove(L, -2);
    luaL_addvalue(&b);
  } else {
    lua_pop(L, 1);
  }
  if (code || type) {
    luaL_addstring(&b, " (");
    luaL_addstring(&b, code ? code : type);
    luaL_addstring(&b, ")");
  }
  if (message) {
    luaL_addstring(&b, ": ");
    luaL_addstring(&b, message);
  }
  if (rid) {
    luaL_addstring(&b, " [request ");
    luaL_addstring(&b, rid);
    luaL_addstring(&b, "]");
  }
  luaL_pushresult(&b);
  return 1;
}

void gi_errors_open(lua_State *L) {
  if (luaL_newmetatable(L, GI_ERROR_MT)) {
    lua_pushcfunction(L, error_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "gptimage.Error");
    lua_setfield(L, -2, "__name");
  }
  lua_pop(L, 1);
}
