/* raw: client:request{...} (see raw.h). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "raw.h"
#include "errors.h"
#include "luabuf.h"
#include "transfer.h"
#include "result.h"
#include "json.h"

/* A raw request (client:request) ended with a 2xx answer. */
void gi_raw_finish(lua_State *L, int job_idx, gi_job *job) {
  int res;
  gi_sink *s = job->current;
  job->current = NULL;
  if (s && gi_sink_finish(s) != GI_SINK_OK) {
    lua_pushstring(L, gi_sink_message(s));
    gi_sink_free(s);
    gi_result_fail_kind(L, job_idx, job, "io", lua_tostring(L, -1));
    lua_pop(L, 1);
    return;
  }
  lua_createtable(L, 0, 6);
  res = lua_gettop(L);
  lua_pushinteger(L, (lua_Integer)job->status);
  lua_setfield(L, res, "status");
  if (job->request_id[0]) {
    lua_pushstring(L, job->request_id);
    lua_setfield(L, res, "request_id");
  }
  if (job->content_type[0]) {
    lua_pushstring(L, job->content_type);
    lua_setfield(L, res, "content_type");
  }
  if (job->save) {
    if (s == NULL) { /* an empty body is still a file */
      char err[300];
      s = gi_sink_new_file(job->save, 0, err, sizeof err);
      if (s == NULL || gi_sink_finish(s) != GI_SINK_OK) {
        lua_pushstring(L, s ? gi_sink_message(s) : err);
        gi_sink_free(s);
        lua_replace(L, res);
        gi_result_fail_kind(L, job_idx, job, "io", lua_tostring(L, -1));
        lua_pop(L, 1);
        return;
      }
    }
    if (gi_sink_commit(s) != GI_SINK_OK) {
      lua_pushstring(L, gi_sink_message(s));
      gi_sink_free(s);
      lua_replace(L, res);
      gi_result_fail_kind(L, job_idx, job, "io", lua_tostring(L, -1));
      lua_pop(L, 1);
      return;
    }
    lua_pushstring(L, gi_sink_path(s));
    lua_setfield(L, res, "path");
  } else {
    size_t len = 0;
    char *bytes = s ? gi_sink_take(s, &len) : NULL;
    gi_sink_free(s);
    s = NULL;
    gi_push_owned(L, bytes, len);
    if (strncasecmp(job->content_type, "application/json", 16) == 0) {
      size_t blen;
      const char *body = lua_tolstring(L, -1, &blen);
      if (gi_json_decode(L, body, blen)) lua_setfield(L, res, "json");
      else lua_pop(L, 1);
    }
    lua_setfield(L, res, "body");
  }
  gi_sink_free(s);
  gi_transfer_reset(job);
  gi_job_release_transfer(job);
  if (job->client) {
    /* what the server sent may echo the key */
    gi_redact_value(L, res, job->client->api_key);
    lua_replace(L, res);
  }
  lua_pushnil(L);
  gi_job_store_result(L, job_idx, job);
}

/* raw requests: client:request{...} for the endpoints around the images
 * (files and batches for the Batch API) */

static const char *const RAW_OPTIONS[] = {
  "method", "path", "query", "json", "body", "content_type", "form", "save",
  "timeout", "max_retries", "on_done", NULL
};

static void raw_check_options(lua_State *L, int opts) {
  lua_pushnil(L);
  while (lua_next(L, opts)) {
    int i;
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
    for (i = 0; k && RAW_OPTIONS[i]; i++)
      if (strcmp(k, RAW_OPTIONS[i]) == 0) break;
    if (k == NULL || RAW_OPTIONS[i] == NULL)
      luaL_error(L, "request: unknown option '%s'", k ? k : "?");
    lua_pop(L, 1);
  }
}

static void raw_add_header(lua_State *L, gi_job *job, const char *line) {
  struct curl_slist *next = curl_slist_append(job->headers, line);
  if (next == NULL) luaL_error(L, "gptimage: out of memory");
  job->headers = next;
}

