/* retry: when an attempt is tried again, and after how long.
 *
 * Retryable: 408, 409, 429, 5xx and network failures (not a certificate
 * that does not verify, see gi_retry_curl_retryable), unless the server
 * said x-should-retry: false, up to max_retries more attempts.  The wait is
 * what Retry-After asked (a minute or less), else 0.5 s doubling up to 8 s
 * with jitter.  A job waiting to retry keeps its easy handle out of the
 * multi handle until its time comes. */
#ifndef GPTIMAGE_RETRY_H
#define GPTIMAGE_RETRY_H

#include "job_internal.h"

int gi_retry_status_retryable(long status);
/* a transfer that failed with rc (not CURLE_OK) may succeed if tried again:
 * a connection refused, reset or cut, a timeout, a name not resolved; not a
 * certificate that does not verify, a bad URL, a local file that cannot be
 * read, a limit or a cancel */
int gi_retry_curl_retryable(CURLcode rc);
/* seconds before attempt number `attempt` (2 for the first retry) */
double gi_retry_backoff(int attempt, double retry_after);
/* may the job's attempt be tried again? */
int gi_retry_allowed(gi_job *job);
/* drops the attempt's response and schedules the next attempt */
void gi_retry_schedule(gi_job *job);
/* the same attempt again, at once and not counted: its failure was ours */
void gi_retry_at_once(gi_job *job);
/* the job (its easy handle out of the multi handle) waits to retry until
 * `at` (gi_now() time): it goes into the client's retry heap */
void gi_retry_wait(gi_job *job, double at);
/* takes the job out of the retry heap if it is in it */
void gi_retry_forget(gi_job *job);
/* room in the client's retry heap for one more job; raises when out of
 * memory.  Called before a job is launched, so that a retry never fails
 * for want of memory. */
void gi_retry_reserve(lua_State *L, gi_client *c);

#endif
