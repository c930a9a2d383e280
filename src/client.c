/* client: the Client userdata, its configuration and its Lua methods (see
 * client.h).  The multi handle and the rounds are the drive's (drive.c);
 * the calls that block are wait.c's. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <errno.h>
#include <strings.h>
#include <stdio.h>
#include "client.h"
#include "drive.h"
#include "wait.h"
#include "job.h"
#include "request.h"
#include "errors.h"
#include "hint.h"
#include "models.h"

static const char *const CLIENT_OPTIONS[] = {
  "api_key", "base_url", "organization", "project", "model", "timeout",
  "connect_timeout", "max_retries", "proxy", "ca_file", "ca_path", "headers", "azure",
  "prices", "max_response_bytes", "user_agent", NULL
};

static void check_client_keys(lua_State *L, int idx) {
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    const char *key, *best;
    gi_hint hint;
    size_t i;
    if (lua_type(L, -2) != LUA_TSTRING)
      luaL_error(L, "gptimage.new: option names must be strings");
    key = lua_tostring(L, -2);
    gi_hint_init(&hint, key);
    for (i = 0; CLIENT_OPTIONS[i]; i++) {
      if (strcmp(key, CLIENT_OPTIONS[i]) == 0) break;
      gi_hint_consider(&hint, CLIENT_OPTIONS[i]);
    }
    if (CLIENT_OPTIONS[i] == NULL) {
      if ((best = gi_hint_best(&hint)) != NULL)
        luaL_error(L, "gptimage.new: unknown option '%s' (did you mean '%s'?)", key, best);
      luaL_error(L, "gptimage.new: unknown option '%s'", key);
    }
    lua_pop(L, 1);
  }
}

/* A byte that may not appear in a header value: controls but TAB, and DEL.
 * A NUL would cut the value short where C reads it. */
static int bad_header_byte(unsigned char ch) {
  return (ch < 0x20 && ch != '\t') || ch == 0x7f;
}

/* Raises unless s (len bytes) can be sent as a header value as it is. */
static void check_header_value(lua_State *L, const char *what, const char *s, size_t len) {
  size_t i;
  for (i = 0; i < len; i++)
    if (bad_header_byte((unsigned char)s[i]))
      luaL_error(L, "gptimage.new: %s must not contain %s", what,
                 s[i] == '\0' ? "NUL bytes" : (s[i] == '\r' || s[i] == '\n') ? "line breaks"
                                                                       : "control characters");
}

/* Copies an optional string option (or the environment variable) into *out.
 * An empty string given explicitly is a caller bug, as a missing value would
 * be silently sent or dropped; an empty environment variable counts as unset. */
static void opt_string(lua_State *L, int idx, const char *name, const char *env, char **out) {
  const char *s = NULL;
  size_t len = 0;
  char what[64];
  snprintf(what, sizeof what, "'%s'", name);
  if (idx) {
    lua_getfield(L, idx, name);
    if (!lua_isnil(L, -1)) {
      if (lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "gptimage.new: '%s' must be a string, got %s", name, luaL_typename(L, -1));
      s = lua_tolstring(L, -1, &len);
      if (len == 0) luaL_error(L, "gptimage.new: '%s' must not be empty", name);
    }
    lua_pop(L, 1); /* s stays anchored by the options table */
  }
  if (s == NULL && env != NULL) {
    s = getenv(env);
    if (s != NULL && s[0] == '\0') s = NULL;
    if (s != NULL) len = strlen(s);
  }
  if (s == NULL) return;
  /* every string option ends up in a header, a URL, a path or the JSON body */
  check_header_value(L, what, s, len);
  *out = strdup(s);
  if (*out == NULL) luaL_error(L, "gptimage.new: out of memory");
}

/* Longer than any time limit means none; kept finite so that converting it
 * to milliseconds for libcurl stays in range (a year of seconds). */
#define GI_MAX_SECONDS (365.0 * 24 * 3600)

