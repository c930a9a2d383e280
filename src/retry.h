/* retry: when an attempt is tried again, and after how long.
 *
 * Retryable: 408, 409, 429, 5xx and network failures, unless the server
 * said x-should-retry: false, up to max_retries more attempts.  The wait is
 * what Retry-After asked (a minute or less), else 0.5 s doubling up to 8 s
 * with jitter.  A job waiting to retry keeps its easy handle out of the
 * multi handle until its time comes. */
#ifndef GPTIMAGE_RETRY_H
#define GPTIMAGE_RETRY_H

#include "job_internal.h"

int gi_retry_status_retryable(long status);
/* seconds before attempt number `attempt` (2 for the first retry) */
double gi_retry_backoff(int attempt, double retry_after);
/* may the job's attempt be tried again? */
int gi_retry_allowed(gi_job *job);
/* drops the attempt's response and schedules the next attempt */
void gi_retry_schedule(gi_job *job);

#endif
