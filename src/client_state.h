/* client_state: the gi_client struct, read by every layer below the
 * client's Lua methods.
 *
 * The configuration (filled by client.c when the client is made, read by
 * the jobs when they build a request), the multi handle and the round's
 * work budget (owned by drive.c), and the lists of jobs (kept by the job
 * files).  Who writes which field is said beside it; everyone else only
 * reads.  Kept in a header of its own, below the jobs, so that the job
 * files can read a client without depending on client.c or drive.c. */
#ifndef GPTIMAGE_CLIENT_STATE_H
#define GPTIMAGE_CLIENT_STATE_H

#include <strings.h>
#include "curlapi.h"
#include "castore.h"
#include "clock.h"
#include "lua_compat.h"

#define GI_CLIENT_MT "gptimage.Client"

typedef struct gi_job gi_job;

/* rounds in which the transfers left running are nudged after one leaves:
 * the first handle libcurl runs on a connection may take the nudge without
 * decoding the connection's buffer (it had data of its own); the next
 * round's nudge then reaches it */
#define GI_NUDGE_ROUNDS 3

/* the most libcurl reads from a socket at once (CURLOPT_BUFFERSIZE) */
#define GI_RECEIVE_BUFFER (64L * 1024L)
/* the same over TLS: one record (16 KiB) is all a read returns there, and
 * over HTTP/2 libcurl 7.88 keeps a buffer of this size for each stream,
 * which it fills with the stream's data while reading for another one:
 * smaller, the work between two body callbacks is smaller (the per-poll
 * p99 over HTTP/2 in bench/: 0.6-1.1 ms -> 0.4-0.7 ms) */
#define GI_TLS_RECEIVE_BUFFER (16L * 1024L)

typedef struct gi_client {
  /* drive.c: made when the first job starts, freed when the client closes */
  CURLM *multi;
  /* client.c: the configuration, fixed once the client is made */
  char *api_key;
  char *base_url;       /* without a trailing slash */
  char *organization, *project, *model, *proxy, *ca_file, *ca_path;
  char *azure_endpoint, *azure_deployment, *azure_api_version;
  char **header_lines;  /* "Name: value" of every header but the per-request ones */
  size_t header_count, header_cap;
  char *user_agent;     /* the caller's, or NULL for ours */
  struct curl_slist *headers; /* drive.c: header_lines and User-Agent, once ready */
  /* transfer.c: the authorities the client's connections share (castore.h),
   * made for the first transfer that verifies a server; freed by drive.c */
  gi_castore *castore;
  int castore_tried;    /* made, or found not to be had */
  int castore_dir_only; /* made of the default folder alone (trust.h) */
  double timeout, connect_timeout;
  long max_retries;
  double max_response;  /* bytes */
  int closed;           /* closed, or not yet fully built */
  int released;         /* everything it owned has been freed */
  /* drive.c */
  int driving;          /* depth of rounds on the C stack */
  /* the round's work budget, read by the transfer callbacks: past the
   * deadline (gi_now(); 0 = none) a transfer that already got a piece this
   * round pauses until the next one */
  double round_deadline;
  unsigned round_pieces; /* body pieces taken this round */
  double round_bytes;    /* bytes libcurl handed over this round, taken or held */
  double read_cost;      /* seconds a round spends per receive buffer of body (drive.c) */
  int round_cut;         /* the budget ran out with data waiting */
  /* the job files */
  gi_job *jobs;         /* every job that has not been delivered yet */
  gi_job *jobs_tail;    /* its last, where a new job is linked */
  size_t pending;       /* how many jobs that list holds, kept with it */
  /* jobs waiting to retry: a binary min-heap by (retry_at, retry_seq), so
   * that a round finds the due ones without looking at the others (retry.c).
   * retry_cap is reserved when a job is launched, at least one slot per
   * undelivered job, so that scheduling a retry never needs memory. */
  gi_job **retry_heap;
  size_t retry_count, retry_cap;
  unsigned long retry_seq; /* ties in retry_at go first come, first served */
  /* transfers the round's budget paused, in the order they paused: a
   * round resumes these without looking at the others (job.c) */
  gi_job *paused_head, *paused_tail;
  /* transfers in the multi handle, in the order they went in (transfer.c) */
  gi_job *running_head, *running_tail;
  /* jobs with callbacks to run (partial images, or done and not yet
   * delivered), in the order they became so: see deliver.h */
  gi_job *ready_head, *ready_tail;
  /* set when a transfer leaves the multi handle (transfer.h
   * gi_transfer_detach), counted down by drive.c: the rounds that still
   * nudge the transfers left running (gi_transfer_nudge) */
  int nudge_rounds;
} gi_client;

/* The client userdata at idx; raises when it is closed. */
static inline gi_client *gi_client_check(lua_State *L, int idx) {
  gi_client *c = (gi_client *)luaL_checkudata(L, idx, GI_CLIENT_MT);
  if (c->closed) luaL_error(L, "gptimage: the client is closed");
  return c;
}

/* the client's API answers over TLS (https://) */
static inline int gi_client_over_tls(const gi_client *c) {
  const char *base = c->azure_endpoint ? c->azure_endpoint : c->base_url ? c->base_url : "";
  return strncasecmp(base, "https:", 6) == 0;
}

/* what libcurl reads from the socket of one of the client's transfers at
 * most (gi_transfer_setup sets it) */
static inline long gi_client_receive_buffer(const gi_client *c) {
  return gi_client_over_tls(c) ? GI_TLS_RECEIVE_BUFFER : GI_RECEIVE_BUFFER;
}

#endif
