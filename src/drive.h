/* drive: the client's multi handle and the rounds of work that move its
 * jobs.
 *
 * The multi handle and the header list every request carries are made by
 * gi_drive_ready when the first job starts, which is also when libcurl is
 * loaded (see curlapi.h): making a client costs no more than its options.
 * A round starts the retries that are due, resumes the transfers the last
 * round paused, lets curl work, finishes the transfers curl reports done and
 * runs the callbacks.  It never blocks; gi_drive_sleep is the one place that
 * waits, and only the calls that block (wait.c) call it.  Nothing here is a
 * Lua method: client.c and wait.c call down into this file, and this file
 * calls down into the jobs (job.h), never back up.
 *
 * The round's work budget (round_deadline, round_pieces, round_cut in
 * client_state.h) is set here and spent by the transfer callbacks. */
#ifndef GPTIMAGE_DRIVE_H
#define GPTIMAGE_DRIVE_H

#include "client_state.h"

/* the work one client:poll() does by default, in seconds (see gi_drive_round):
 * a round ends about 0.1 ms past its budget (the piece in hand, curl's own
 * work, the callbacks), so a quarter of a millisecond keeps nearly every
 * poll under half a millisecond of CPU */
#define GI_POLL_BUDGET 0.00025

/* Checks the client at idx (raises when closed), then loads libcurl and
 * makes the multi handle and the header list if they are not made yet;
 * raises if libcurl cannot be loaded.  Every path that starts a job calls
 * it first: the job files take a ready client as given. */
gi_client *gi_drive_ready(lua_State *L, int idx);
/* One round: starts due retries, resumes transfers the last round paused,
 * lets curl work, finishes transfers, runs callbacks.  Never blocks.  With
 * budget >= 0 (seconds) the transfers take body pieces until the budget is
 * spent (always at least one piece) and then pause until the next round;
 * finishing a transfer (results, files, callbacks) is not cut.  budget < 0:
 * everything that has arrived.  Returns whether the budget ran out with
 * data waiting.  Raises the first callback error once curl is back in a
 * consistent state.  Raises when the client is closed. */
int gi_drive_round(lua_State *L, int client_idx, double budget);
/* Blocks in curl_multi_poll until something may have happened (curl's own
 * timeout, the next retry), at most max_seconds (< 0: no bound of our
 * own).  Returns at once when no job was ever started. */
void gi_drive_sleep(gi_client *c, double max_seconds);
/* Ends every job without running callbacks and frees the multi handle and
 * the header list (the key in it wiped first): the client is closing. */
void gi_drive_release(lua_State *L, gi_client *c);

#endif
