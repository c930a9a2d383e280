/* wait: what blocks, above the drive.
 *
 * job:wait([seconds]) and the blocking client calls (generate, edit,
 * variation, batch, request, and the module's own generate/edit/variation
 * on the default client) start a job and then run rounds of the drive and
 * sleep in it until the job is delivered.  Nothing below calls these: a
 * round never waits, and a job never drives its client. */
#ifndef GPTIMAGE_WAIT_H
#define GPTIMAGE_WAIT_H

#include "lua_compat.h"

/* adds wait to the gptimage.Job methods; after gi_job_open */
void gi_wait_open(lua_State *L);
/* client:generate/edit/variation(opts), client at 1: start + wait */
int gi_wait_call(lua_State *L, const char *op);
/* client:batch(list, opts): start + wait */
int gi_wait_batch(lua_State *L);
/* client:request{method=, path=, query=, json= | body= | form=, save=}: start + wait */
int gi_wait_request(lua_State *L);

#endif