static double opt_number(lua_State *L, int idx, const char *name, double dflt, double min) {
  double v = dflt;
  lua_getfield(L, idx, name);
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TNUMBER)
      luaL_error(L, "gptimage.new: '%s' must be a number, got %s", name, luaL_typename(L, -1));
    v = lua_tonumber(L, -1);
    if (!(v >= min)) luaL_error(L, "gptimage.new: '%s' must be at least %f", name, min);
    if (v > GI_MAX_SECONDS && strstr(name, "timeout") != NULL) v = GI_MAX_SECONDS;
  }
  lua_pop(L, 1);
  return v;
}

/* A whole number of at least 0; math.huge and other huge ones mean "very
 * many" and are capped, never cast out of range. */
static long opt_count(lua_State *L, int idx, const char *name, long dflt) {
  long v = dflt;
  lua_getfield(L, idx, name);
  if (!lua_isnil(L, -1)) {
    lua_Number d;
    if (lua_type(L, -1) != LUA_TNUMBER)
      luaL_error(L, "gptimage.new: '%s' must be a number, got %s", name, luaL_typename(L, -1));
    d = lua_tonumber(L, -1);
    if (!(d >= 0)) luaL_error(L, "gptimage.new: '%s' must be at least 0", name);
    if (d > 1000000) v = 1000000;
    else if (!gi_isinteger(L, -1)) luaL_error(L, "gptimage.new: '%s' must be a whole number", name);
    else v = (long)lua_tointeger(L, -1);
  }
  lua_pop(L, 1);
  return v;
}

static void add_header(lua_State *L, gi_client *c, const char *name, const char *value) {
  char *line;
  if (c->header_count == c->header_cap) {
    size_t cap = c->header_cap ? c->header_cap * 2 : 8;
    char **lines = (char **)realloc(c->header_lines, cap * sizeof *lines);
    if (lines == NULL) luaL_error(L, "gptimage.new: out of memory");
    c->header_lines = lines;
    c->header_cap = cap;
  }
  lua_pushfstring(L, "%s: %s", name, value);
  line = strdup(lua_tostring(L, -1));
  lua_pop(L, 1);
  if (line == NULL) luaL_error(L, "gptimage.new: out of memory");
  c->header_lines[c->header_count++] = line;
}

