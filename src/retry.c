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

void gi_retry_schedule(gi_job *job) {
  gi_transfer_detach(job);
  job->attempt++;
  job->retry_at = gi_now() + backoff(job);
  gi_transfer_abort_images(job);
  gi_transfer_free_partials(job); /* the next attempt streams them again */
  gi_transfer_reset(job);
  job->state = ST_RETRY_WAIT;
}

int gi_retry_allowed(gi_job *job) {
  return job->attempt <= job->max_retries && job->should_retry != 0;
}

void gi_job_start_due_retries(lua_State *L, gi_client *c, double now) {
  gi_job *job;
  (void)L;
  for (job = c->jobs; job; job = job->next) {
    if (job->state != ST_RETRY_WAIT || job->retry_at > now) continue;
    job->state = ST_RUNNING;
    if (curl_multi_add_handle(c->multi, job->easy) == CURLM_OK) {
      job->in_multi = 1;
    } else {
      job->state = ST_RETRY_WAIT;
      job->retry_at = now + 0.1;
    }
  }
}

double gi_job_next_retry(gi_client *c) {
  gi_job *job;
  double t = 0;
  for (job = c->jobs; job; job = job->next)
    if (job->state == ST_RETRY_WAIT && (t == 0 || job->retry_at < t)) t = job->retry_at;
  return t;
}

