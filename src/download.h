/* download: the images of a dall-e url response saved to files.
 *
 * With response_format = "url" and save, the response holds links: each is
 * fetched in turn on the job's own easy handle (no credentials go to the
 * image host), into a temporary file beside its target, retried like an API
 * call.  The links go with any error, so paid images can still be fetched. */
#ifndef GPTIMAGE_DOWNLOAD_H
#define GPTIMAGE_DOWNLOAD_H

#include "job_internal.h"

/* starts the download at job->download_index, or ends the job (result or
 * error) when none is left; uservalue "urls" and "doc" are set */
void gi_download_next(lua_State *L, int job_idx, gi_job *job);
/* the transfer of one download ended */
void gi_download_done(lua_State *L, int job_idx, gi_job *job, CURLcode rc);

#endif
