/* job: the gptimage.Job userdata, one API call from start to result.
 *
 * A job owns its curl easy handle, the built request, the response state
 * (scanner, SSE framer, image sinks) and its retry schedule.  Its uservalue
 * table anchors the client, the options and every Lua value the transfer
 * points into.  A batch is a job too: it has no transfer of its own and
 * advances as its children end.
 *
 * This header is what the layers above the jobs see of them: the starts
 * (for client.c and wait.c), what a waiter may ask of a job (wait.c), and
 * what a round does to the jobs (drive.c).  The job files call nothing
 * above them: they never drive, sleep or make the multi handle. */
#ifndef GPTIMAGE_JOB_H
#define GPTIMAGE_JOB_H

#include "curlapi.h"
#include "lua_compat.h"
#include "client_state.h"
#include "request.h"

#define GI_JOB_MT "gptimage.Job"

void gi_job_open(lua_State *L);

/* ---- starting: the client at client_idx was made ready (gi_drive_ready)
 * by the caller; each raises on caller bugs and pushes the new job ---- */

/* an image job (generate, edit, variation) from the options at opts_idx */
gi_job *gi_job_start_image(lua_State *L, int client_idx, gi_op op, const char *opname, int opts_idx);
/* a raw request (client:request) from the options at opts (raw.c) */
gi_job *gi_raw_start(lua_State *L, int client_idx, int opts);
/* a batch of the entries in list, options at opts (batch.c); returns 1 */
int gi_batch_start(lua_State *L, int client_idx, int list, int opts);

/* ---- for a waiter ---- */

/* pushes the client userdata of the job at job_idx */
void gi_job_push_client(lua_State *L, int job_idx);
/* nothing more will happen to the job: done and delivered, or its client
 * closed or gone */
int gi_job_settled(gi_job *job);
/* pushes res, err of the job at job_idx and returns 2 when it is done
 * (a cancelled job without a result gets a "cancelled" error); returns 0
 * and pushes nothing while it runs */
int gi_job_push_result(lua_State *L, int job_idx);
/* the caller can no longer reach the job at job_idx (its blocking call
 * raised): cancels it unless it is done or its client closed */
void gi_job_abandon(lua_State *L, int job_idx);

/* ---- for a round of the drive (drive.c) ---- */

void gi_job_transfer_done(lua_State *L, int client_idx, gi_job *job, CURLcode rc);
int gi_job_pending(gi_client *c);  /* jobs not yet delivered; O(1) */
/* starts the jobs whose retry is due at `now`, earliest first; looks at no
 * other job (retry.c) */
void gi_job_start_due_retries(lua_State *L, gi_client *c, double now);
double gi_job_next_retry(gi_client *c);  /* earliest retry time, or 0; O(1) */
/* the next job after `after` (NULL: the first) in the client's list of
 * transfers the round's budget paused, in the order they paused, or NULL;
 * entries that are no longer paused are dropped on the way.  `after` must
 * still be in the list: take the next one before resuming `after`. */
gi_job *gi_job_next_paused(gi_client *c, gi_job *after);
/* whether libcurl holds received data for the paused job (its body callback
 * paused it), rather than nothing (gi_job_hold_running paused it) */
int gi_job_paused_with_data(gi_job *job);
/* takes the job out of the paused list and lets its transfer go on (a new
 * pause puts it back at the end); one whose held-back data fails is
 * finished at once */
void gi_job_resume(lua_State *L, int client_idx, gi_job *job);
/* the round's budget is spent: every running transfer pauses until a later
 * round resumes it (transfer.h gi_transfer_hold_running) */
void gi_job_hold_running(gi_client *c);
/* nudges every running, unpaused transfer (transfer.h gi_transfer_nudge) */
void gi_job_nudge_running(gi_client *c);
/* Runs pending callbacks of every job of the client; returns 1 and leaves
 * the first callback error on the stack if one raised, else 0. */
int gi_job_deliver(lua_State *L, int client_idx);
/* Ends every job of a closing client without running callbacks. */
void gi_job_cancel_all(lua_State *L, gi_client *c);

#endif