static void raw_build_url(lua_State *L, int opts, gi_client *c, gi_job *job) {
  const char *path;
  int url, top = lua_gettop(L);
  lua_getfield(L, opts, "path");
  path = lua_tostring(L, -1);
  if (lua_type(L, -1) != LUA_TSTRING || path[0] == '\0')
    luaL_error(L, "request: 'path' must be a non-empty string (relative to base_url)");
  if (strstr(path, "://") || strstr(path, "..") || strchr(path, '?') || strchr(path, '#') ||
      strchr(path, ' ') || strchr(path, '\r') || strchr(path, '\n'))
    luaL_error(L, "request: 'path' must be a plain path relative to base_url");
  while (*path == '/') path++;
  lua_pushfstring(L, "%s/%s", c->base_url, path);
  url = lua_gettop(L);
  lua_getfield(L, opts, "query");
  if (!lua_isnil(L, -1)) {
    int q = lua_gettop(L), first = 1;
    if (!lua_istable(L, q)) luaL_error(L, "request: 'query' must be a table");
    lua_pushnil(L);
    while (lua_next(L, q)) {
      char *k, *v;
      if (lua_type(L, -2) != LUA_TSTRING || !lua_isstring(L, -1))
        luaL_error(L, "request: 'query' maps names to strings or numbers");
      k = curl_easy_escape(job->easy, lua_tostring(L, -2), 0);
      v = curl_easy_escape(job->easy, lua_tostring(L, -1), 0);
      if (k == NULL || v == NULL) {
        curl_free(k);
        curl_free(v);
        luaL_error(L, "gptimage: out of memory");
      }
      lua_pushfstring(L, "%s%s%s=%s", lua_tostring(L, url), first ? "?" : "&", k, v);
      curl_free(k);
      curl_free(v);
      lua_replace(L, url);
      first = 0;
      lua_pop(L, 1);
    }
  }
  if (curl_easy_setopt(job->easy, CURLOPT_URL, lua_tostring(L, url)) != CURLE_OK)
    luaL_error(L, "request: bad URL");
  lua_settop(L, top);
}

/* form = { {name=, value=} | {name=, path=, filename=, type=} ... } */
static void raw_build_form(lua_State *L, int form, gi_job *job) {
  int i, n;
  if (!lua_istable(L, form)) luaL_error(L, "request: 'form' must be a list of parts");
  job->req.mime = curl_mime_init(job->easy);
  if (job->req.mime == NULL) luaL_error(L, "gptimage: out of memory");
  n = (int)lua_rawlen(L, form);
  for (i = 1; i <= n; i++) {
    curl_mimepart *part;
    const char *name, *value, *path, *filename, *type;
    size_t vlen = 0;
    int e;
    CURLcode rc;
    lua_rawgeti(L, form, i);
    e = lua_gettop(L);
    if (!lua_istable(L, e)) luaL_error(L, "request: form part %d must be a table", i);
    lua_getfield(L, e, "name");
    lua_getfield(L, e, "value");
    lua_getfield(L, e, "path");
    lua_getfield(L, e, "filename");
    lua_getfield(L, e, "type");
    name = lua_tostring(L, e + 1);
    value = lua_isstring(L, e + 2) ? lua_tolstring(L, e + 2, &vlen) : NULL;
    path = lua_tostring(L, e + 3);
    filename = lua_tostring(L, e + 4);
    type = lua_tostring(L, e + 5);
    if (name == NULL || (value == NULL) == (path == NULL))
      luaL_error(L, "request: form part %d needs a name and either value or path", i);
    part = curl_mime_addpart(job->req.mime);
    if (part == NULL) luaL_error(L, "gptimage: out of memory");
    rc = curl_mime_name(part, name);
    if (value) rc |= curl_mime_data(part, value, vlen);
    if (path) rc |= curl_mime_filedata(part, path);
    if (filename) rc |= curl_mime_filename(part, filename);
    if (type) rc |= curl_mime_type(part, type);
    if (rc != CURLE_OK) luaL_error(L, "request: cannot build form part %d ('%s')", i, name);
    lua_settop(L, e - 1);
  }
}

