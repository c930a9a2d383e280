/* deliver: runs the callbacks of finished jobs (on_partial, on_done,
 * a batch's on_progress) from poll and wait, outside libcurl.
 *
 * gi_job_deliver (job.h) is the entry.  Callbacks run under pcall: the
 * first error is kept and re-raised by the caller once curl is consistent,
 * later ones are dropped. */
#ifndef GPTIMAGE_DELIVER_H
#define GPTIMAGE_DELIVER_H

#include "job_internal.h"

/* calls the function below its nargs arguments under pcall; the first
 * error goes to the stack slot err_slot and sets *failed */
void gi_deliver_pcall(lua_State *L, int nargs, int err_slot, int *failed);

#endif
