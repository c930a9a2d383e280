/* job: a job's lifecycle and its Lua methods (see job.h, job_internal.h).
 *
 * Makes the gptimage.Job userdata and its uservalue, links it into the
 * client's list, starts image jobs, and implements done, result,
 * cancel, status, progress (job:wait blocks, so it is above the drive, in
 * wait.c).  The transfer itself is in transfer.c, its outcome in result.c,
 * retries in retry.c, url downloads in download.c, raw requests in raw.c,
 * batches in batch.c and the callbacks in deliver.c. */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/stat.h>
#include "job.h"
#include "job_internal.h"
#include "transfer.h"
#include "result.h"
#include "retry.h"
#include "raw.h"
#include "batch.h"
#include "errors.h"
#include "savepath.h"
#include "b64sink.h"

void gi_job_release_transfer(gi_job *job) {
  if (job->easy) {
    gi_transfer_detach(job);
    curl_easy_cleanup(job->easy);
    job->easy = NULL;
  }
  gi_request_free(&job->req);
  curl_slist_free_all(job->headers);
  job->headers = NULL;
  if (job->scanner) {
    gi_scanner_free(job->scanner);
    job->scanner = NULL;
  }
}

static void free_job(gi_job *job) {
  gi_transfer_free_partials(job);
  gi_transfer_reset(job);
  gi_job_release_transfer(job);
  free(job->images);
  job->images = NULL;
  job->capimages = 0;
  free(job->save);
  job->save = NULL;
}

/* takes a job out of the ready queue (a job collected or delivered while
 * queued: rare, so a walk is fine) */
static void gi_job_unqueue(gi_client *c, gi_job *job) {
  gi_job **p = &c->ready_head, *prev = NULL;
  while (*p && *p != job) {
    prev = *p;
    p = &(*p)->ready_next;
  }
  if (*p) {
    *p = job->ready_next;
    if (c->ready_tail == job) c->ready_tail = prev;
  }
  job->queued = 0;
  job->ready_next = NULL;
}

/* takes a job out of the client's list of paused transfers */
static void unqueue_paused(gi_client *c, gi_job *job) {
  if (!job->in_paused) return;
  if (job->paused_prev) job->paused_prev->paused_next = job->paused_next;
  else c->paused_head = job->paused_next;
  if (job->paused_next) job->paused_next->paused_prev = job->paused_prev;
  else c->paused_tail = job->paused_prev;
  job->paused_prev = job->paused_next = NULL;
  job->in_paused = 0;
}

void gi_job_unlink(gi_job *job) {
  gi_client *c = job->client;
  if (c == NULL || !job->linked) return;
  if (job->prev) job->prev->next = job->next;
  else c->jobs = job->next;
  if (job->next) job->next->prev = job->prev;
  else c->jobs_tail = job->prev;
  job->next = job->prev = NULL;
  job->linked = 0;
  c->pending--;
  if (job->queued) gi_job_unqueue(c, job);
  unqueue_paused(c, job);
  gi_retry_forget(job);
}

/* Lua side: userdata, uservalue */

static gi_job *check_job(lua_State *L, int idx) {
  return (gi_job *)luaL_checkudata(L, idx, GI_JOB_MT);
}

/* pushes uservalue[field] of the userdata at idx */
void gi_uv_get(lua_State *L, int idx, const char *field) {
  idx = lua_absindex(L, idx);
  gi_getuservalue(L, idx);
  if (lua_istable(L, -1)) {
    lua_getfield(L, -1, field);
    lua_remove(L, -2);
  } else {
    lua_pop(L, 1);
    lua_pushnil(L);
  }
}

/* uservalue[field] = value on top (popped) */
void gi_uv_set(lua_State *L, int idx, const char *field) {
  idx = lua_absindex(L, idx);
  gi_getuservalue(L, idx);
  lua_insert(L, -2);
  lua_setfield(L, -2, field);
  lua_pop(L, 1);
}

void gi_job_push_client(lua_State *L, int job_idx) {
  gi_uv_get(L, job_idx, "client");
}

/* pushes the client's jobs table; client userdata at client_idx */
static void push_jobs_table(lua_State *L, int client_idx) {
  gi_uv_get(L, client_idx, "jobs");
}

