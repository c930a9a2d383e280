/* client: the gptimage.Client userdata.
 *
 * A client holds its configuration and one curl multi handle that drives
 * every job it started.  The multi handle and the header list are made by
 * gi_client_ready when the first job starts, which is also when libcurl is
 * loaded (see curlapi.h): making a client costs no more than its options.  It owns no event loop: poll() does one round of
 * work without waiting; wait() and the blocking calls loop on poll() and
 * curl_multi_poll().  Jobs in flight are anchored in the client's uservalue
 * table (jobs[lightuserdata] = job userdata) so that nothing they need can
 * be collected before they end. */
#ifndef GPTIMAGE_CLIENT_H
#define GPTIMAGE_CLIENT_H

#include "curlapi.h"
#include "clock.h"
#include "lua_compat.h"

#define GI_CLIENT_MT "gptimage.Client"

/* the work one client:poll() does by default, in seconds (see gi_client_drive) */
#define GI_POLL_BUDGET 0.0005

typedef struct gi_job gi_job;

typedef struct gi_client {
  CURLM *multi;
  char *api_key;
  char *base_url;       /* without a trailing slash */
  char *organization, *project, *model, *proxy, *ca_file;
  char *azure_endpoint, *azure_deployment, *azure_api_version;
  char **header_lines;  /* "Name: value" of every header but the per-request ones */
  size_t header_count, header_cap;
  char *user_agent;     /* the caller's, or NULL for ours */
  struct curl_slist *headers; /* header_lines and User-Agent, once ready */
  double timeout, connect_timeout;
  long max_retries;
  double max_response;  /* bytes */
  int closed;           /* closed, or not yet fully built */
  int released;         /* everything it owned has been freed */
  int driving;          /* depth of drive() calls on the C stack */
  /* the round's work budget, read by the transfer callbacks: past the
   * deadline (gi_now(); 0 = none) a transfer that already got a piece this
   * round pauses until the next one */
  double round_deadline;
  unsigned round_pieces; /* body pieces taken this round */
  int round_cut;         /* the budget ran out with data waiting */
  gi_job *jobs;         /* every job that has not been delivered yet */
  gi_job *jobs_tail;    /* its last, where a new job is linked */
  /* jobs with callbacks to run (partial images, or done and not yet
   * delivered), in the order they became so: see deliver.h */
  gi_job *ready_head, *ready_tail;
} gi_client;

void gi_client_open(lua_State *L);
int gi_client_new(lua_State *L);                 /* gptimage.new{...} */
gi_client *gi_client_check(lua_State *L, int idx); /* raises when closed */
/* gi_client_check, then libcurl, the multi handle and the header list made
 * if they are not yet; raises if libcurl cannot be loaded. */
gi_client *gi_client_ready(lua_State *L, int idx);
/* One round: starts due retries, resumes transfers the last round paused,
 * lets curl work, finishes transfers, runs callbacks.  Never blocks.  With
 * budget >= 0 (seconds) the transfers take body pieces until the budget is
 * spent (always at least one piece) and then pause until the next round;
 * finishing a transfer (results, files, callbacks) is not cut.  budget < 0:
 * everything that has arrived.  Returns whether the budget ran out with
 * data waiting.  Raises the first callback error once curl is back in a
 * consistent state. */
int gi_client_drive(lua_State *L, int client_idx, double budget);
/* Blocks in curl_multi_poll until something may have happened, at most
 * max_seconds (< 0: no bound of our own). */
void gi_client_sleep(gi_client *c, double max_seconds);

#endif
