/* raw: client:request{...}, plain requests to the endpoints around the
 * images (files and batches for the Batch API).  The body is kept as it is
 * (in memory, or a file with save); JSON answers are decoded too. */
#ifndef GPTIMAGE_RAW_H
#define GPTIMAGE_RAW_H

#include "job_internal.h"

/* gi_raw_start, client:request's start, is in job.h */
/* ends the job with its 2xx answer */
void gi_raw_finish(lua_State *L, int job_idx, gi_job *job);

#endif
