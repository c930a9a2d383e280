/* result: an ended transfer becomes the job's result or error (see result.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "job.h"
#include "result.h"
#include "transfer.h"
#include "retry.h"
#include "download.h"
#include "raw.h"
#include "errors.h"
#include "json.h"
#include "buffer.h"
#include "cost.h"
#include "models.h"
#include "luabuf.h"

void gi_result_push_error(lua_State *L, gi_job *job, const char *kind, const char *message) {
  gi_error e;
  memset(&e, 0, sizeof e);
  e.kind = kind;
  e.status = job->status;
  e.message = message;
  e.request_id = job->request_id[0] ? job->request_id : NULL;
  e.retry_after = job->retry_after;
  gi_error_push(L, &e, job->client ? job->client->api_key : NULL);
}

static const char *string_field(lua_State *L, int t, const char *name) {
  const char *s = NULL;
  lua_getfield(L, t, name);
  if (lua_type(L, -1) == LUA_TSTRING) s = lua_tostring(L, -1);
  lua_pop(L, 1);
  return s;
}

/* An API error body, {"error": {...}}, at the top of the stack: pushes the
 * error table and returns 1, or returns 0 (and pushes nothing). */
static int push_api_error(lua_State *L, gi_job *job, int t) {
  gi_error e;
  int et;
  if (!lua_istable(L, t)) return 0;
  lua_getfield(L, t, "error");
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    return 0;
  }
  et = lua_gettop(L);
  memset(&e, 0, sizeof e);
  e.kind = "api";
  e.status = job->status;
  e.message = string_field(L, et, "message");
  e.code = string_field(L, et, "code");
  e.type = string_field(L, et, "type");
  e.param = string_field(L, et, "param");
  e.request_id = job->request_id[0] ? job->request_id : NULL;
  e.retry_after = job->retry_after;
  if (e.message == NULL || e.message[0] == '\0') e.message = "the API returned an error";
  {
    /* a model the API has shut down: say what replaces it */
    gi_model m = gi_model_find(job->req.model);
    int named = 0;
    if (m.state == GI_SHUT_DOWN && m.replacement && job->status >= 400 && job->status < 500) {
      e.message = lua_pushfstring(L, "%s (%s was shut down on %s; use %s)", e.message, m.name, m.date,
                                  m.replacement);
      named = 1;
    }
    gi_error_push(L, &e, job->client ? job->client->api_key : NULL);
    if (named) lua_remove(L, -2);
  }
  lua_remove(L, et);
  return 1;
}

/* A short, printable excerpt of a body that was not JSON. */
static void push_http_error(lua_State *L, gi_job *job) {
  char text[200];
  size_t i, j = 0, raw_len;
  int space = 0;
  const char *raw;
  luaL_Buffer b;
  /* the key goes before the cut, so a cut cannot leave part of it */
  gi_redact_push(L, job->excerpt, job->excerpt_len, job->client ? job->client->api_key : NULL);
  raw = lua_tolstring(L, -1, &raw_len);
  for (i = 0; i < raw_len && j + 4 < sizeof text; i++) {
    unsigned char ch = (unsigned char)raw[i];
    if (ch < 0x20 || ch == 0x7f) {
      if (!space && j > 0) text[j++] = ' ';
      space = 1;
    } else {
      text[j++] = (char)ch;
      space = 0;
    }
  }
  if (raw_len > i) {
    text[j++] = '.';
    text[j++] = '.';
    text[j++] = '.';
  }
  text[j] = '\0';
  lua_pop(L, 1);
  luaL_buffinit(L, &b);
  lua_pushfstring(L, "HTTP %d", (int)job->status);
  luaL_addvalue(&b);
  if (j > 0) {
    luaL_addstring(&b, " with a body that is not JSON: ");
    luaL_addstring(&b, text);
  }
  luaL_pushresult(&b);
  gi_result_push_error(L, job, "http", lua_tostring(L, -1));
  lua_remove(L, -2);
}

/* ends the job with the error on top of the stack (popped) */
void gi_result_fail(lua_State *L, int job_idx, gi_job *job) {
  job_idx = lua_absindex(L, job_idx);
  if (job->attempt > 1 && lua_istable(L, -1)) {
    /* the error of the last attempt says how many were made */
    lua_pushinteger(L, (lua_Integer)job->attempt);
    lua_setfield(L, -2, "attempts");
  }
  gi_transfer_abort_images(job);
  gi_transfer_free_partials(job);
  gi_transfer_reset(job);
  gi_job_release_transfer(job);
  lua_pushnil(L);
  lua_insert(L, -2);
  gi_job_store_result(L, job_idx, job);
}