void gi_job_anchor(lua_State *L, int client_idx, int job_idx, gi_job *job) {
  job_idx = lua_absindex(L, job_idx);
  push_jobs_table(L, client_idx);
  lua_pushlightuserdata(L, job);
  lua_pushvalue(L, job_idx);
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

void gi_job_unanchor(lua_State *L, int client_idx, gi_job *job) {
  push_jobs_table(L, client_idx);
  if (lua_istable(L, -1)) {
    lua_pushlightuserdata(L, job);
    lua_pushnil(L);
    lua_rawset(L, -3);
  }
  lua_pop(L, 1);
}

/* pushes the userdata of job (anchored in the client's jobs table) */
int gi_job_push(lua_State *L, int client_idx, gi_job *job) {
  push_jobs_table(L, client_idx);
  lua_pushlightuserdata(L, job);
  lua_rawget(L, -2);
  lua_remove(L, -2);
  if (lua_isnil(L, -1)) return 0;
  return 1;
}

/* stores res, err (res at -2, err at -1; popped) and ends the job */
void gi_job_store_result(lua_State *L, int job_idx, gi_job *job) {
  job_idx = lua_absindex(L, job_idx);
  gi_uv_set(L, job_idx, "err");
  gi_uv_set(L, job_idx, "res");
  gi_retry_forget(job);
  job->state = ST_DONE;
  gi_job_queue_ready(job);
}

static int api_options(lua_State *L, gi_job *job, gi_client *c) {
  CURL *e = job->easy;
  CURLcode rc = CURLE_OK;
  struct curl_slist *h;
  if (c->azure_endpoint) {
    lua_pushfstring(L, "%s/openai/deployments/%s/%s?api-version=%s", c->azure_endpoint,
                    c->azure_deployment, job->req.endpoint, c->azure_api_version);
  } else {
    lua_pushfstring(L, "%s/%s", c->base_url, job->req.endpoint);
  }
  rc |= curl_easy_setopt(e, CURLOPT_URL, lua_tostring(L, -1)); /* curl copies it */
  lua_pop(L, 1);
  for (h = c->headers; h; h = h->next) {
    struct curl_slist *next = curl_slist_append(job->headers, h->data);
    if (next == NULL) return -1;
    job->headers = next;
  }
  if (job->req.json) {
    struct curl_slist *next = curl_slist_append(job->headers, "Content-Type: application/json");
    if (next == NULL) return -1;
    job->headers = next;
    rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)job->req.json_len);
    rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, job->req.json);
  } else if (job->req.mime) {
    rc |= curl_easy_setopt(e, CURLOPT_MIMEPOST, job->req.mime);
  }
  rc |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, job->headers);
  /* the API never redirects; following one would carry the key elsewhere */
  rc |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  return rc == CURLE_OK ? 0 : -1;
}

/* starting jobs */

gi_job *gi_job_new(lua_State *L, int client_idx, gi_client *c, job_kind kind, const char *op) {
  gi_job *job = (gi_job *)gi_newuserdata(L, sizeof *job);
  memset(job, 0, sizeof *job);
  job->kind = kind;
  job->state = ST_RUNNING;
  job->retry_after = -1;
  job->should_retry = -1;
  job->expected = -1;
  job->client = c;
  job->timeout = c->timeout;
  job->max_retries = c->max_retries;
  snprintf(job->op, sizeof job->op, "%s", op);
  luaL_getmetatable(L, GI_JOB_MT);
  lua_setmetatable(L, -2);
  lua_createtable(L, 0, 8);
  lua_pushvalue(L, client_idx);
  lua_setfield(L, -2, "client");
  gi_setuservalue(L, -2);
  return job;
}

void gi_job_link(gi_client *c, gi_job *job) {
  if (job->linked) return;
  job->prev = c->jobs_tail;
  job->next = NULL;
  if (c->jobs_tail) c->jobs_tail->next = job;
  else c->jobs = job;
  c->jobs_tail = job;
  job->linked = 1;
  c->pending++;
}

