/* raw: client:request{...}, plain requests to the endpoints around the
 * images (files and batches for the Batch API).  The body is kept as it is
 * (in memory, or a file with save); JSON answers are decoded too. */
#ifndef GPTIMAGE_RAW_H
#define GPTIMAGE_RAW_H

#include "job_internal.h"

/* starts a raw job from the options at opts and pushes it; raises on caller bugs */
gi_job *gi_raw_start(lua_State *L, int client_idx, int opts);
/* ends the job with its 2xx answer */
void gi_raw_finish(lua_State *L, int job_idx, gi_job *job);

#endif