/* An HTTP token character (RFC 9110 tchar): what a header name is made of. */
static int is_token_char(unsigned char ch) {
  return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
         (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* Headers the module sends itself, from an option or from the request: a
 * caller's copy would go out beside ours, and the server would pick one. */
static const char *const OWN_HEADERS[][2] = {
  {"authorization", "api_key"}, {"api-key", "api_key"}, {"openai-organization", "organization"},
  {"openai-project", "project"}, {"user-agent", "user_agent"}, {"content-length", NULL},
  {"content-type", NULL}, {"transfer-encoding", NULL}, {"host", NULL}, {"expect", NULL},
  {"accept", NULL}, {"connection", NULL}, {NULL, NULL}
};

static void check_header_name(lua_State *L, const char *name, size_t len) {
  size_t i;
  if (len == 0) luaL_error(L, "gptimage.new: a header name must not be empty");
  for (i = 0; i < len; i++)
    if (!is_token_char((unsigned char)name[i]))
      luaL_error(L, "gptimage.new: invalid header name '%s' (letters, digits and !#$%%&'*+-.^_`|~ only)",
                 name);
  for (i = 0; OWN_HEADERS[i][0]; i++) {
    if (strlen(OWN_HEADERS[i][0]) != len || strncasecmp(name, OWN_HEADERS[i][0], len) != 0) continue;
    if (OWN_HEADERS[i][1])
      luaL_error(L, "gptimage.new: header '%s' is set by the module: use the '%s' option", name,
                 OWN_HEADERS[i][1]);
    luaL_error(L, "gptimage.new: header '%s' is set by the module for each request", name);
  }
}

static void read_headers(lua_State *L, int idx, gi_client *c) {
  lua_getfield(L, idx, "headers");
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return;
  }
  if (!lua_istable(L, -1)) luaL_error(L, "gptimage.new: 'headers' must be a table");
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    const char *name, *value;
    size_t name_len, value_len;
    if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
      luaL_error(L, "gptimage.new: 'headers' maps names to string values");
    name = lua_tolstring(L, -2, &name_len);
    value = lua_tolstring(L, -1, &value_len);
    check_header_name(L, name, name_len);
    lua_pushfstring(L, "header '%s'", name);
    check_header_value(L, lua_tostring(L, -1), value, value_len);
    lua_pop(L, 1);
    add_header(L, c, name, value);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

static void read_azure(lua_State *L, int idx, gi_client *c) {
  int t;
  lua_getfield(L, idx, "azure");
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return;
  }
  if (!lua_istable(L, -1)) luaL_error(L, "gptimage.new: 'azure' must be a table");
  t = lua_gettop(L);
  opt_string(L, t, "endpoint", "AZURE_OPENAI_ENDPOINT", &c->azure_endpoint);
  opt_string(L, t, "deployment", NULL, &c->azure_deployment);
  opt_string(L, t, "api_version", "OPENAI_API_VERSION", &c->azure_api_version);
  if (!c->azure_endpoint || !c->azure_deployment || !c->azure_api_version)
    luaL_error(L, "gptimage.new: 'azure' needs endpoint, deployment and api_version");
  lua_pop(L, 1);
}

/* Paths are appended to base URLs: a query or a fragment would swallow them,
 * and a space or control character makes no URL at all. */
static void check_url(lua_State *L, const char *what, const char *url) {
  const char *p;
  if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
    luaL_error(L, "gptimage.new: '%s' must be an http:// or https:// URL", what);
  for (p = url; *p; p++) {
    if (*p == '?' || *p == '#')
      luaL_error(L, "gptimage.new: '%s' must not have a query or fragment ('%c'): the API's paths are "
                 "appended to it", what, *p);
    if ((unsigned char)*p <= ' ' || *p == 0x7f)
      luaL_error(L, "gptimage.new: '%s' must not contain spaces or control characters", what);
  }
}

/* Pushes url with the password of any user:password@ part masked. */
static void push_url_redacted(lua_State *L, const char *url) {
  const char *scheme_end = strstr(url, "://");
  const char *host = scheme_end ? scheme_end + 3 : url;
  const char *at, *colon;
  size_t authority = strcspn(host, "/");
  at = memchr(host, '@', authority);
  if (at == NULL) {
    lua_pushstring(L, url);
    return;
  }
  /* the last '@' of the authority ends the user information */
  while (memchr(at + 1, '@', authority - (size_t)(at + 1 - host)) != NULL)
    at = memchr(at + 1, '@', authority - (size_t)(at + 1 - host));
  colon = memchr(host, ':', (size_t)(at - host));
  if (colon == NULL) {
    lua_pushstring(L, url);
    return;
  }
  lua_pushlstring(L, url, (size_t)(colon + 1 - url));
  lua_pushliteral(L, "[redacted]");
  lua_pushstring(L, at);
  lua_concat(L, 3);
}

static void strip_slashes(char *s) {
  size_t n = strlen(s);
  while (n > 0 && s[n - 1] == '/') s[--n] = '\0';
}

/* Pushes a copy of the table at idx read without metamethods, nested tables
 * copied too: prices are read while jobs finish, where no caller code may
 * run (a raising __index there would strand the job). */
static void push_raw_copy(lua_State *L, int idx, int depth) {
  if (depth > 8) luaL_error(L, "gptimage.new: 'prices' is nested too deeply");
  lua_newtable(L);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pushvalue(L, -2);
    if (lua_istable(L, -2)) push_raw_copy(L, lua_gettop(L) - 1, depth + 1);
    else lua_pushvalue(L, -2);
    lua_rawset(L, -5);
    lua_pop(L, 1);
  }
}

