/* wait: job:wait and the blocking calls (see wait.h). */
#include <string.h>
#include "wait.h"
#include "drive.h"
#include "job.h"
#include "request.h"
#include "errors.h"

/* Waits for the job at job_idx; returns the number of results pushed. */
static int wait_job(lua_State *L, int job_idx, gi_job *job, double seconds) {
  double deadline = seconds >= 0 ? gi_now() + seconds : -1;
  int client_idx;
  if (gi_job_settled(job)) return gi_job_push_result(L, job_idx);
  gi_job_push_client(L, job_idx);
  client_idx = lua_gettop(L);
  for (;;) {
    double left = -1;
    gi_drive_round(L, client_idx, -1);
    if (gi_job_settled(job)) break;
    if (deadline >= 0) {
      left = deadline - gi_now();
      if (left <= 0) {
        gi_error e;
        memset(&e, 0, sizeof e);
        e.kind = "timeout";
        e.message = "the job is still running (wait timed out)";
        e.retry_after = -1;
        lua_pushnil(L);
        gi_error_push(L, &e, NULL);
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "pending");
        return 2;
      }
    }
    gi_drive_sleep((gi_client *)lua_touserdata(L, client_idx), left);
  }
  lua_pop(L, 1);
  return gi_job_push_result(L, job_idx);
}

static int job_wait(lua_State *L) {
  gi_job *job = (gi_job *)luaL_checkudata(L, 1, GI_JOB_MT);
  double seconds = -1;
  if (!lua_isnoneornil(L, 2)) {
    seconds = luaL_checknumber(L, 2);
    if (seconds < 0) seconds = 0;
  }
  lua_settop(L, 1);
  return wait_job(L, 1, job, seconds);
}

static int wait_protected(lua_State *L) {
  return wait_job(L, 1, (gi_job *)lua_touserdata(L, 1), -1);
}

/* A blocking call waits for its job. When anything raises meanwhile (Ctrl-C,
 * a callback's error), the caller can no longer reach the job: it is
 * cancelled first, so that it neither goes on nor leaves a file. */
static int wait_blocking(lua_State *L, int job_idx) {
  int top = lua_gettop(L);
  lua_pushcfunction(L, wait_protected);
  lua_pushvalue(L, job_idx);
  if (lua_pcall(L, 1, LUA_MULTRET, 0) != 0) {
    gi_job_abandon(L, job_idx);
    lua_error(L);
  }
  return lua_gettop(L) - top;
}

int gi_wait_call(lua_State *L, const char *op) {
  gi_op o;
  int job_idx;
  gi_client_check(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  lua_pushstring(L, op);
  o = gi_request_checkop(L, 3);
  lua_pop(L, 1);
  gi_drive_ready(L, 1);
  gi_job_start_image(L, 1, o, op, 2);
  job_idx = lua_gettop(L);
  return wait_blocking(L, job_idx);
}

int gi_wait_request(lua_State *L) {
  int job_idx;
  gi_client_check(L, 1);
  lua_settop(L, 2);
  gi_drive_ready(L, 1);
  gi_raw_start(L, 1, 2);
  job_idx = lua_gettop(L);
  return wait_blocking(L, job_idx);
}

int gi_wait_batch(lua_State *L) {
  int job_idx;
  gi_client_check(L, 1);
  lua_settop(L, 3);
  gi_drive_ready(L, 1);
  gi_batch_start(L, 1, 2, 3);
  job_idx = lua_gettop(L);
  return wait_blocking(L, job_idx);
}

void gi_wait_open(lua_State *L) {
  luaL_getmetatable(L, GI_JOB_MT);
  lua_getfield(L, -1, "__index");
  lua_pushcfunction(L, job_wait);
  lua_setfield(L, -2, "wait");
  lua_pop(L, 2);
}
