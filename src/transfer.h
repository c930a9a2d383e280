/* transfer: the libcurl callbacks of a job, pure C.
 *
 * gi_transfer_on_header and gi_transfer_on_body take what libcurl hands over
 * and move it into the job's response fields (status, request id, content
 * type, Retry-After, x-should-retry, the excerpt of the body) and into its
 * sinks: a JSON body goes through the scanner, an event stream through the
 * SSE framer and then the scanner, and every b64_json value streams into an
 * image sink (a file when saving, memory otherwise); partial images queue on
 * job->partials; url downloads and raw requests write the body as it is.
 *
 * Contract: nothing here touches Lua or raises, so no Lua error can unwind
 * through libcurl.  The first failure is kept in job->fail_kind/fail_msg and
 * the callback returns a short count so that libcurl stops the transfer;
 * results are built later, outside libcurl (result.c).  Whatever a server
 * sends, these functions only write inside the job's own buffers. */
#ifndef GPTIMAGE_TRANSFER_H
#define GPTIMAGE_TRANSFER_H

#include "job_internal.h"

/* CURLOPT_HEADERFUNCTION and CURLOPT_WRITEFUNCTION; ud is the job.  The
 * body callback keeps the client's round budget (client_state.h, set by
 * drive.c): past the deadline it pauses the transfer (job->paused) instead
 * of reading on. */
size_t gi_transfer_on_header(char *p, size_t size, size_t nmemb, void *ud);
size_t gi_transfer_on_body(char *p, size_t size, size_t nmemb, void *ud);
/* the options every easy handle of a job gets (callbacks, timeouts, TLS,
 * proxy); 0, or -1 when curl refused one */
int gi_transfer_setup(gi_job *job, gi_client *c);
/* Called with every finished transfer.  When the server failed
 * verification against the default directory alone (see trust.h), the
 * job's handle now loads the default pair: 1, the attempt is tried again
 * at once (not counted as a retry).  When such a second try got an
 * answer, later transfers load the pair too.  Otherwise 0. */
int gi_transfer_trust_fallback(gi_job *job, CURLcode rc);
/* Called with every finished transfer.  An HTTP/2 connection kept from an
 * earlier request that the server had meanwhile closed (GOAWAY, as servers
 * do with idle ones): libcurl 7.88 may still send the request on it, and
 * fails it with CURLE_HTTP2 before any answer.  The server processed none
 * of it (its stream comes after the last one the server took), so 1: it
 * goes again at once on a new connection, not counted as a retry, once
 * per request and once per image download.  Otherwise 0. */
int gi_transfer_refused_on_reuse(gi_job *job, CURLcode rc);
/* a scanner whose b64_json values go to the job's image sinks, or NULL */
gi_scanner *gi_transfer_new_scanner(gi_job *job);

/* records the first failure of the body: kind and fmt with one %s (detail) */
void gi_transfer_fail(gi_job *job, const char *kind, const char *fmt, const char *detail);
/* records a sink's failure (rc: GI_SINK_E*; s may be NULL: out of memory) */
void gi_transfer_sink_fail(gi_job *job, gi_sink *s, int rc);
/* image slot index takes s (any sink already there is freed); 0 or -1 */
int gi_transfer_put_image(gi_job *job, size_t index, gi_sink *s);
/* removes the temporary files of every image of the attempt */
void gi_transfer_abort_images(gi_job *job);
void gi_transfer_free_partials(gi_job *job);
/* drops everything one attempt received (temporary files are removed) and
 * readies the job for the next attempt */
void gi_transfer_reset(gi_job *job);
/* a transfer paused by the poll budget goes on: libcurl hands over what it
 * held back at once (this callback may pause it again) */
CURLcode gi_transfer_resume(gi_job *job);
/* a job whose transfer ended while paused starts its next one unpaused;
 * what libcurl held back is dropped */
void gi_transfer_clear_pause(gi_job *job);

/* Puts the job's transfer into its client's multi handle and its list of
 * running transfers; 0, or -1 when curl refused it.  Every path that starts
 * or restarts a transfer goes through here. */
int gi_transfer_attach(gi_job *job);
/* The round's budget is spent (sets round_cut): pauses every running
 * transfer that is not paused yet and queues it on the client's paused
 * list, so that curl reads none of their sockets until a later round
 * resumes them, in the order they were queued.  Pausing costs no copy:
 * curl only stops reading. */
void gi_transfer_hold_running(gi_client *c);
/* Takes the job's transfer out of its client's multi handle (nothing when
 * it is not in it) and asks for the transfers left to be nudged
 * (client_state.h nudge_rounds): every path that ends or drops a transfer
 * goes through here. */
void gi_transfer_detach(gi_job *job);
/* Makes libcurl read the connection of a running, unpaused transfer at the
 * next curl_multi_perform even though its socket has nothing new; nothing
 * for a paused transfer, one not in the multi handle, or one whose answer
 * came over HTTP/1.x (its connection is its own).  Why: libcurl 7.88
 * (HTTP/2) stops decoding a connection's input when one stream's receive
 * buffer is full and resumes when that stream reads again; when that
 * stream's transfer ends on its last bytes (Content-Length reached) first,
 * the frames behind them, other streams' data and ends, stay in the
 * connection's buffer and only a readable socket, which will never come,
 * would decode them: the other transfers would wait until their timeout.
 * Pausing and unpausing marks the connection to be read. */
void gi_transfer_nudge(gi_job *job);

#endif
