/* job_internal: the job struct and the helpers every job file shares.
 *
 * Private to the files that make up a job (job.c, transfer.c, result.c,
 * retry.c, download.c, raw.c, batch.c, deliver.c); nothing outside src/job*
 * and those files includes it.  job.c owns the struct's lifecycle: it makes
 * the userdata, links it into the client's list, anchors it in the client's
 * uservalue and frees it.  The other files each own a group of fields (see
 * the comments below) and change the rest only through the functions here. */
#ifndef GPTIMAGE_JOB_INTERNAL_H
#define GPTIMAGE_JOB_INTERNAL_H

#include <stddef.h>
#include "curlapi.h"
#include "lua_compat.h"
#include "client_state.h"
#include "job.h"
#include "request.h"
#include "scanner.h"
#include "sse.h"
#include "b64sink.h"

#define GI_PAUSED_DATA 1
#define GI_PAUSED_HELD 2

/* the three kinds of job share one struct; fields of the others stay zero */
typedef enum { JOB_IMAGE, JOB_BATCH, JOB_RAW } job_kind;
typedef enum { ST_RUNNING, ST_RETRY_WAIT, ST_DONE } job_state;
typedef enum { EV_UNKNOWN, EV_PARTIAL, EV_COMPLETED, EV_OTHER } event_kind;

typedef struct partial {
  struct partial *next;
  char *bytes;
  size_t len;
  char *meta;
  size_t meta_len;
} partial;

struct gi_job {
  gi_job *next, *prev;  /* the client's list of undelivered jobs */
  int linked;           /* in that list (and counted in client->pending) */
  gi_client *client;    /* NULL once the client is gone */
  job_kind kind;
  job_state state;
  int delivered;        /* on_done ran (or there was none) */
  int cancelled;        /* ended by cancel or by the client closing */
  int in_multi;
  /* the client's list of transfers in its multi handle (transfer.c
   * gi_transfer_attach / gi_transfer_detach keep it with in_multi) */
  gi_job *running_prev, *running_next;
  CURL *easy;
  struct curl_slist *headers;
  gi_request req;
  char op[12];
  char errbuf[CURL_ERROR_SIZE];
  double timeout;
  long max_retries;
  char *save;           /* save template, or NULL for bytes */
  int as_buffer;        /* bytes as a gptimage.Buffer, not a Lua string */
  int attempt;
  double retry_at;
  size_t retry_slot;    /* 1 + its index in the client's retry heap; 0: not in it */
  unsigned long retry_seq;
  /* one attempt's response */
  long status;
  char request_id[128];
  char content_type[96];
  double retry_after;   /* seconds; < 0 when the server gave none */
  int should_retry;     /* x-should-retry: -1 absent, 0 false, 1 true */
  double received;
  double expected;      /* Content-Length of the body, or < 0 when not given */
  double chunk_offset;  /* body bytes before the piece being read */
  /* the poll budget paused the transfer until a later round: GI_PAUSED_DATA
   * (its body callback paused it, libcurl holds the piece it was given) or
   * GI_PAUSED_HELD (gi_transfer_hold_running, libcurl holds nothing) */
  int paused;
  /* the client's list of paused transfers; an entry whose job is no longer
   * paused is dropped when a round or the unlink meets it */
  gi_job *paused_prev, *paused_next;
  int in_paused;
  int discarding;       /* dropping what a paused, ended attempt left in libcurl */
  int body_started, sse_mode;
  gi_scanner *scanner;
  gi_sse sse;
  event_kind event;
  gi_sink *current;     /* where the b64_json being read goes */
  gi_sink **images;     /* final images by index */
  size_t nimages, capimages;
  unsigned completed;   /* SSE completed events seen */
  char *final_meta;     /* SSE: the completed event's skeleton */
  char *error_event;    /* SSE: an error event's skeleton */
  partial *partials, *partials_tail;
  const char *fail_kind; /* set when the body itself failed: decode, io, http */
  char fail_msg[300];
  char excerpt[256];
  size_t excerpt_len;
  int trust_dir_only;   /* the handle loads the default directory alone (trust.h) */
  int trust_fallback;   /* it loads the pair because the directory alone failed */
  int refused_retried;  /* went again after a kept connection failed it (transfer.h) */
  /* dall-e url images being downloaded for save */
  int downloading;
  size_t download_index;
  int download_attempt; /* of the image at download_index, from 1 */
  /* batches */
  gi_job *parent;
  int batch_index;
  int batch_total, batch_next, batch_running, batch_done, concurrency;
  /* the client's queue of jobs with callbacks to run (deliver.c) */
  gi_job *ready_next;
  int queued;
};

/* Puts the job at the end of its client's ready queue unless it is in it
 * already: called when it gets a partial image to hand over or ends.  Pure
 * C, so the transfer callbacks may call it. */
static inline void gi_job_queue_ready(gi_job *job) {
  gi_client *c = job->client;
  if (c == NULL || job->queued || job->delivered) return;
  job->queued = 1;
  job->ready_next = NULL;
  if (c->ready_tail) c->ready_tail->ready_next = job;
  else c->ready_head = job;
  c->ready_tail = job;
}

/* Puts the job at the end of its client's list of paused transfers unless
 * it is in it already: called by the body callback when the round's budget
 * pauses the transfer.  Pure C. */
static inline void gi_job_queue_paused(gi_job *job) {
  gi_client *c = job->client;
  if (c == NULL || job->in_paused) return;
  job->in_paused = 1;
  job->paused_next = NULL;
  job->paused_prev = c->paused_tail;
  if (c->paused_tail) c->paused_tail->paused_next = job;
  else c->paused_head = job;
  c->paused_tail = job;
}

/* ---- job.c: userdata, uservalue, the client's list ---- */

/* pushes uservalue[field] of the userdata at idx (nil when it has none) */
void gi_uv_get(lua_State *L, int idx, const char *field);
/* uservalue[field] = the value on top (popped) */
void gi_uv_set(lua_State *L, int idx, const char *field);
/* client.jobs[job] = the job userdata at job_idx: keeps it alive until delivered */
void gi_job_anchor(lua_State *L, int client_idx, int job_idx, gi_job *job);
void gi_job_unanchor(lua_State *L, int client_idx, gi_job *job);
/* pushes the userdata of an anchored job and returns 1; pushes nil and
 * returns 0 when it is not anchored any more */
int gi_job_push(lua_State *L, int client_idx, gi_job *job);
/* stores res (at -2) and err (at -1), pops both, and marks the job done */
void gi_job_store_result(lua_State *L, int job_idx, gi_job *job);
/* a new job userdata of the client at client_idx, pushed, not yet linked */
gi_job *gi_job_new(lua_State *L, int client_idx, gi_client *c, job_kind kind, const char *op);
/* appends the job to the client's list of undelivered jobs / takes it out */
void gi_job_link(gi_client *c, gi_job *job);
void gi_job_unlink(gi_job *job);
/* save, timeout, max_retries, on_done, on_partial from the options at opts */
void gi_job_read_local_options(lua_State *L, int opts, int job_idx, gi_job *job);
/* a job fully set up goes into the client's multi handle and its list and
 * is anchored until it is delivered; raises when curl refuses it */
void gi_job_launch(lua_State *L, int client_idx, int job_idx, gi_client *c, gi_job *job);
/* frees the easy handle (out of the multi first), the request and headers */
void gi_job_release_transfer(gi_job *job);

#endif
