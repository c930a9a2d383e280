/* gptimage: the module entry.  Registers the Client, Job and Error
 * metatables and the module functions; the module-level generate, edit and
 * variation use one client built from the environment on first use; the
 * image tools come from imgtools.c. */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include "buffer.h"
#include "lua_compat.h"
#include "client.h"
#include "job.h"
#include "wait.h"
#include "request.h"
#include "rules.h"
#include "options.h"
#include "errors.h"
#include "version.h"
#include "json.h"
#include "cost.h"
#include "b64sink.h"
#include "models.h"
#include "curlapi.h"
#include "luabuf.h"
#include "imgtools.h"
#include "helpers.h"
#include "os.h"
#include "castore.h"
#include "trust.h"

static const char DEFAULT_CLIENT_KEY[] = "gptimage.default_client";

/* pushes the default client, creating it from the environment once */
static void push_default_client(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, DEFAULT_CLIENT_KEY);
  if (!lua_isnil(L, -1)) {
    gi_client *c = (gi_client *)luaL_checkudata(L, -1, GI_CLIENT_MT);
    if (!c->closed) return;
  }
  lua_pop(L, 1);
  lua_pushcfunction(L, gi_client_new);
  lua_call(L, 0, 1);
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, DEFAULT_CLIENT_KEY);
}

static int module_call(lua_State *L, const char *op) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  push_default_client(L);
  lua_insert(L, 1);
  return gi_wait_call(L, op);
}

static int module_generate(lua_State *L) { return module_call(L, "generate"); }
static int module_edit(lua_State *L) { return module_call(L, "edit"); }
static int module_variation(lua_State *L) { return module_call(L, "variation"); }

/* gptimage.b64decode(text) -> bytes | nil, err : the strict decoder the
 * responses go through, for Lua code that meets base64 elsewhere (Batch API
 * output files). */
static int module_b64decode(lua_State *L) {
  size_t len, out_len;
  const char *text = luaL_checklstring(L, 1, &len);
  gi_sink *s = gi_sink_new_memory(0);
  int rc;
  char *bytes;
  if (s == NULL) return luaL_error(L, "gptimage: out of memory");
  rc = gi_sink_write_b64(s, text, len);
  if (rc == GI_SINK_OK) rc = gi_sink_finish(s);
  if (rc != GI_SINK_OK) {
    /* the message is copied out and the sink freed before anything that
     * can raise: nothing C owns is left when Lua unwinds */
    char message[256];
    gi_error e;
    snprintf(message, sizeof message, "%s", gi_sink_message(s));
    gi_sink_free(s);
    memset(&e, 0, sizeof e);
    e.kind = "decode";
    e.message = message;
    e.retry_after = -1;
    lua_pushnil(L);
    gi_error_push(L, &e, NULL);
    return 2;
  }
  bytes = gi_sink_take(s, &out_len);
  gi_sink_free(s);
  if (bytes == NULL && out_len > 0) return luaL_error(L, "gptimage: out of memory");
  gi_push_owned(L, bytes, out_len);
  return 1;
}

/* gptimage.libcurl() -> version, ssl_version | nil, err : loads libcurl as
 * the first request would (a health check needs no request to know), and
 * judges the default certificate authorities (trust.h): a host that calls
 * it while loading pays there what its first request would pay. */
static int module_libcurl(lua_State *L) {
  char err[256];
  const curl_version_info_data *info;
  if (gi_curl_load(err, sizeof err) != 0) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  (void)gi_trust_default(); /* a game calling this at load pays that once too */
  info = curl_version_info(CURLVERSION_NOW);
  lua_pushstring(L, info && info->version ? info->version : "");
  if (info && info->ssl_version) lua_pushstring(L, info->ssl_version);
  else lua_pushnil(L);
  return 2;
}

static void set_count(lua_State *L, const char *key, long n) {
  if (n < 0) return; /* unreadable: the field is absent */
  lua_pushinteger(L, (lua_Integer)n);
  lua_setfield(L, -2, key);
}

/* the report of a judged pair; uses: what a transfer loads, or NULL */
static void push_trust(lua_State *L, const gi_trust *t, const char *uses) {
  lua_createtable(L, 0, 7);
  if (t->file) lua_pushstring(L, t->file), lua_setfield(L, -2, "file");
  if (t->dir) lua_pushstring(L, t->dir), lua_setfield(L, -2, "dir");
  set_count(L, "file_certificates", t->file_certificates);
  set_count(L, "dir_certificates", t->dir_certificates);
  lua_pushboolean(L, t->same_certificates);
  lua_setfield(L, -2, "same_certificates");
  if (uses) lua_pushstring(L, uses), lua_setfield(L, -2, "uses");
  if (t->source) lua_pushstring(L, t->source), lua_setfield(L, -2, "source");
  if (uses) lua_pushboolean(L, t->tls_ready), lua_setfield(L, -2, "tls_ready");
}

