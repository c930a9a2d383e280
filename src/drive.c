/* drive: the multi handle's life and one round of work (see drive.h). */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include "drive.h"
#include "castore.h"
#include "job.h"
#include "json.h"
#include "trust.h"
#include "version.h"

/* The slist copy of the key header is wiped before curl frees it. */
static void free_header_list(struct curl_slist *list) {
  struct curl_slist *h;
  for (h = list; h; h = h->next)
    if (h->data) memset(h->data, 0, strlen(h->data));
  curl_slist_free_all(list);
}

static void ready_failed(lua_State *L, gi_client *c, const char *what) {
  if (c->headers) free_header_list(c->headers);
  c->headers = NULL;
  if (c->multi) curl_multi_cleanup(c->multi);
  c->multi = NULL;
  luaL_error(L, "gptimage: %s", what);
}

gi_client *gi_drive_ready(lua_State *L, int idx) {
  gi_client *c = gi_client_check(L, idx);
  char err[300], *ua;
  size_t i, ua_len;
  struct curl_slist *next;
  if (c->multi) return c;
  if (gi_curl_load(err, sizeof err) != 0) luaL_error(L, "gptimage: %s", err);
  /* judged now, once per process, not in a poll; a client speaking plain
   * HTTP (a local gateway, the fake server) has no use for it */
  if (gi_client_over_tls(c)) (void)gi_trust_default();
  for (i = 0; i < c->header_count; i++) {
    if ((next = curl_slist_append(c->headers, c->header_lines[i])) == NULL) ready_failed(L, c, "out of memory");
    c->headers = next;
  }
  /* the caller's user agent whole, however long */
  ua_len = 64 + (c->user_agent ? strlen(c->user_agent) : strlen(curl_version_info(CURLVERSION_NOW)->version));
  if ((ua = (char *)malloc(ua_len)) == NULL) ready_failed(L, c, "out of memory");
  if (c->user_agent)
    snprintf(ua, ua_len, "User-Agent: %s", c->user_agent);
  else
    snprintf(ua, ua_len, "User-Agent: gptimage/%s (%s; libcurl %s)", GPTIMAGE_VERSION, LUA_VERSION,
             curl_version_info(CURLVERSION_NOW)->version);
  next = curl_slist_append(c->headers, ua);
  free(ua);
  if (next == NULL) ready_failed(L, c, "out of memory");
  c->headers = next;
  if ((c->multi = curl_multi_init()) == NULL) ready_failed(L, c, "curl_multi_init failed");
  if (curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX) != CURLM_OK)
    ready_failed(L, c, "curl_multi_setopt failed");
  return c;
}

void gi_drive_release(lua_State *L, gi_client *c) {
  gi_job_cancel_all(L, c);
  if (c->multi) {
    curl_multi_cleanup(c->multi);
    c->multi = NULL;
  }
  if (c->headers) free_header_list(c->headers);
  c->headers = NULL;
  /* after the multi handle: no connection is made with it any more (the
   * ones still open keep their own reference to the store) */
  gi_castore_free(c->castore);
  c->castore = NULL;
}

void gi_drive_sleep(gi_client *c, double max_seconds) {
  long curl_ms = -1;
  double next_retry, wait;
  int numfds = 0;
  if (c->multi == NULL) return; /* no job was ever started: nothing to wait for */
  if (curl_multi_timeout(c->multi, &curl_ms) != CURLM_OK) curl_ms = 10;
  wait = curl_ms >= 0 ? (double)curl_ms / 1000.0 : 1.0;
  next_retry = gi_job_next_retry(c);
  if (next_retry > 0) {
    double until = next_retry - gi_now();
    if (until < wait) wait = until < 0 ? 0 : until;
  }
  if (max_seconds >= 0 && max_seconds < wait) wait = max_seconds;
  if (wait <= 0) return;
  curl_multi_poll(c->multi, NULL, 0, (int)(wait * 1000.0 + 0.999), &numfds);
}

static const char HOOK_POINT_KEY[] = "gptimage.hook_point";

/* The interpreters' Ctrl-C handlers only install a hook, which runs at the
 * next Lua call or instruction; a blocking call runs none while it waits.
 * When a hook is set, one empty Lua function call per round lets it run
 * (Lua 5.4 would run it for the C call of the round too; LuaJIT does not). */
static void run_hooks(lua_State *L) {
  if (lua_gethook(L) == NULL) return;
  lua_getfield(L, LUA_REGISTRYINDEX, HOOK_POINT_KEY);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    if (luaL_loadstring(L, "return") != 0) lua_error(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, HOOK_POINT_KEY);
  }
  lua_call(L, 0, 0);
}

/* a guess of read_cost per byte until a round has measured it: a 64 KiB
 * read of base64 decoded into a file on a slow machine takes 0.1 ms */
#define READ_COST_GUESS_PER_BYTE (0.0001 / 65536.0)

static int budget_spent(gi_client *c) {
  return c->round_deadline > 0 && c->round_pieces > 0 && gi_now() >= c->round_deadline;
}

/* Lets the transfers the last rounds paused go on, in the order they
 * paused, as the budget allows; one whose resumed data fails is finished at
 * once.  Each one resumed costs a read of its socket when curl works next
 * (libcurl 7.88 marks a resumed connection readable, and reads it even if
 * it is paused again before then), and one its body callback paused also
 * hands over at once what libcurl held for it: so only as many go on as
 * the time left pays for at read_cost each, and none once it is spent.
 * A transfer that pauses again goes to the end of the list, and only does
 * so when the budget is spent, so the next check ends the loop. */
