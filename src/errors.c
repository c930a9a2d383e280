/* errors: error tables and their __tostring (see errors.h). */
#define _GNU_SOURCE /* memmem */
#include <string.h>
#include "errors.h"

/* The first place at or after s where the whole secret starts, or where a
 * tail of 4 or more bytes is the start of it (a text cut short, as an excerpt
 * is, may end in the first part of the key); NULL when neither. */
static const char *find_secret(const char *s, size_t len, const char *secret, size_t slen, size_t *match) {
  const char *whole = (const char *)memmem(s, len, secret, slen);
  size_t i = whole ? (size_t)(whole - s) : len;
  size_t start = len > slen - 1 ? len - (slen - 1) : 0;
  for (; start + 4 <= len && start < i; start++) {
    if (memcmp(s + start, secret, len - start) == 0) {
      *match = len - start;
      return s + start;
    }
  }
  *match = slen;
  return whole;
}

int gi_redact_needed(const char *s, size_t len, const char *secret) {
  size_t slen = secret ? strlen(secret) : 0, match;
  return slen >= 8 && find_secret(s, len, secret, slen, &match) != NULL;
}

void gi_redact_push(lua_State *L, const char *s, size_t len, const char *secret) {
  size_t slen = secret ? strlen(secret) : 0;
  luaL_Buffer b;
  /* Keys shorter than this would mask ordinary words; real keys are long. */
  if (!gi_redact_needed(s, len, secret)) {
    lua_pushlstring(L, s, len);
    return;
  }
  luaL_buffinit(L, &b);
  while (len > 0) {
    size_t match;
    const char *at = find_secret(s, len, secret, slen, &match);
    if (at == NULL) break;
    luaL_addlstring(&b, s, (size_t)(at - s));
    luaL_addstring(&b, "[redacted]");
    len -= (size_t)(at - s) + match;
    s = at + match;
  }
  luaL_addlstring(&b, s, len);
  luaL_pushresult(&b);
}

/* The deep copy of the value at idx with secret masked in every string (keys
 * too); strings without it are the same strings, other values as they are. */
static void redact_value(lua_State *L, int idx, const char *secret, int depth) {
  idx = lua_absindex(L, idx);
  if (lua_type(L, idx) == LUA_TSTRING) {
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    if (gi_redact_needed(s, len, secret)) gi_redact_push(L, s, len, secret);
    else lua_pushvalue(L, idx);
    return;
  }
  if (lua_type(L, idx) != LUA_TTABLE || depth > 100) {
    lua_pushvalue(L, idx);
    return;
  }
  lua_newtable(L);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    redact_value(L, -2, secret, depth + 1);
    redact_value(L, -2, secret, depth + 1);
    lua_rawset(L, -5);
    lua_pop(L, 1);
  }
  if (lua_getmetatable(L, idx)) lua_setmetatable(L, -2); /* cjson's array marker, an Error */
}

void gi_redact_value(lua_State *L, int idx, const char *secret) {
  luaL_checkstack(L, 20, "gptimage: value nested too deeply");
  redact_value(L, idx, secret, 0);
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
