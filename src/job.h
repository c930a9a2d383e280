/* job: the gptimage.Job userdata, one API call from start to result.
 *
 * A job owns its curl easy handle, the built request, the response state
 * (scanner, SSE framer, image sinks) and its retry schedule.  Its uservalue
 * table anchors the client, the options and every Lua value the transfer
 * points into.  A batch is a job too: it has no transfer of its own and
 * advances as its children end. */
#ifndef GPTIMAGE_JOB_H
#define GPTIMAGE_JOB_H

#include "curlapi.h"
#include "lua_compat.h"
#include "client.h"

#define GI_JOB_MT "gptimage.Job"

void gi_job_open(lua_State *L);
/* client:start(op, opts) and client:start("batch", list, opts); client at 1 */
int gi_job_start(lua_State *L);
/* client:batch(list, opts): blocking */
int gi_job_batch(lua_State *L);
/* client:request{method=, path=, query=, json= | body= | form=, save=}: blocking */
int gi_job_request(lua_State *L);
/* client:generate/edit/variation: start + wait */
int gi_job_call(lua_State *L, const char *op);

/* Used by client.c's drive loop. */
void gi_job_transfer_done(lua_State *L, int client_idx, gi_job *job, CURLcode rc);
int gi_job_pending(gi_client *c);  /* jobs not yet delivered */
void gi_job_start_due_retries(lua_State *L, gi_client *c, double now);
double gi_job_next_retry(gi_client *c);  /* earliest retry time, or 0 */
/* lets the transfers the last round paused go on, as the budget allows;
 * one whose resumed data fails is finished at once */
void gi_job_resume_paused(lua_State *L, int client_idx, gi_client *c);
/* Runs pending callbacks of every job of the client; returns 1 and leaves
 * the first callback error on the stack if one raised, else 0. */
int gi_job_deliver(lua_State *L, int client_idx);
/* Ends every job of a closing client without running callbacks. */
void gi_job_cancel_all(lua_State *L, gi_client *c);

#endif
