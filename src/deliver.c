/* deliver: the callbacks of finished jobs (see deliver.h). */
#include <stdlib.h>
#include "job.h"
#include "deliver.h"
#include "batch.h"
#include "json.h"
#include "errors.h"
#include "buffer.h"

/* the partial's table; with buffer = true its bytes move into a Buffer */
static void push_partial_image(lua_State *L, gi_job *job, partial *p) {
  int t;
  lua_newtable(L);
  t = lua_gettop(L);
  if (gi_json_decode(L, p->meta, p->meta_len) && lua_istable(L, -1)) {
    int m = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, m)) {
      if (lua_type(L, -1) == LUA_TLIGHTUSERDATA) {
        lua_pop(L, 1);
        continue;
      }
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_settable(L, t);
    }
  }
  lua_pop(L, 1);
  if (job->as_buffer) {
    gi_buffer *b = gi_buffer_new(L);
    b->bytes = p->bytes;
    b->len = p->bytes ? p->len : 0;
    p->bytes = NULL;
    lua_setfield(L, t, "buffer");
  } else {
    lua_pushlstring(L, p->bytes ? p->bytes : "", p->len);
    lua_setfield(L, t, "bytes");
  }
  lua_pushnil(L);
  lua_setfield(L, t, "b64_json");
  if (job->client) {
    /* what the server sent may echo the key */
    gi_redact_value(L, t, job->client->api_key);
    lua_replace(L, t);
  }
}

/* calls f(args...) under pcall; on error keeps the first error in slot err_slot */
void gi_deliver_pcall(lua_State *L, int nargs, int err_slot, int *failed) {
  if (lua_pcall(L, nargs, 0, 0) != 0) {
    if (!*failed) {
      lua_replace(L, err_slot);
      *failed = 1;
    } else {
      lua_pop(L, 1);
    }
  }
}

static void deliver_one(lua_State *L, int client_idx, gi_job *job, int err_slot, int *failed) {
  int job_idx;
  if (!gi_job_push(L, client_idx, job)) {
    lua_pop(L, 1);
    return;
  }
  job_idx = lua_gettop(L);
  while (job->partials) {
    partial *p = job->partials;
    job->partials = p->next;
    if (job->partials == NULL) job->partials_tail = NULL;
    gi_uv_get(L, job_idx, "on_partial");
    if (lua_isfunction(L, -1)) {
      lua_Integer index = 0;
      push_partial_image(L, job, p);
      lua_getfield(L, -1, "partial_image_index");
      index = lua_isnumber(L, -1) ? lua_tointeger(L, -1) : 0;
      lua_pop(L, 1);
      lua_pushinteger(L, index);
      gi_deliver_pcall(L, 2, err_slot, failed);
    } else {
      lua_pop(L, 1);
    }
    free(p->bytes);
    free(p->meta);
    free(p);
  }
  if (job->state == ST_DONE && !job->delivered) {
    job->delivered = 1;
    gi_job_unlink(job);
    gi_job_unanchor(L, client_idx, job);
    if (job->parent) gi_batch_child_done(L, client_idx, job_idx, job, err_slot, failed);
    gi_uv_get(L, job_idx, "on_done");
    if (lua_isfunction(L, -1)) {
      gi_uv_get(L, job_idx, "res");
      gi_uv_get(L, job_idx, "err");
      gi_deliver_pcall(L, 2, err_slot, failed);
    } else {
      lua_pop(L, 1);
    }
  }
  lua_settop(L, job_idx - 1);
}

static int needs_delivery(gi_job *job) {
  return job->partials != NULL || (job->state == ST_DONE && !job->delivered);
}

int gi_job_deliver(lua_State *L, int client_idx) {
  gi_client *c = (gi_client *)lua_touserdata(L, client_idx);
  int err_slot, failed = 0;
  client_idx = lua_absindex(L, client_idx);
  lua_pushnil(L);
  err_slot = lua_gettop(L);
  /* The queue holds each job with something to hand over once, in the
   * order it became so.  A delivery can queue more (a batch finishing, a
   * callback cancelling, a nested poll): they join the end and are run by
   * this same loop, so the work is linear in what is delivered.  A job is
   * taken off before its callbacks run, so a nested delivery never runs
   * them twice. */
  while (c->ready_head && !c->closed) {
    gi_job *job = c->ready_head;
    c->ready_head = job->ready_next;
    if (c->ready_head == NULL) c->ready_tail = NULL;
    job->ready_next = NULL;
    job->queued = 0;
    if (needs_delivery(job)) deliver_one(L, client_idx, job, err_slot, &failed);
  }
  if (failed) {
    lua_pushvalue(L, err_slot);
    lua_remove(L, err_slot);
    return 1;
  }
  lua_pop(L, 1);
  return 0;
}

