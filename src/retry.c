/* retry: when an attempt is tried again, and after how long (see retry.h). */
#include <stdlib.h>
#include <stdint.h>
#include <math.h>
#include <time.h>
#include <unistd.h>
#include "job.h"
#include "retry.h"
#include "transfer.h"

int gi_retry_status_retryable(long status) {
  return status == 408 || status == 409 || status == 429 || status >= 500;
}

int gi_retry_curl_retryable(CURLcode rc) {
  switch (rc) {
    /* the same request would fail the same way: the URL, the build, the
     * certificates on either side, a limit of ours, or a cancel */
    case CURLE_OK:
    case CURLE_UNSUPPORTED_PROTOCOL: case CURLE_URL_MALFORMAT: case CURLE_NOT_BUILT_IN:
    case CURLE_PEER_FAILED_VERIFICATION: case CURLE_SSL_CACERT_BADFILE: case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER: case CURLE_SSL_CRL_BADFILE: case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH: case CURLE_SSL_ENGINE_NOTFOUND: case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED: case CURLE_USE_SSL_FAILED:
    case CURLE_FILESIZE_EXCEEDED: case CURLE_TOO_MANY_REDIRECTS: case CURLE_LOGIN_DENIED:
    case CURLE_READ_ERROR: case CURLE_ABORTED_BY_CALLBACK: case CURLE_OUT_OF_MEMORY:
    case CURLE_BAD_FUNCTION_ARGUMENT: case CURLE_UNKNOWN_OPTION: case CURLE_FUNCTION_NOT_FOUND:
      return 0;
    default:
      return 1;
  }
}

/* Seconds before attempt number `attempt` (2 for the first retry): what the
 * server asked for when it asked for a minute or less, else 0.5 s doubling
 * up to 8 s, less up to a quarter of jitter so that clients spread out. */
/* A number in [0, 1) from a generator seeded per process (time, pid,
 * address): rand() is never seeded, so every process would draw the same
 * jitter and back off in step. xorshift64*; no caller needs more. */
static uint64_t jitter_state;
static double jitter_unit(void) {
  if (jitter_state == 0) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    jitter_state = ((uint64_t)ts.tv_nsec << 21) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40) ^
                   (uint64_t)(uintptr_t)&jitter_state;
    if (jitter_state == 0) jitter_state = 0x9e3779b97f4a7c15ULL;
  }
  jitter_state ^= jitter_state >> 12;
  jitter_state ^= jitter_state << 25;
  jitter_state ^= jitter_state >> 27;
  return (double)((jitter_state * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

double gi_retry_backoff(int attempt, double retry_after) {
  double d = retry_after;
  if (!(d > 0 && d <= 60)) {
    double jitter = 1.0 - jitter_unit() * 0.25;
    d = 0.5 * pow(2.0, (double)(attempt - 2));
    if (d > 8) d = 8;
    d *= jitter;
  }
  return d;
}

static double backoff(gi_job *job) { return gi_retry_backoff(job->attempt, job->retry_after); }

/* The retry heap: heap[0] is the job due first; a job knows its slot
 * (retry_slot = index + 1) so that a cancelled one leaves in O(log n). */

static int due_before(const gi_job *a, const gi_job *b) {
  if (a->retry_at != b->retry_at) return a->retry_at < b->retry_at;
  return a->retry_seq < b->retry_seq;
}

static void heap_put(gi_client *c, size_t i, gi_job *job) {
  c->retry_heap[i] = job;
  job->retry_slot = i + 1;
}

static void sift_up(gi_client *c, size_t i) {
  gi_job *job = c->retry_heap[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!due_before(job, c->retry_heap[parent])) break;
    heap_put(c, i, c->retry_heap[parent]);
    i = parent;
  }
  heap_put(c, i, job);
}

static void sift_down(gi_client *c, size_t i) {
  gi_job *job = c->retry_heap[i];
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= c->retry_count) break;
    if (child + 1 < c->retry_count && due_before(c->retry_heap[child + 1], c->retry_heap[child])) child++;
    if (!due_before(c->retry_heap[child], job)) break;
    heap_put(c, i, c->retry_heap[child]);
    i = child;
  }
  heap_put(c, i, job);
}

void gi_retry_reserve(lua_State *L, gi_client *c) {
  size_t need = c->pending + 1, cap;
  gi_job **heap;
  if (c->retry_cap >= need) return;
  cap = c->retry_cap ? c->retry_cap * 2 : 8;
  if (cap < need) cap = need;
  heap = (gi_job **)realloc(c->retry_heap, cap * sizeof *heap);
  if (heap == NULL) luaL_error(L, "gptimage: out of memory");
  c->retry_heap = heap;
  c->retry_cap = cap;
}

void gi_retry_wait(gi_job *job, double at) {
  gi_client *c = job->client;
  job->state = ST_RETRY_WAIT;
  job->retry_at = at;
  if (c == NULL) return;
  if (job->retry_slot) {
    sift_up(c, job->retry_slot - 1);
    sift_down(c, job->retry_slot - 1);
    return;
  }
  /* gi_retry_reserve made room for every undelivered job, and only those
   * wait here: the heap cannot be full */
  if (c->retry_count >= c->retry_cap) abort();
  job->retry_seq = c->retry_seq++;
  heap_put(c, c->retry_count++, job);
  sift_up(c, c->retry_count - 1);
}

void gi_retry_forget(gi_job *job) {
  gi_client *c = job->client;
  size_t i;
  gi_job *last;
  if (job->retry_slot == 0 || c == NULL) return;
  i = job->retry_slot - 1;
  job->retry_slot = 0;
  last = c->retry_heap[--c->retry_count];
  if (last == job) return;
  heap_put(c, i, last);
  sift_up(c, i);
  sift_down(c, last->retry_slot - 1);
}

static void try_again(gi_job *job, double at) {
  gi_retry_wait(job, at);
  gi_transfer_abort_images(job);
  gi_transfer_free_partials(job); /* the next attempt streams them again */
  gi_transfer_reset(job);
}

void gi_retry_schedule(gi_job *job) {
  gi_transfer_detach(job);
  job->attempt++;
  try_again(job, gi_now() + backoff(job));
}

void gi_retry_at_once(gi_job *job) {
  gi_transfer_detach(job);
  try_again(job, gi_now());
}

int gi_retry_allowed(gi_job *job) {
  return job->attempt <= job->max_retries && job->should_retry != 0;
}

void gi_job_start_due_retries(lua_State *L, gi_client *c, double now) {
  (void)L;
  while (c->retry_count > 0 && c->retry_heap[0]->retry_at <= now) {
    gi_job *job = c->retry_heap[0];
    gi_retry_forget(job);
    job->state = ST_RUNNING;
    if (gi_transfer_attach(job) != 0) gi_retry_wait(job, now + 0.1);
  }
}

double gi_job_next_retry(gi_client *c) {
  return c->retry_count > 0 ? c->retry_heap[0]->retry_at : 0;
}