int gi_client_new(lua_State *L) {
  gi_client *c;
  int opts = 0;
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TTABLE);
    opts = 1;
    check_client_keys(L, opts);
  }
  c = (gi_client *)gi_newuserdata(L, sizeof *c);
  memset(c, 0, sizeof *c);
  c->closed = 1; /* until fully built: __gc frees what is there */
  luaL_getmetatable(L, GI_CLIENT_MT);
  lua_setmetatable(L, -2);
  lua_createtable(L, 0, 4); /* uservalue: jobs, prices */
  lua_newtable(L);
  lua_setfield(L, -2, "jobs");
  if (opts) {
    lua_getfield(L, opts, "prices");
    if (!lua_isnil(L, -1) && !lua_istable(L, -1))
      luaL_error(L, "gptimage.new: 'prices' must be a table");
    if (lua_istable(L, -1)) {
      push_raw_copy(L, lua_gettop(L), 0);
      lua_remove(L, -2);
    }
    lua_setfield(L, -2, "prices");
  }
  gi_setuservalue(L, -2);

  if (opts) {
    read_azure(L, opts, c);
    opt_string(L, opts, "api_key", c->azure_endpoint ? "AZURE_OPENAI_API_KEY" : "OPENAI_API_KEY",
               &c->api_key);
    if (c->api_key == NULL && c->azure_endpoint)
      opt_string(L, 0, "api_key", "OPENAI_API_KEY", &c->api_key);
    opt_string(L, opts, "base_url", "OPENAI_BASE_URL", &c->base_url);
    opt_string(L, opts, "organization", "OPENAI_ORG_ID", &c->organization);
    opt_string(L, opts, "project", "OPENAI_PROJECT_ID", &c->project);
    opt_string(L, opts, "model", "GPTIMAGE_MODEL", &c->model);
    opt_string(L, opts, "proxy", NULL, &c->proxy);
    opt_string(L, opts, "ca_file", NULL, &c->ca_file);
    opt_string(L, opts, "ca_path", NULL, &c->ca_path);
    c->timeout = opt_number(L, opts, "timeout", 600, 0.001);
    c->connect_timeout = opt_number(L, opts, "connect_timeout", 30, 0.001);
    c->max_retries = opt_count(L, opts, "max_retries", 2);
    c->max_response = opt_number(L, opts, "max_response_bytes", 512.0 * 1024 * 1024, 1024);
  } else {
    opt_string(L, 0, "api_key", "OPENAI_API_KEY", &c->api_key);
    opt_string(L, 0, "base_url", "OPENAI_BASE_URL", &c->base_url);
    opt_string(L, 0, "organization", "OPENAI_ORG_ID", &c->organization);
    opt_string(L, 0, "project", "OPENAI_PROJECT_ID", &c->project);
    opt_string(L, 0, "model", "GPTIMAGE_MODEL", &c->model);
    c->timeout = 600;
    c->connect_timeout = 30;
    c->max_retries = 2;
    c->max_response = 512.0 * 1024 * 1024;
  }
  if (c->api_key == NULL)
    luaL_error(L, "gptimage.new: no API key: pass api_key or set OPENAI_API_KEY");
  if (c->model == NULL && (c->model = strdup(GI_DEFAULT_MODEL)) == NULL)
    luaL_error(L, "gptimage.new: out of memory");
  if (c->base_url == NULL && (c->base_url = strdup("https://api.openai.com/v1")) == NULL)
    luaL_error(L, "gptimage.new: out of memory");
  strip_slashes(c->base_url);
  check_url(L, "base_url", c->base_url);
  if (c->azure_endpoint) {
    strip_slashes(c->azure_endpoint);
    check_url(L, "azure.endpoint", c->azure_endpoint);
  }

  if (c->azure_endpoint) {
    add_header(L, c, "api-key", c->api_key);
  } else {
    lua_pushfstring(L, "Bearer %s", c->api_key);
    add_header(L, c, "Authorization", lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  if (c->organization) add_header(L, c, "OpenAI-Organization", c->organization);
  if (c->project) add_header(L, c, "OpenAI-Project", c->project);
  add_header(L, c, "Accept", "application/json");
  /* 100-continue costs a round trip per upload and some servers never answer it */
  add_header(L, c, "Expect", "");
  if (opts) {
    opt_string(L, opts, "user_agent", NULL, &c->user_agent);
    read_headers(L, opts, c);
  }
  c->closed = 0;
  return 1;
}

static void secure_free(char *s) {
  if (s == NULL) return;
  /* keys should not linger in freed memory that a core dump could show */
  memset(s, 0, strlen(s));
  free(s);
}

static void client_release(lua_State *L, gi_client *c) {
  gi_drive_release(L, c);
  while (c->header_count > 0) secure_free(c->header_lines[--c->header_count]);
  free(c->header_lines);
  c->header_lines = NULL;
  c->header_cap = 0;
  free(c->user_agent);
  c->user_agent = NULL;
  secure_free(c->api_key);
  c->api_key = NULL;
  free(c->base_url);
  free(c->organization);
  free(c->project);
  free(c->model);
  free(c->proxy);
  free(c->ca_file);
  free(c->ca_path);
  free(c->azure_endpoint);
  free(c->azure_deployment);
  free(c->azure_api_version);
  c->base_url = c->organization = c->project = c->model = c->proxy = c->ca_file = c->ca_path = NULL;
  c->azure_endpoint = c->azure_deployment = c->azure_api_version = NULL;
  c->closed = 1;
  c->released = 1;
}

static int client_gc(lua_State *L) {
  gi_client *c = (gi_client *)luaL_checkudata(L, 1, GI_CLIENT_MT);
  /* also a client whose construction raised: free what it got */
  if (!c->released) client_release(L, c);
  return 0;
}

static int client_close(lua_State *L) {
  gi_client *c = (gi_client *)luaL_checkudata(L, 1, GI_CLIENT_MT);
  if (c->driving) return luaL_error(L, "gptimage: cannot close a client from its own callback");
  if (!c->released) client_release(L, c);
  return 0;
}

static int client_tostring(lua_State *L) {
  gi_client *c = (gi_client *)luaL_checkudata(L, 1, GI_CLIENT_MT);
  if (c->closed)
    lua_pushliteral(L, "gptimage.Client (closed)");
  else
  {
    lua_pushliteral(L, "gptimage.Client (");
    push_url_redacted(L, c->azure_endpoint ? c->azure_endpoint : c->base_url);
    lua_pushliteral(L, ")");
    lua_concat(L, 3);
  }
  return 1;
}

/* client:poll([seconds]) -> jobs not yet delivered, and whether the budget
 * ran out with data waiting (poll again soon to catch up) */
static int client_poll(lua_State *L) {
  gi_client *c = gi_client_check(L, 1);
  double budget = GI_POLL_BUDGET;
  int cut;
  if (!lua_isnoneornil(L, 2)) {
    budget = luaL_checknumber(L, 2);
    if (!(budget >= 0)) luaL_argerror(L, 2, "the budget is seconds of work, 0 or more");
    if (budget > 1e9) budget = -1; /* math.huge: no budget */
  }
  cut = gi_drive_round(L, 1, budget);
  lua_pushinteger(L, gi_job_pending(c));
  lua_pushboolean(L, cut);
  return 2;
}

/* client:redact(value) -> value with this client's API key masked in every
 * string (a deep copy for tables): for what the Lua helpers read from the
 * server outside the module's own results. */
static int client_redact(lua_State *L) {
  gi_client *c = gi_client_check(L, 1);
  luaL_checkany(L, 2);
  gi_redact_value(L, 2, c->api_key);
  return 1;
}

static int client_generate(lua_State *L) { return gi_wait_call(L, "generate"); }
static int client_edit(lua_State *L) { return gi_wait_call(L, "edit"); }
static int client_variation(lua_State *L) { return gi_wait_call(L, "variation"); }

/* client:start(op, opts) and client:start("batch", list, opts).  The drive
 * is made ready (libcurl loaded) just before the job is built: a bad op or
 * a missing options table is reported first. */
static int client_start(lua_State *L) {
  const char *opname;
  gi_op op;
  gi_client_check(L, 1);
  opname = luaL_checkstring(L, 2);
  if (strcmp(opname, "batch") == 0) {
    gi_drive_ready(L, 1);
    return gi_batch_start(L, 1, 3, 4);
  }
  if (strcmp(opname, "request") == 0) {
    gi_drive_ready(L, 1);
    gi_raw_start(L, 1, 3);
    return 1;
  }
  op = gi_request_checkop(L, 2);
  luaL_checktype(L, 3, LUA_TTABLE);
  gi_drive_ready(L, 1);
  gi_job_start_image(L, 1, op, opname, 3);
  return 1;
}

/* The Batch API helpers are Lua: gptimage.batchapi does the JSONL work.
 * The module is taken from package.loaded (the registry's _LOADED) when it
 * is loaded, else loaded with the `require` the module kept when it was
 * itself loaded (gi_client_open), never the global one at call time: a
 * sandbox that removes `require` after loading both keeps working. */
static const char REQUIRE_KEY[] = "gptimage.require";

static void push_lua_helper(lua_State *L, const char *module) {
  lua_getfield(L, LUA_REGISTRYINDEX, "_LOADED");
  if (lua_istable(L, -1)) {
    lua_getfield(L, -1, module);
    lua_remove(L, -2);
    if (lua_istable(L, -1)) return;
  }
  lua_pop(L, 1);
  lua_getfield(L, LUA_REGISTRYINDEX, REQUIRE_KEY);
  if (!lua_isfunction(L, -1))
    luaL_error(L, "gptimage: the Batch API helpers need %s: load it before taking require away", module);
  lua_pushstring(L, module);
  lua_call(L, 1, 1);
}

static int call_lua_helper(lua_State *L, const char *module, const char *fn) {
  int nargs = lua_gettop(L);
  gi_client_check(L, 1);
  push_lua_helper(L, module);
  lua_getfield(L, -1, fn);
  lua_remove(L, -2);
  lua_insert(L, 1);
  lua_call(L, nargs, LUA_MULTRET);
  return lua_gettop(L);
}
static int client_batch_submit(lua_State *L) { return call_lua_helper(L, "gptimage.batchapi", "submit"); }
static int client_batch_status(lua_State *L) { return call_lua_helper(L, "gptimage.batchapi", "status"); }
static int client_batch_collect(lua_State *L) { return call_lua_helper(L, "gptimage.batchapi", "collect"); }

static const luaL_Reg CLIENT_METHODS[] = {
  {"generate", client_generate},
  {"edit", client_edit},
  {"variation", client_variation},
  {"start", client_start},
  {"poll", client_poll},
  {"batch", gi_wait_batch},
  {"request", gi_wait_request},
  {"batch_submit", client_batch_submit},
  {"batch_status", client_batch_status},
  {"batch_collect", client_batch_collect},
  {"redact", client_redact},
  {"close", client_close},
  {NULL, NULL}
};

void gi_client_open(lua_State *L) {
  lua_getglobal(L, "require");
  if (lua_isfunction(L, -1)) lua_setfield(L, LUA_REGISTRYINDEX, REQUIRE_KEY);
  else lua_pop(L, 1);
  if (luaL_newmetatable(L, GI_CLIENT_MT)) {
    lua_newtable(L);
    luaL_setfuncs(L, CLIENT_METHODS, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, client_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, client_close);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, client_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, GI_CLIENT_MT);
    lua_setfield(L, -2, "__name");
  }
  lua_pop(L, 1);
}