void gi_job_read_local_options(lua_State *L, int opts, int job_idx, gi_job *job) {
  lua_getfield(L, opts, "save");
  if (lua_type(L, -1) == LUA_TSTRING) {
    const char *s = lua_tostring(L, -1);
    if (s[0] == '\0') luaL_error(L, "option 'save' must not be empty");
    job->save = strdup(s);
    if (job->save == NULL) luaL_error(L, "gptimage: out of memory");
  } else if (!lua_isnil(L, -1)) {
    luaL_error(L, "option 'save' must be a string, got %s", luaL_typename(L, -1));
  }
  lua_pop(L, 1);
  lua_getfield(L, opts, "timeout");
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TNUMBER || !(lua_tonumber(L, -1) > 0))
      luaL_error(L, "option 'timeout' must be a positive number of seconds");
    job->timeout = lua_tonumber(L, -1);
    if (job->timeout > 365.0 * 24 * 3600) job->timeout = 365.0 * 24 * 3600;
  }
  lua_pop(L, 1);
  lua_getfield(L, opts, "max_retries");
  if (!lua_isnil(L, -1)) {
    if (!gi_isinteger(L, -1) || lua_tointeger(L, -1) < 0)
      luaL_error(L, "option 'max_retries' must be an integer >= 0");
    job->max_retries = (long)lua_tointeger(L, -1);
  }
  lua_pop(L, 1);
  lua_getfield(L, opts, "on_done");
  if (!lua_isnil(L, -1) && !lua_isfunction(L, -1)) luaL_error(L, "option 'on_done' must be a function");
  gi_uv_set(L, job_idx, "on_done");
  lua_getfield(L, opts, "on_partial");
  if (!lua_isnil(L, -1) && !lua_isfunction(L, -1)) luaL_error(L, "option 'on_partial' must be a function");
  gi_uv_set(L, job_idx, "on_partial");
  lua_getfield(L, opts, "buffer");
  job->as_buffer = lua_toboolean(L, -1);
  lua_pop(L, 1);
}

void gi_job_launch(lua_State *L, int client_idx, int job_idx, gi_client *c, gi_job *job) {
  job->attempt = 1;
  gi_retry_reserve(L, c);
  gi_job_link(c, job);
  if (gi_transfer_attach(job) != 0) {
    gi_job_unlink(job);
    luaL_error(L, "gptimage: curl_multi_add_handle failed");
  }
  gi_job_anchor(L, client_idx, job_idx, job);
}

/* Every file the call will write, tried before the request is sent: its
 * folder made, its temporary file created (with the real temporary name,
 * so a name too long for it shows) and removed, and a target that is a
 * folder found. 0, or -1 with why in msg. */
static int probe_save_paths(gi_job *job, char *msg, size_t msglen) {
  unsigned i, n = job->req.n > 0 ? (unsigned)job->req.n : 1;
  for (i = 1; i <= n; i++) {
    char path[4096], err[300];
    struct stat st;
    gi_sink *s;
    if (gi_savepath(job->save, i, n, gi_savepath_ext(job->req.output_format), path, sizeof path) != 0) {
      snprintf(msg, msglen, "%s", "save path too long");
      return -1;
    }
    if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
      snprintf(msg, msglen, "cannot save image %u: '%.200s' is a folder", i, path);
      return -1;
    }
    s = gi_sink_new_file(path, 0, err, sizeof err);
    if (s == NULL) {
      snprintf(msg, msglen, "cannot save image %u: %s", i, err);
      return -1;
    }
    gi_sink_free(s); /* removes the probe */
  }
  return 0;
}

gi_job *gi_job_start_image(lua_State *L, int client_idx, gi_op op, const char *opname, int opts_idx) {
  gi_client *c = gi_client_check(L, client_idx);
  gi_job *job;
  int job_idx, keep;
  client_idx = lua_absindex(L, client_idx);
  opts_idx = lua_absindex(L, opts_idx);
  luaL_checktype(L, opts_idx, LUA_TTABLE);
  job = gi_job_new(L, client_idx, c, JOB_IMAGE, opname);
  job_idx = lua_gettop(L);
  lua_pushvalue(L, opts_idx);
  gi_uv_set(L, job_idx, "opts");
  lua_newtable(L);
  keep = lua_gettop(L);
  lua_pushvalue(L, keep);
  gi_uv_set(L, job_idx, "keep");
  job->easy = curl_easy_init();
  if (job->easy == NULL) luaL_error(L, "gptimage: curl_easy_init failed");
  gi_request_build(L, opts_idx, op, c->model, job->easy, keep, &job->req);
  lua_settop(L, job_idx);
  gi_job_read_local_options(L, opts_idx, job_idx, job);
  if (job->req.n < 1) job->req.n = 1;
  job->scanner = gi_transfer_new_scanner(job);
  if (job->scanner == NULL) luaL_error(L, "gptimage: out of memory");
  if (gi_transfer_setup(job, c) != 0 || api_options(L, job, c) != 0)
    luaL_error(L, "gptimage: cannot set up the request (curl_easy_setopt failed)");
  {
    char problem[512];
    int unsaveable = job->save && probe_save_paths(job, problem, sizeof problem) != 0;
    gi_job_launch(L, client_idx, job_idx, c, job);
    /* ends before any byte is sent: nothing is paid for an image that
     * could not be saved */
    if (unsaveable) gi_result_fail_kind(L, job_idx, job, "io", problem);
  }
  return job;
}