/* An io failure while saving after the answer was paid for: the images
 * already whole stay in place under their temporary names, given in the
 * error (err.kept[i] = path) and its message; the others are lost. */
static void push_io_error_keeping(lua_State *L, gi_job *job, const char *msg) {
  size_t i;
  int kept = 0, parts = 1, list;
  lua_newtable(L);
  list = lua_gettop(L);
  lua_pushstring(L, msg);
  for (i = 0; i < job->nimages; i++) {
    const char *path = job->images[i] ? gi_sink_keep(job->images[i]) : NULL;
    if (path == NULL) continue;
    lua_pushstring(L, path);
    lua_rawseti(L, list, (int)i + 1);
    lua_pushfstring(L, "%s image %d is kept as '%s'", kept ? ";" : "; the images that arrived whole are kept:",
                    (int)i + 1, path);
    kept++;
    parts++;
  }
  lua_concat(L, parts);
  gi_result_push_error(L, job, "io", lua_tostring(L, -1));
  lua_remove(L, -2); /* the message */
  if (kept) {
    lua_pushvalue(L, list);
    lua_setfield(L, -2, "kept");
  }
  lua_remove(L, list);
}

void gi_result_fail_kind(lua_State *L, int job_idx, gi_job *job, const char *kind, const char *msg) {
  if (job->save && job->nimages > 0 && strcmp(kind, "io") == 0) {
    push_io_error_keeping(L, job, msg);
    gi_result_fail(L, job_idx, job);
    return;
  }
  gi_result_push_error(L, job, kind, msg);
  gi_result_fail(L, job_idx, job);
}

/* Whole numbers as Lua integers (the JSON decoder gives floats), in the
 * value at the top of the stack and the tables in it. */
static void integers(lua_State *L, int depth) {
#if LUA_VERSION_NUM >= 503
  int t = lua_gettop(L);
  if (lua_type(L, t) == LUA_TNUMBER && !lua_isinteger(L, t)) {
    lua_Number d = lua_tonumber(L, t);
    if (d >= -9007199254740992.0 && d <= 9007199254740992.0 && d == (lua_Number)(lua_Integer)d) {
      lua_pop(L, 1);
      lua_pushinteger(L, (lua_Integer)d);
    }
    return;
  }
  if (lua_type(L, t) != LUA_TTABLE || depth > 8) return;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    if (lua_type(L, -1) == LUA_TNUMBER || lua_type(L, -1) == LUA_TTABLE) {
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      integers(L, depth + 1);
      lua_rawset(L, t); /* an existing key: next() goes on */
    } else {
      lua_pop(L, 1);
    }
  }
#else
  (void)L;
  (void)depth;
#endif
}

static void copy_field(lua_State *L, int from, int to, const char *name, const char *as) {
  lua_getfield(L, from, name);
  if (lua_isnil(L, -1) || lua_type(L, -1) == LUA_TLIGHTUSERDATA) {
    lua_pop(L, 1);
    return;
  }
  integers(L, 0);
  lua_setfield(L, to, as ? as : name);
}

/* Puts image i's file path or bytes into the image table at img. Returns 0,
 * or -1 with an error message pushed. */
static int attach_image(lua_State *L, gi_job *job, size_t i, int img) {
  gi_sink *s = i < job->nimages ? job->images[i] : NULL;
  if (s == NULL) return 0;
  if (job->save) {
    if (gi_sink_commit(s) != GI_SINK_OK) {
      lua_pushstring(L, gi_sink_message(s));
      return -1;
    }
    lua_pushstring(L, gi_sink_path(s));
    lua_setfield(L, img, "path");
  } else if (job->as_buffer) {
    /* made before the bytes are taken: raising here leaves them in the sink */
    gi_buffer *b = gi_buffer_new(L);
    b->bytes = gi_sink_take(s, &b->len);
    if (b->bytes == NULL && b->len > 0) {
      b->len = 0;
      lua_pop(L, 1);
      lua_pushliteral(L, "out of memory");
      return -1;
    }
    lua_setfield(L, img, "buffer");
  } else {
    size_t len = 0;
    char *bytes = gi_sink_take(s, &len);
    if (bytes == NULL && len > 0) {
      lua_pushliteral(L, "out of memory");
      return -1;
    }
    gi_push_owned(L, bytes, len);
    lua_setfield(L, img, "bytes");
  }
  gi_sink_free(s);
  job->images[i] = NULL;
  return 0;
}

