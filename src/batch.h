/* batch: client:start("batch", list, opts), many image jobs as one.
 *
 * Every entry is validated before any starts; at most `concurrency` run at
 * once; each child reports to its batch when it is delivered (results in
 * list order, on_progress), and the batch ends when every entry has. */
#ifndef GPTIMAGE_BATCH_H
#define GPTIMAGE_BATCH_H

#include "job_internal.h"

/* gi_batch_start is in job.h */
/* the child at child_idx was delivered: record it, start the next entries;
 * callback errors go to err_slot (see deliver.h) */
void gi_batch_child_done(lua_State *L, int client_idx, int child_idx, gi_job *child,
                         int err_slot, int *failed);
/* ends the batch when every entry has reported */
void gi_batch_finish_if_done(lua_State *L, int parent_idx, gi_job *parent);

#endif
