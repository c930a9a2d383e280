/* request: PROVISIONAL generations-only builder; replaced by the full one */
#include <stdlib.h>
#include <string.h>
#include "request.h"
#include "json.h"

const char *const gi_request_local_options[] = {"save", "on_partial", "on_done", "timeout", "max_retries", "extra", NULL};

gi_op gi_request_checkop(lua_State *L, int idx) {
  const char *s = luaL_checkstring(L, idx);
  if (strcmp(s, "generate") == 0) return GI_OP_GENERATE;
  if (strcmp(s, "edit") == 0) return GI_OP_EDIT;
  if (strcmp(s, "variation") == 0) return GI_OP_VARIATION;
  luaL_error(L, "unknown op '%s'", s);
  return GI_OP_GENERATE;
}

void gi_request_build(lua_State *L, int opts, gi_op op, const char *default_model, CURL *easy, int keep_idx, gi_request *req) {
  const char *api[] = {"prompt","n","size","quality","background","output_format","output_compression","moderation","style","response_format","user","partial_images","input_fidelity","model","stream",NULL};
  int t, i;
  size_t len; const char *js;
  (void)easy; (void)keep_idx; (void)op;
  opts = lua_absindex(L, opts);
  lua_newtable(L); t = lua_gettop(L);
  for (i = 0; api[i]; i++) { lua_getfield(L, opts, api[i]); lua_setfield(L, t, api[i]); }
  lua_getfield(L, t, "model");
  if (lua_isnil(L, -1)) { lua_pushstring(L, default_model); lua_setfield(L, t, "model"); }
  lua_pop(L, 1);
  lua_getfield(L, opts, "extra");
  if (lua_istable(L, -1)) { lua_pushnil(L); while (lua_next(L, -2)) { lua_pushvalue(L, -2); lua_insert(L, -2); lua_settable(L, t);} }
  lua_pop(L, 1);
  req->endpoint = "images/generations";
  lua_getfield(L, t, "model"); req->model = strdup(lua_tostring(L, -1)); lua_pop(L, 1);
  lua_getfield(L, t, "n"); req->n = lua_isnumber(L, -1) ? (int)lua_tointeger(L, -1) : 1; lua_pop(L, 1);
  lua_getfield(L, t, "stream"); req->stream = lua_toboolean(L, -1); lua_pop(L, 1);
  lua_getfield(L, t, "response_format"); req->url_response = lua_isstring(L, -1) && strcmp(lua_tostring(L, -1), "url") == 0; lua_pop(L, 1);
  lua_getfield(L, t, "output_format"); strcpy(req->output_format, lua_isstring(L, -1) ? lua_tostring(L, -1) : "png"); lua_pop(L, 1);
  lua_getfield(L, t, "quality"); if (lua_isstring(L, -1)) strcpy(req->quality, lua_tostring(L, -1)); lua_pop(L, 1);
  lua_getfield(L, t, "size"); if (lua_isstring(L, -1)) strcpy(req->size, lua_tostring(L, -1)); lua_pop(L, 1);
  gi_json_encode(L, t);
  js = lua_tolstring(L, -1, &len);
  req->json = malloc(len + 1); memcpy(req->json, js, len + 1); req->json_len = len;
  lua_pop(L, 2);
}

void gi_request_free(gi_request *req) {
  free(req->json); req->json = NULL;
  free(req->model); req->model = NULL;
  if (req->mime) curl_mime_free(req->mime);
  req->mime = NULL;
}
