/* batch: many image jobs as one (see batch.h). */
#include <string.h>
#include "batch.h"
#include "deliver.h"
#include "errors.h"

static void push_entry_op(lua_State *L, int entry) {
  lua_getfield(L, entry, "op");
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_pushliteral(L, "generate");
  }
}

/* Validates a batch entry without starting it (a throwaway easy handle). */
typedef struct probe {
  CURL *easy;
  gi_request req;
} probe;

static int probe_gc(lua_State *L) {
  probe *p = (probe *)lua_touserdata(L, 1);
  gi_request_free(&p->req);
  if (p->easy) curl_easy_cleanup(p->easy);
  p->easy = NULL;
  return 0;
}

static void validate_entry(lua_State *L, int client_idx, int entry, int index) {
  gi_client *c = gi_client_check(L, client_idx);
  probe *p;
  gi_op op;
  int top = lua_gettop(L);
  if (!lua_istable(L, entry)) luaL_error(L, "batch entry %d must be a table", index);
  push_entry_op(L, entry);
  op = gi_request_checkop(L, -1);
  p = (probe *)lua_newuserdata(L, sizeof *p);
  memset(p, 0, sizeof *p);
  lua_newtable(L); /* metatable with __gc, so a raise frees it */
  lua_pushcfunction(L, probe_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  p->easy = curl_easy_init();
  if (p->easy == NULL) luaL_error(L, "gptimage: curl_easy_init failed");
  lua_newtable(L);
  gi_request_build(L, entry, op, c->model, p->easy, lua_gettop(L), &p->req);
  gi_request_free(&p->req);
  memset(&p->req, 0, sizeof p->req);
  curl_easy_cleanup(p->easy);
  p->easy = NULL;
  lua_settop(L, top);
}

static int start_batch_child(lua_State *L, int client_idx, int parent_idx, gi_job *parent, int index);

static int start_child_protected(lua_State *L) {
  int client_idx = 1, entry = 2;
  gi_op op;
  const char *opname;
  push_entry_op(L, entry);
  opname = lua_tostring(L, -1);
  op = gi_request_checkop(L, -1);
  gi_job_start_image(L, client_idx, op, opname, entry);
  return 1;
}

void gi_batch_finish_if_done(lua_State *L, int parent_idx, gi_job *parent) {
  if (parent->batch_done < parent->batch_total || parent->state == ST_DONE) return;
  gi_uv_get(L, parent_idx, "results");
  lua_pushnil(L);
  gi_job_store_result(L, parent_idx, parent);
}

static int start_batch_child(lua_State *L, int client_idx, int parent_idx, gi_job *parent, int index) {
  gi_job *child;
  int list_entry;
  gi_uv_get(L, parent_idx, "list");
  lua_rawgeti(L, -1, index);
  list_entry = lua_gettop(L);
  lua_pushcfunction(L, start_child_protected);
  lua_pushvalue(L, client_idx);
  lua_pushvalue(L, list_entry);
  if (lua_pcall(L, 2, 1, 0) != 0) {
    /* entries were validated up front; this is the world failing (memory) */
    gi_error e;
    memset(&e, 0, sizeof e);
    e.kind = "io";
    e.message = lua_tostring(L, -1);
    e.retry_after = -1;
    gi_uv_get(L, parent_idx, "results");
    lua_createtable(L, 0, 1);
    gi_error_push(L, &e, NULL);
    lua_setfield(L, -2, "err");
    lua_rawseti(L, -2, index);
    lua_pop(L, 4);
    parent->batch_done++;
    return -1;
  }
  child = (gi_job *)lua_touserdata(L, -1);
  child->parent = parent;
  child->batch_index = index;
  lua_pushvalue(L, parent_idx);
  gi_uv_set(L, -2, "parent");
  parent->batch_running++;
  lua_pop(L, 3);
  return 0;
}

static void batch_fill(lua_State *L, int client_idx, int parent_idx, gi_job *parent) {
  while (parent->state != ST_DONE && parent->batch_running < parent->concurrency &&
         parent->batch_next <= parent->batch_total) {
    int index = parent->batch_next++;
    start_batch_child(L, client_idx, parent_idx, parent, index);
  }
  gi_batch_finish_if_done(L, parent_idx, parent);
}

void gi_batch_child_done(lua_State *L, int client_idx, int child_idx, gi_job *child,
                             int err_slot, int *failed) {
  gi_job *parent = child->parent;
  int parent_idx;
  gi_uv_get(L, child_idx, "parent");
  parent_idx = lua_gettop(L);
  if (lua_isnil(L, parent_idx) || parent->state == ST_DONE) {
    lua_pop(L, 1);
    return;
  }
  parent->batch_running--;
  parent->batch_done++;
  gi_uv_get(L, parent_idx, "results");
  lua_createtable(L, 0, 2);
  gi_uv_get(L, child_idx, "res");
  lua_setfield(L, -2, "res");
  gi_uv_get(L, child_idx, "err");
  lua_setfield(L, -2, "err");
  lua_rawseti(L, -2, child->batch_index);
  lua_pop(L, 1);
  gi_uv_get(L, parent_idx, "on_progress");
  if (lua_isfunction(L, -1)) {
    lua_pushinteger(L, parent->batch_done);
    lua_pushinteger(L, parent->batch_total);
    lua_pushinteger(L, child->batch_index);
    gi_uv_get(L, child_idx, "res");
    gi_uv_get(L, child_idx, "err");
    gi_deliver_pcall(L, 5, err_slot, failed);
  } else {
    lua_pop(L, 1);
  }
  if (!parent->client || parent->client->closed) {
    lua_pop(L, 1);
    return;
  }
  batch_fill(L, client_idx, parent_idx, parent);
  lua_pop(L, 1);
}

/* client:start("batch", list, opts) */
int gi_batch_start(lua_State *L, int client_idx, int list, int opts) {
  gi_client *c = gi_client_check(L, client_idx);
  gi_job *job;
  int job_idx, i, n, conc = 4;
  luaL_checktype(L, list, LUA_TTABLE);
  n = (int)lua_rawlen(L, list);
  if (!lua_isnoneornil(L, opts)) {
    luaL_checktype(L, opts, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, opts)) {
      const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
      if (strcmp(k, "concurrency") != 0 && strcmp(k, "on_progress") != 0 && strcmp(k, "on_done") != 0)
        luaL_error(L, "batch: unknown option '%s' (concurrency, on_progress, on_done)", k);
      lua_pop(L, 1);
    }
    lua_getfield(L, opts, "concurrency");
    if (!lua_isnil(L, -1)) {
      if (!gi_isinteger(L, -1) || lua_tointeger(L, -1) < 1)
        luaL_error(L, "batch: 'concurrency' must be a positive integer");
      conc = (int)lua_tointeger(L, -1);
    }
    lua_pop(L, 1);
  }
  for (i = 1; i <= n; i++) {
    lua_rawgeti(L, list, i);
    validate_entry(L, client_idx, lua_gettop(L), i);
    lua_pop(L, 1);
  }
  job = gi_job_new(L, client_idx, c, JOB_BATCH, "batch");
  job_idx = lua_gettop(L);
  job->batch_total = n;
  job->batch_next = 1;
  job->concurrency = conc;
  lua_pushvalue(L, list);
  gi_uv_set(L, job_idx, "list");
  lua_createtable(L, n, 0);
  gi_uv_set(L, job_idx, "results");
  if (!lua_isnoneornil(L, opts)) {
    lua_getfield(L, opts, "on_progress");
    if (!lua_isnil(L, -1) && !lua_isfunction(L, -1)) luaL_error(L, "batch: 'on_progress' must be a function");
    gi_uv_set(L, job_idx, "on_progress");
    lua_getfield(L, opts, "on_done");
    if (!lua_isnil(L, -1) && !lua_isfunction(L, -1)) luaL_error(L, "batch: 'on_done' must be a function");
    gi_uv_set(L, job_idx, "on_done");
  }
  gi_job_link(c, job);
  gi_job_anchor(L, client_idx, job_idx, job);
  batch_fill(L, client_idx, job_idx, job);
  lua_settop(L, job_idx);
  return 1;
}