gi_job *gi_raw_start(lua_State *L, int client_idx, int opts) {
  gi_client *c = gi_client_check(L, client_idx);
  gi_job *job;
  int job_idx;
  const char *method;
  struct curl_slist *h;
  CURLcode rc = CURLE_OK;
  client_idx = lua_absindex(L, client_idx);
  opts = lua_absindex(L, opts);
  luaL_checktype(L, opts, LUA_TTABLE);
  raw_check_options(L, opts);
  job = gi_job_new(L, client_idx, c, JOB_RAW, "request");
  job_idx = lua_gettop(L);
  lua_pushvalue(L, opts);
  gi_uv_set(L, job_idx, "opts");
  job->easy = curl_easy_init();
  if (job->easy == NULL) luaL_error(L, "gptimage: curl_easy_init failed");
  lua_getfield(L, opts, "method");
  method = lua_isnil(L, -1) ? "GET" : lua_tostring(L, -1);
  if (method == NULL || (strcmp(method, "GET") && strcmp(method, "POST") && strcmp(method, "DELETE")))
    luaL_error(L, "request: 'method' must be GET, POST or DELETE");
  raw_build_url(L, opts, c, job);
  for (h = c->headers; h; h = h->next) raw_add_header(L, job, h->data);
  lua_getfield(L, opts, "json");
  lua_getfield(L, opts, "body");
  lua_getfield(L, opts, "form");
  if (!lua_isnil(L, -3) + !lua_isnil(L, -2) + !lua_isnil(L, -1) > 1)
    luaL_error(L, "request: give one of 'json', 'body' and 'form'");
  if (!lua_isnil(L, -3) || !lua_isnil(L, -2)) {
    size_t len;
    const char *text;
    if (!lua_isnil(L, -3)) {
      gi_json_encode(L, -3);
      raw_add_header(L, job, "Content-Type: application/json");
    } else {
      if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "request: 'body' must be a string");
      lua_pushvalue(L, -2);
      lua_getfield(L, opts, "content_type");
      lua_pushfstring(L, "Content-Type: %s",
                      lua_isstring(L, -1) ? lua_tostring(L, -1) : "application/octet-stream");
      if (strchr(lua_tostring(L, -1), '\n') || strchr(lua_tostring(L, -1), '\r'))
        luaL_error(L, "request: bad 'content_type'");
      raw_add_header(L, job, lua_tostring(L, -1));
      lua_pop(L, 2);
    }
    text = lua_tolstring(L, -1, &len);
    job->req.json = (char *)malloc(len + 1);
    if (job->req.json == NULL) luaL_error(L, "gptimage: out of memory");
    memcpy(job->req.json, text, len + 1);
    job->req.json_len = len;
    rc |= curl_easy_setopt(job->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    rc |= curl_easy_setopt(job->easy, CURLOPT_POSTFIELDS, job->req.json);
    lua_pop(L, 1);
  } else if (!lua_isnil(L, -1)) {
    raw_build_form(L, lua_gettop(L), job);
    rc |= curl_easy_setopt(job->easy, CURLOPT_MIMEPOST, job->req.mime);
  }
  lua_pop(L, 3);
  if (strcmp(method, "POST") == 0 && job->req.json == NULL && job->req.mime == NULL) {
    rc |= curl_easy_setopt(job->easy, CURLOPT_POSTFIELDS, "");
    rc |= curl_easy_setopt(job->easy, CURLOPT_POSTFIELDSIZE, 0L);
  }
  if (strcmp(method, "DELETE") == 0) rc |= curl_easy_setopt(job->easy, CURLOPT_CUSTOMREQUEST, "DELETE");
  lua_pop(L, 1); /* method */
  gi_job_read_local_options(L, opts, job_idx, job);
  job->req.n = 1;
  job->scanner = gi_transfer_new_scanner(job);
  if (job->scanner == NULL) luaL_error(L, "gptimage: out of memory");
  if (rc != CURLE_OK || gi_transfer_setup(job, c) != 0 ||
      curl_easy_setopt(job->easy, CURLOPT_HTTPHEADER, job->headers) != CURLE_OK ||
      curl_easy_setopt(job->easy, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK)
    luaL_error(L, "gptimage: cannot set up the request (curl_easy_setopt failed)");
  gi_job_launch(L, client_idx, job_idx, c, job);
  return job;
}

