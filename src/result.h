/* result: turns an ended transfer into the job's result or error.
 *
 * gi_job_transfer_done (job.h) judges the transfer: a failure recorded by
 * the callbacks, a curl error or a retryable status (handed to retry.c), an
 * API error body, a body that is not JSON, an event stream, a url response
 * to download (download.c), a raw answer (raw.c) or a success; it then
 * stores res or err in the job's uservalue and marks it done.  Runs outside
 * libcurl, with Lua. */
#ifndef GPTIMAGE_RESULT_H
#define GPTIMAGE_RESULT_H

#include "job_internal.h"

/* pushes an error of the job's attempt (status, request id, Retry-After) */
void gi_result_push_error(lua_State *L, gi_job *job, const char *kind, const char *message);
/* ends the job with the error on top of the stack (popped) */
void gi_result_fail(lua_State *L, int job_idx, gi_job *job);
void gi_result_fail_kind(lua_State *L, int job_idx, gi_job *job, const char *kind, const char *msg);
/* ends the job with the result built from the response document at doc and
 * the job's images (files committed, or bytes) */
void gi_result_succeed(lua_State *L, int job_idx, gi_job *job, int doc);

#endif