/* Checks what an answer holds against what was asked, before anything is
 * saved. Returns 0 when it is whole; -1 (msg set) when it holds more images
 * than asked for or image data outside its "data" list: nothing is saved;
 * 1 (msg set) when fewer usable images came than were asked for: those are
 * kept and handed back with the error. */
static int check_answer(lua_State *L, gi_job *job, int doc, char *msg, size_t msglen) {
  unsigned asked = job->req.n > 0 ? (unsigned)job->req.n : 1;
  unsigned listed = 0, usable = 0, with_b64 = 0, i;
  if (job->sse_mode) {
    listed = job->completed;
    for (i = 0; i < job->completed; i++)
      if (i < job->nimages && job->images[i]) usable++;
    with_b64 = usable;
  } else {
    lua_getfield(L, doc, "data");
    if (lua_istable(L, -1)) listed = (unsigned)lua_rawlen(L, -1);
    for (i = 1; i <= listed; i++) {
      lua_rawgeti(L, -1, (int)i);
      if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "b64_json");
        if (lua_type(L, -1) == LUA_TSTRING) {
          with_b64++;
          if (i - 1 < job->nimages && job->images[i - 1]) usable++;
        }
        lua_pop(L, 1);
        if (job->req.url_response) {
          lua_getfield(L, -1, "url");
          if (lua_type(L, -1) == LUA_TSTRING) usable++;
          lua_pop(L, 1);
        }
      }
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  if (!job->req.url_response && job->nimages > with_b64) {
    snprintf(msg, msglen, "the answer holds image data outside its \"data\" list; nothing was saved");
    return -1;
  }
  if (listed > asked || usable > asked) {
    snprintf(msg, msglen, "the answer holds %u images for n = %u; nothing was saved", listed, asked);
    return -1;
  }
  if (usable < asked) {
    snprintf(msg, msglen, "the answer holds %u usable image%s of the %u asked for", usable,
             usable == 1 ? "" : "s", asked);
    return 1;
  }
  return 0;
}

/* Raises nothing: a target that is a folder would make its rename fail after
 * the images before it were renamed; found first, nothing is replaced. */
static int check_targets(gi_job *job, char *msg, size_t msglen) {
  size_t i;
  struct stat st;
  if (!job->save) return 0;
  for (i = 0; i < job->nimages; i++) {
    const char *path = job->images[i] ? gi_sink_path(job->images[i]) : NULL;
    if (path && lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
      snprintf(msg, msglen, "cannot save image %u: '%.200s' is a folder; no image was saved", (unsigned)i + 1,
               path);
      return -1;
    }
  }
  return 0;
}

/* The value on top with the client's API key masked in every string: what
 * the server sent may echo it. */
static void redact_top(lua_State *L, gi_job *job) {
  if (job->client == NULL) return;
  gi_redact_value(L, -1, job->client->api_key);
  lua_replace(L, -2);
}