/* job methods */

int gi_job_push_result(lua_State *L, int job_idx) {
  gi_job *job = (gi_job *)lua_touserdata(L, job_idx);
  job_idx = lua_absindex(L, job_idx);
  if (job->state != ST_DONE) return 0;
  gi_uv_get(L, job_idx, "res");
  gi_uv_get(L, job_idx, "err");
  if (lua_isnil(L, -2) && lua_isnil(L, -1) && job->cancelled) {
    gi_error e;
    lua_pop(L, 1);
    memset(&e, 0, sizeof e);
    e.kind = "cancelled";
    e.message = "the job was cancelled";
    e.retry_after = -1;
    gi_error_push(L, &e, NULL);
  }
  return 2;
}

static int job_done(lua_State *L) {
  gi_job *job = check_job(L, 1);
  lua_pushboolean(L, job->state == ST_DONE);
  return 1;
}

static int job_result(lua_State *L) {
  check_job(L, 1);
  return gi_job_push_result(L, 1);
}

int gi_job_settled(gi_job *job) {
  return (job->state == ST_DONE && job->delivered) || job->client == NULL || job->client->closed;
}

static void cancel_job(lua_State *L, int job_idx, gi_job *job);

static void cancel_children(lua_State *L, int parent_idx, gi_job *parent) {
  gi_job *j;
  gi_client *c = parent->client;
  int client_idx;
  if (c == NULL) return;
  gi_job_push_client(L, parent_idx);
  client_idx = lua_gettop(L);
  for (j = c->jobs; j; j = j->next) {
    if (j->parent != parent || j->state == ST_DONE) continue;
    if (gi_job_push(L, client_idx, j)) cancel_job(L, lua_gettop(L), j);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  /* entries never started count as cancelled too */
  gi_uv_get(L, parent_idx, "results");
  while (parent->batch_next <= parent->batch_total) {
    gi_error e;
    memset(&e, 0, sizeof e);
    e.kind = "cancelled";
    e.message = "the batch was cancelled";
    e.retry_after = -1;
    lua_createtable(L, 0, 1);
    gi_error_push(L, &e, NULL);
    lua_setfield(L, -2, "err");
    lua_rawseti(L, -2, parent->batch_next++);
    parent->batch_done++;
  }
  lua_pop(L, 1);
}

static void cancel_job(lua_State *L, int job_idx, gi_job *job) {
  gi_error e;
  job_idx = lua_absindex(L, job_idx);
  if (job->state == ST_DONE) return;
  if (job->kind == JOB_BATCH) {
    cancel_children(L, job_idx, job);
    /* children report to the batch as they are delivered */
    job->cancelled = 1;
    return;
  }
  gi_transfer_abort_images(job);
  gi_transfer_free_partials(job);
  gi_transfer_reset(job);
  gi_job_release_transfer(job);
  job->cancelled = 1;
  memset(&e, 0, sizeof e);
  e.kind = "cancelled";
  e.message = "the job was cancelled";
  e.retry_after = -1;
  lua_pushnil(L);
  gi_error_push(L, &e, NULL);
  gi_job_store_result(L, job_idx, job);
}

static int job_cancel(lua_State *L) {
  gi_job *job = check_job(L, 1);
  int client_idx;
  if (job->state == ST_DONE && job->kind == JOB_IMAGE) {
    lua_pushboolean(L, 0);
    return 1;
  }
  if (job->client == NULL || job->client->closed) {
    lua_pushboolean(L, 0);
    return 1;
  }
  cancel_job(L, 1, job);
  gi_job_push_client(L, 1);
  client_idx = lua_gettop(L);
  /* on_done callbacks (and a batch's bookkeeping) run now, not at some
   * later poll that may never come */
  if (gi_job_deliver(L, client_idx)) lua_error(L);
  if (job->kind == JOB_BATCH && job->state != ST_DONE) {
    job->batch_done = job->batch_total;
    gi_batch_finish_if_done(L, 1, job);
    if (gi_job_deliver(L, client_idx)) lua_error(L);
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* job:progress() -> body bytes received by the current attempt, and the
 * Content-Length of that body (nil when not known yet or not given) */
static int job_progress(lua_State *L) {
  gi_job *job = check_job(L, 1);
  lua_pushinteger(L, (lua_Integer)job->received);
  if (job->expected >= 0) lua_pushinteger(L, (lua_Integer)job->expected);
  else lua_pushnil(L);
  return 2;
}

static int job_status(lua_State *L) {
  gi_job *job = check_job(L, 1);
  const char *s = job->state == ST_RUNNING ? "running"
                  : job->state == ST_RETRY_WAIT ? "retrying"
                  : job->cancelled ? "cancelled" : "done";
  lua_pushstring(L, s);
  return 1;
}

static int job_tostring(lua_State *L) {
  gi_job *job = check_job(L, 1);
  lua_pushfstring(L, "gptimage.Job (%s, %s)", job->op,
                  job->state == ST_DONE ? (job->cancelled ? "cancelled" : "done") : "running");
  return 1;
}

void gi_job_abandon(lua_State *L, int job_idx) {
  gi_job *job = (gi_job *)lua_touserdata(L, job_idx);
  if (job->state != ST_DONE && job->client && !job->client->closed) {
    lua_pushvalue(L, job_idx);
    cancel_job(L, lua_gettop(L), job);
    lua_pop(L, 1);
  }
}

static int job_gc(lua_State *L) {
  gi_job *job = check_job(L, 1);
  if (job->client && !job->client->closed) gi_job_unlink(job);
  free_job(job);
  job->client = NULL;
  return 0;
}

void gi_job_cancel_all(lua_State *L, gi_client *c) {
  (void)L;
  gi_job *job = c->jobs;
  while (job) {
    gi_job *next = job->next;
    gi_transfer_abort_images(job);
    gi_transfer_free_partials(job);
    gi_transfer_reset(job);
    gi_job_release_transfer(job);
    if (job->state != ST_DONE) job->cancelled = 1;
    job->state = ST_DONE;
    job->delivered = 1;
    job->client = NULL;
    job->next = job->prev = NULL;
    job->linked = 0;
    job->ready_next = NULL;
    job->queued = 0;
    job->paused_prev = job->paused_next = NULL;
    job->in_paused = 0;
    job->running_prev = job->running_next = NULL;
    job->retry_slot = 0;
    job = next;
  }
  c->jobs = c->jobs_tail = NULL;
  c->pending = 0;
  c->ready_head = c->ready_tail = NULL;
  c->paused_head = c->paused_tail = NULL;
  c->running_head = c->running_tail = NULL;
  free(c->retry_heap);
  c->retry_heap = NULL;
  c->retry_count = c->retry_cap = 0;
}

static const luaL_Reg JOB_METHODS[] = {
  {"done", job_done},
  {"result", job_result},
  {"cancel", job_cancel},
  {"status", job_status},
  {"progress", job_progress},
  {NULL, NULL}
};

void gi_job_open(lua_State *L) {
  if (luaL_newmetatable(L, GI_JOB_MT)) {
    lua_newtable(L);
    luaL_setfuncs(L, JOB_METHODS, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, job_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, job_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, GI_JOB_MT);
    lua_setfield(L, -2, "__name");
  }
  lua_pop(L, 1);
}

int gi_job_pending(gi_client *c) {
  return (int)c->pending;
}

gi_job *gi_job_next_paused(gi_client *c, gi_job *after) {
  gi_job *job = after ? after->paused_next : c->paused_head;
  while (job && (!job->paused || job->easy == NULL || !job->in_multi)) {
    gi_job *next = job->paused_next;
    /* no longer paused: the entry is stale.  One paused but out of the
     * multi handle (a download that timed out while paused, waiting to
     * retry) stays: it is resumed once it is back in. */
    if (!job->paused) unqueue_paused(c, job);
    job = next;
  }
  return job;
}

int gi_job_paused_with_data(gi_job *job) {
  return job->paused == GI_PAUSED_DATA;
}

void gi_job_hold_running(gi_client *c) {
  gi_transfer_hold_running(c);
}

void gi_job_nudge_running(gi_client *c) {
  gi_job *job;
  for (job = c->running_head; job; job = job->running_next) gi_transfer_nudge(job);
}

void gi_job_resume(lua_State *L, int client_idx, gi_job *job) {
  CURLcode rc;
  unqueue_paused(job->client, job); /* a new pause queues it again */
  rc = gi_transfer_resume(job);
  /* the held-back data failed (the body callback kept the cause): the
   * transfer ends now rather than waiting for data that may never come */
  if (rc != CURLE_OK) gi_job_transfer_done(L, client_idx, job, rc);
}