static void resume_paused(lua_State *L, int client_idx, gi_client *c) {
  gi_job *job, *next;
  double reads = 0, left = 0;
  if (c->round_deadline > 0) left = c->round_deadline - gi_now();
  for (job = gi_job_next_paused(c, NULL); job; job = next) {
    double cost = gi_job_paused_with_data(job) ? 2 : 1;
    next = gi_job_next_paused(c, job);
    if (c->round_deadline > 0) {
      if (budget_spent(c)) {
        gi_job_hold_running(c);
        return;
      }
      if (reads > 0 && (reads + cost) * c->read_cost > left) {
        c->round_cut = 1; /* the others wait for the next round */
        return;
      }
    }
    gi_job_resume(L, client_idx, job);
    reads += cost;
  }
}

/* What the round spent per receive buffer of body (the client's: 16 KiB
 * over TLS, 64 KiB else), from its start to the end of curl's work: the
 * next rounds' guess of what resuming one held transfer costs.  Only
 * rounds with a budget that took a fair amount of data count. */
static void measure_read_cost(gi_client *c, double started) {
  double cost, buffer = (double)gi_client_receive_buffer(c);
  if (c->round_deadline <= 0 || c->round_bytes < buffer) return;
  cost = (gi_now() - started) / c->round_bytes * buffer;
  c->read_cost = c->read_cost > 0 ? 0.75 * c->read_cost + 0.25 * cost : cost;
}

/* curl's work for the round.  libcurl 8 reads at most a chunk or a few
 * of a transfer per call (16 KiB of an HTTP/2 stream) and asks, with a
 * timeout of 0, to be called again at once for the rest: a caller that
 * polls once per frame would get 16 KiB a frame.  So the round calls it
 * again while curl asks so and the budget lasts, and no more than
 * PERFORM_CALLS_MAX times (libcurl 7.88 reads what the socket has in one
 * call, and seldom asks). */
#define PERFORM_CALLS_MAX 64

static void perform(lua_State *L, gi_client *c) {
  int running = 0, calls = 0;
  long curl_ms;
  for (;;) {
    if (curl_multi_perform(c->multi, &running) != CURLM_OK) luaL_error(L, "gptimage: curl_multi_perform failed");
    if (running == 0 || ++calls >= PERFORM_CALLS_MAX) return;
    if (budget_spent(c)) return;
    if (curl_multi_timeout(c->multi, &curl_ms) != CURLM_OK || curl_ms != 0) return;
  }
}

/* The round itself, called protected with the client at index 1. */
static int drive_round(lua_State *L) {
  gi_client *c = (gi_client *)lua_touserdata(L, 1);
  CURLMsg *msg;
  int left, failed;
  double started;
  run_hooks(L);
  started = gi_now();
  if (c->read_cost <= 0) c->read_cost = READ_COST_GUESS_PER_BYTE * (double)gi_client_receive_buffer(c);
  gi_job_start_due_retries(L, c, started);
  resume_paused(L, 1, c);
  perform(L, c);
  measure_read_cost(c, started);
  while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
    gi_job *job = NULL;
    if (msg->msg != CURLMSG_DONE) continue;
    if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&job) != CURLE_OK || !job)
      continue;
    gi_job_transfer_done(L, 1, job, msg->data.result);
  }
  failed = gi_job_deliver(L, 1);
  /* a transfer left this round (or since the last): the others are nudged,
   * so that what libcurl holds for them in a shared connection's buffer
   * is read (transfer.h gi_transfer_nudge) */
  if (c->nudge_rounds > 0) {
    c->nudge_rounds--;
    gi_job_nudge_running(c);
  }
  if (failed) lua_error(L);
  /* Ctrl-C that fired inside a response's decode: raised now that every
   * finished job is whole and delivered */
  if (gi_json_take_interrupt(L)) {
    lua_pushliteral(L, "interrupted!");
    lua_error(L);
  }
  return 0;
}

int gi_drive_round(lua_State *L, int client_idx, double budget) {
  gi_client *c = gi_client_check(L, client_idx);
  int status, cut;
  double saved_deadline, saved_bytes;
  unsigned saved_pieces;
  client_idx = lua_absindex(L, client_idx);
  if (c->multi == NULL) return 0; /* no job was ever started */
  if (c->driving > 16) luaL_error(L, "gptimage: callbacks nested too deeply");
  /* a round inside a callback (a wait in on_done) has its own budget; the
   * outer round's comes back after it */
  saved_deadline = c->round_deadline;
  saved_pieces = c->round_pieces;
  saved_bytes = c->round_bytes;
  c->round_deadline = budget >= 0 ? gi_now() + budget : 0;
  c->round_pieces = 0;
  c->round_bytes = 0;
  c->round_cut = 0;
  /* whatever raises inside the round (a callback's error, a caller's table
   * whose metamethod raises, memory), the depth count comes back down */
  c->driving++;
  lua_pushcfunction(L, drive_round);
  lua_pushvalue(L, client_idx);
  status = lua_pcall(L, 1, 0, 0);
  c->driving--;
  cut = c->round_cut;
  c->round_deadline = saved_deadline;
  c->round_pieces = saved_pieces;
  c->round_bytes = saved_bytes;
  if (status != 0) lua_error(L);
  return cut;
}