void gi_result_succeed(lua_State *L, int job_idx, gi_job *job, int doc) {
  int res, images, data, i, count, verdict;
  char problem[300];
  job_idx = lua_absindex(L, job_idx);
  doc = lua_absindex(L, doc);
  verdict = check_answer(L, job, doc, problem, sizeof problem);
  if (verdict < 0 || (verdict == 0 && check_targets(job, problem, sizeof problem) != 0)) {
    gi_result_fail_kind(L, job_idx, job, verdict < 0 ? "decode" : "io", problem);
    return;
  }
  lua_createtable(L, 0, 12);
  res = lua_gettop(L);
  lua_newtable(L);
  images = lua_gettop(L);
  if (job->sse_mode) {
    count = (int)job->completed;
    for (i = 0; i < count; i++) {
      lua_createtable(L, 0, 3);
      copy_field(L, doc, lua_gettop(L), "revised_prompt", NULL);
      if (attach_image(L, job, (size_t)i, lua_gettop(L)) != 0) {
        gi_result_push_error(L, job, "io", lua_tostring(L, -1));
        lua_replace(L, res);
        lua_settop(L, res);
        gi_result_fail(L, job_idx, job);
        return;
      }
      lua_rawseti(L, images, i + 1);
    }
    copy_field(L, doc, res, "created_at", "created");
  } else {
    lua_getfield(L, doc, "data");
    data = lua_gettop(L);
    count = lua_istable(L, data) ? (int)lua_rawlen(L, data) : 0;
    for (i = 1; i <= count; i++) {
      int img;
      lua_createtable(L, 0, 3);
      img = lua_gettop(L);
      lua_rawgeti(L, data, i);
      if (lua_istable(L, -1)) {
        copy_field(L, lua_gettop(L), img, "url", NULL);
        copy_field(L, lua_gettop(L), img, "revised_prompt", NULL);
      }
      lua_pop(L, 1);
      if (attach_image(L, job, (size_t)(i - 1), img) != 0) {
        gi_result_push_error(L, job, "io", lua_tostring(L, -1));
        lua_replace(L, res);
        lua_settop(L, res);
        gi_result_fail(L, job_idx, job);
        return;
      }
      lua_getfield(L, img, "path");
      lua_getfield(L, img, "bytes");
      lua_getfield(L, img, "buffer");
      lua_getfield(L, img, "url");
      if (lua_isnil(L, -1) && lua_isnil(L, -2) && lua_isnil(L, -3) && lua_isnil(L, -4)) {
        lua_pop(L, 5); /* listed without an image: not one */
        continue;
      }
      lua_pop(L, 4);
      lua_rawseti(L, images, (int)lua_rawlen(L, images) + 1);
    }
    lua_pop(L, 1);
    copy_field(L, doc, res, "created", NULL);
  }
  lua_setfield(L, res, "images");
  copy_field(L, doc, res, "usage", NULL);
  copy_field(L, doc, res, "size", NULL);
  copy_field(L, doc, res, "quality", NULL);
  copy_field(L, doc, res, "background", NULL);
  copy_field(L, doc, res, "output_format", NULL);
  copy_field(L, doc, res, "svg_usage", NULL);
  copy_field(L, doc, res, "safety_identifier", NULL);
  if (job->request_id[0]) {
    lua_pushstring(L, job->request_id);
    lua_setfield(L, res, "request_id");
  }
  if (job->req.model) {
    lua_pushstring(L, job->req.model);
    lua_setfield(L, res, "model");
  }
  {
    const char *size = job->req.size[0] ? job->req.size : string_field(L, res, "size");
    const char *quality = job->req.quality[0] ? job->req.quality : string_field(L, res, "quality");
    int prices = 0;
    gi_uv_get(L, job_idx, "client");
    if (!lua_isnil(L, -1)) {
      gi_uv_get(L, -1, "prices");
      lua_remove(L, -2);
      prices = lua_gettop(L);
    }
    gi_cost_push(L, res, job->req.model, size, quality, prices);
    lua_setfield(L, res, "cost");
    lua_pop(L, 1);
  }
  gi_transfer_abort_images(job); /* images the document did not list */
  gi_transfer_reset(job);
  gi_job_release_transfer(job);
  redact_top(L, job);
  if (verdict > 0) {
    /* fewer images than asked: an error, with what did arrive */
    res = lua_gettop(L);
    gi_result_push_error(L, job, "decode", problem);
    lua_getfield(L, res, "images");
    lua_setfield(L, -2, "images");
    lua_remove(L, res);
    lua_pushnil(L);
    lua_insert(L, -2);
  } else {
    lua_pushnil(L);
  }
  gi_job_store_result(L, job_idx, job);
}

/* a transfer ended */