/* gptimage.trust() -> report | nil, err : the certificate authorities a
 * client without ca_file or ca_path trusts, judged once per process (see
 * src/trust.h).  gptimage.trust(file, dir) judges that pair instead. */
static int module_trust(lua_State *L) {
  char err[256];
  const gi_trust *t;
  if (lua_gettop(L) > 0) {
    gi_trust pair;
    const char *file = luaL_optstring(L, 1, NULL), *dir = luaL_optstring(L, 2, NULL);
    if (gi_trust_judge(&pair, file, dir) != 0) return luaL_error(L, "gptimage: out of memory");
    pair.source = NULL;
    push_trust(L, &pair, NULL);
    gi_trust_clear(&pair);
    return 1;
  }
  if (gi_curl_load(err, sizeof err) != 0) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  t = gi_trust_default();
  push_trust(L, t, gi_trust_default_uses());
  /* whether connections share a parsed store (src/castore.h), and how many
   * have taken one in this process */
  lua_pushboolean(L, gi_castore_available());
  lua_setfield(L, -2, "shared_store");
  lua_pushnumber(L, (lua_Number)gi_castore_connections());
  lua_setfield(L, -2, "shared_connections");
  return 1;
}

/* gptimage.type(value) -> "client", "closed client", "job", "buffer", or
 * nil for anything else (as io.type): for the helpers and scripts that
 * take a client or options, without poking at methods. */
static int module_type(lua_State *L) {
  gi_client *c;
  luaL_checkany(L, 1);
  if ((c = (gi_client *)luaL_testudata(L, 1, GI_CLIENT_MT)) != NULL)
    lua_pushstring(L, c->closed ? "closed client" : "client");
  else if (luaL_testudata(L, 1, GI_JOB_MT) != NULL)
    lua_pushliteral(L, "job");
  else if (luaL_testudata(L, 1, GI_BUFFER_MT) != NULL)
    lua_pushliteral(L, "buffer");
  else
    lua_pushnil(L);
  return 1;
}

/* gptimage.models and gptimage.options: a fresh copy of the API table on
 * every read, so that no script can change what the module knows. */
static int module_index(lua_State *L) {
  const char *key = lua_tostring(L, 2);
  if (key && strcmp(key, "models") == 0) {
    gi_models_push(L);
    gi_options_add_model_values(L, -1);
    return 1;
  }
  if (key && strcmp(key, "options") == 0) {
    gi_options_push(L);
    return 1;
  }
  lua_pushnil(L);
  return 1;
}

static const luaL_Reg MODULE_FUNCTIONS[] = {
  {"new", gi_client_new},
  {"generate", module_generate},
  {"edit", module_edit},
  {"variation", module_variation},
  {"estimate", gi_cost_estimate},
  {"cost", gi_cost_lua},
  {"validate", gi_request_validate},
  {"b64decode", module_b64decode},
  {"libcurl", module_libcurl},
  {"trust", module_trust},
  {"type", module_type},
  {NULL, NULL}
};

__attribute__((visibility("default"))) int luaopen_gptimage(lua_State *L);

int luaopen_gptimage(lua_State *L) {
  gi_json_open(L);
  gi_errors_open(L);
  gi_client_open(L);
  gi_job_open(L);
  gi_wait_open(L);
  gi_buffer_open(L);
  lua_newtable(L);
  luaL_setfuncs(L, MODULE_FUNCTIONS, 0);
  gi_imgtools_register(L);
  gi_helpers_open(L);
  gi_os_open(L);
  lua_pushliteral(L, GPTIMAGE_VERSION);
  lua_setfield(L, -2, "version");
  lua_pushliteral(L, "gptimage " GPTIMAGE_VERSION);
  lua_setfield(L, -2, "_VERSION");
  /* the model of calls that name none (GPTIMAGE_MODEL or the built-in one) */
  lua_pushstring(L, gi_model_default());
  lua_setfield(L, -2, "default_model");
  lua_pushstring(L, gi_rules_variation_prompt);
  lua_setfield(L, -2, "variation_prompt");
  lua_newtable(L);
  lua_pushcfunction(L, module_index);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);
  /* the metatable of every error, for the Lua parts' own errors too */
  luaL_getmetatable(L, GI_ERROR_MT);
  lua_setfield(L, -2, "Error");
  return 1;
}