static void transfer_done_at(lua_State *L, int job_idx, gi_job *job, CURLcode rc) {
  long status = 0;
  gi_transfer_detach(job);
  if (job->downloading) {
    gi_download_done(L, job_idx, job, rc);
    return;
  }
  if (curl_easy_getinfo(job->easy, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status)
    job->status = status;
  if (gi_transfer_trust_fallback(job, rc) || gi_transfer_refused_on_reuse(job, rc)) {
    gi_retry_at_once(job);
    return;
  }
  if (job->fail_kind) {
    gi_result_fail_kind(L, job_idx, job, job->fail_kind, job->fail_msg);
    return;
  }
  if (rc == CURLE_BAD_CONTENT_ENCODING) {
    /* a gzip (or other) header over a body that is not: the answer itself is bad */
    gi_result_fail_kind(L, job_idx, job, "decode", job->errbuf[0] ? job->errbuf : curl_easy_strerror(rc));
    return;
  }
  if (rc != CURLE_OK) {
    const char *kind = rc == CURLE_OPERATION_TIMEDOUT ? "timeout" : "network";
    if (gi_retry_curl_retryable(rc) && gi_retry_allowed(job)) {
      gi_retry_schedule(job);
      return;
    }
    gi_result_fail_kind(L, job_idx, job, kind, job->errbuf[0] ? job->errbuf : curl_easy_strerror(rc));
    return;
  }
  if (job->status < 200 || job->status >= 300) {
    size_t len;
    const char *skel;
    if (gi_retry_status_retryable(job->status) && gi_retry_allowed(job)) {
      gi_retry_schedule(job);
      return;
    }
    if (gi_scanner_finish(job->scanner) == GI_SCAN_OK) {
      skel = gi_scanner_skeleton(job->scanner, &len);
      if (gi_json_decode(L, skel, len)) {
        if (push_api_error(L, job, lua_gettop(L))) {
          lua_remove(L, -2);
          gi_result_fail(L, job_idx, job);
          return;
        }
      }
      lua_pop(L, 1);
    }
    push_http_error(L, job);
    gi_result_fail(L, job_idx, job);
    return;
  }
  /* 2xx */
  if (job->kind == JOB_RAW) {
    gi_raw_finish(L, job_idx, job);
    return;
  }
  if (job->sse_mode) {
    gi_sse_finish(&job->sse);
    if (job->fail_kind) {
      gi_result_fail_kind(L, job_idx, job, job->fail_kind, job->fail_msg);
      return;
    }
    if (job->final_meta == NULL) {
      if (job->error_event && gi_json_decode(L, job->error_event, strlen(job->error_event))) {
        if (push_api_error(L, job, lua_gettop(L))) {
          lua_remove(L, -2);
          gi_result_fail(L, job_idx, job);
          return;
        }
        lua_pop(L, 1);
      }
      gi_result_fail_kind(L, job_idx, job, "decode", "the event stream ended before the image was complete");
      return;
    }
    if (!gi_json_decode(L, job->final_meta, strlen(job->final_meta))) {
      lua_pushfstring(L, "bad completed event: %s", lua_tostring(L, -1));
      gi_result_fail_kind(L, job_idx, job, "decode", lua_tostring(L, -1));
      lua_pop(L, 2);
      return;
    }
    gi_result_succeed(L, job_idx, job, lua_gettop(L));
    lua_pop(L, 1);
    return;
  }
  {
    size_t len;
    const char *skel;
    int sr = gi_scanner_finish(job->scanner);
    if (sr != GI_SCAN_OK) {
      lua_pushfstring(L, "%s: %s", sr == GI_SCAN_ETRUNCATED ? "truncated response" : "bad response",
                      gi_scanner_message(job->scanner));
      gi_result_fail_kind(L, job_idx, job, "decode", lua_tostring(L, -1));
      lua_pop(L, 1);
      return;
    }
    skel = gi_scanner_skeleton(job->scanner, &len);
    if (!gi_json_decode(L, skel, len) || !lua_istable(L, -1)) {
      lua_pushfstring(L, "bad response: %s", lua_isstring(L, -1) ? lua_tostring(L, -1) : "not an object");
      gi_result_fail_kind(L, job_idx, job, "decode", lua_tostring(L, -1));
      lua_pop(L, 2);
      return;
    }
    if (push_api_error(L, job, lua_gettop(L))) {
      lua_remove(L, -2);
      gi_result_fail(L, job_idx, job);
      return;
    }
    if (job->req.url_response && job->save) {
      int doc = lua_gettop(L), i, count;
      lua_newtable(L);
      lua_getfield(L, doc, "data");
      count = lua_istable(L, -1) ? (int)lua_rawlen(L, -1) : 0;
      for (i = 1; i <= count; i++) {
        lua_rawgeti(L, -1, i);
        if (lua_istable(L, -1)) lua_getfield(L, -1, "url");
        else lua_pushnil(L);
        lua_rawseti(L, doc + 1, i);
        lua_pop(L, 1);
      }
      lua_pop(L, 1);
      gi_uv_set(L, job_idx, "urls");
      lua_pushvalue(L, doc);
      gi_uv_set(L, job_idx, "doc");
      lua_pop(L, 1);
      job->downloading = 1;
      job->download_index = 0;
      gi_download_next(L, job_idx, job);
      return;
    }
    gi_result_succeed(L, job_idx, job, lua_gettop(L));
    lua_pop(L, 1);
  }
}

void gi_job_transfer_done(lua_State *L, int client_idx, gi_job *job, CURLcode rc) {
  int top = lua_gettop(L);
  luaL_checkstack(L, 40, "gptimage");
  if (!gi_job_push(L, client_idx, job)) {
    /* not anchored: nothing in Lua can see it any more */
    lua_settop(L, top);
    gi_transfer_detach(job);
    return;
  }
  transfer_done_at(L, lua_gettop(L), job, rc);
  lua_settop(L, top);
}

