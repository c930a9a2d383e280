/* download: the images of a dall-e url response saved to files (see download.h). */
#include <stdio.h>
#include <string.h>
#include "download.h"
#include "transfer.h"
#include "result.h"
#include "retry.h"
#include "savepath.h"

static int start_download(lua_State *L, int job_idx, gi_job *job) {
  gi_client *c = job->client;
  char path[4096], err[300];
  const char *url;
  gi_sink *s;
  CURLcode rc = CURLE_OK;
  gi_uv_get(L, job_idx, "urls");
  lua_rawgeti(L, -1, (int)job->download_index + 1);
  url = lua_tostring(L, -1);
  if (url == NULL) {
    lua_pop(L, 2);
    return 1; /* no more */
  }
  if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0) {
    lua_pop(L, 2);
    gi_transfer_fail(job, "decode", "%s", "the response holds an image url that is not http(s)");
    return -1;
  }
  if (gi_savepath(job->save, (unsigned)job->download_index + 1, (unsigned)job->req.n,
                  gi_savepath_ext(job->req.output_format), path, sizeof path) != 0) {
    lua_pop(L, 2);
    gi_transfer_fail(job, "io", "%s", "save path too long");
    return -1;
  }
  s = gi_sink_new_file(path, 0, err, sizeof err);
  if (s == NULL) {
    lua_pop(L, 2);
    gi_transfer_fail(job, "io", "%s", err);
    return -1;
  }
  if (gi_transfer_put_image(job, job->download_index, s) != 0) {
    lua_pop(L, 2);
    gi_sink_free(s);
    gi_transfer_fail(job, "io", "%s", "out of memory");
    return -1;
  }
  job->current = s;
  gi_transfer_clear_pause(job); /* a download that timed out while paused */
  curl_easy_reset(job->easy);
  if (gi_transfer_setup(job, c) != 0) rc = CURLE_FAILED_INIT;
  /* image URLs live on another host: no credentials go there */
  rc |= curl_easy_setopt(job->easy, CURLOPT_URL, url);
  rc |= curl_easy_setopt(job->easy, CURLOPT_FOLLOWLOCATION, 1L);
  rc |= curl_easy_setopt(job->easy, CURLOPT_MAXREDIRS, 5L);
  rc |= curl_easy_setopt(job->easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  lua_pop(L, 2);
  if (rc != CURLE_OK) {
    gi_transfer_fail(job, "io", "%s", "cannot set up the image download");
    return -1;
  }
  job->status = 0;
  job->received = 0;
  job->body_started = 0;
  job->excerpt_len = 0;
  job->retry_after = -1;
  job->download_attempt = 1;
  job->refused_retried = 0; /* each image its own once (transfer.h) */
  if (gi_transfer_attach(job) != 0) {
    gi_transfer_fail(job, "io", "%s", "cannot start the image download");
    return -1;
  }
  return 0;
}

/* Failures of an image download worth another try: the image host's
 * transient statuses and a connection that failed or broke. */
static int download_retryable(CURLcode rc, long status) {
  return rc == CURLE_OK ? gi_retry_status_retryable(status) : gi_retry_curl_retryable(rc);
}

/* The image at download_index is fetched again into a new temporary file
 * (the broken one is removed): after a backoff, as one more attempt, or at
 * once and not counted when the failure was not the image host's (a kept
 * connection it had closed, trust to try again with; as for the request
 * itself, result.c). -1 when that cannot be set up: the failure is then
 * reported as it was. */
static int retry_download(gi_job *job, int at_once) {
  char err[300];
  gi_sink *fresh = gi_sink_new_file(gi_sink_path(job->current), 0, err, sizeof err);
  if (fresh == NULL) return -1;
  gi_transfer_put_image(job, job->download_index, fresh); /* frees the broken one */
  job->current = fresh;
  if (at_once) {
    gi_retry_wait(job, gi_now());
  } else {
    job->download_attempt++;
    gi_retry_wait(job, gi_now() + gi_retry_backoff(job->download_attempt, job->retry_after));
  }
  job->status = 0;
  job->received = 0;
  job->body_started = 0;
  job->excerpt_len = 0;
  job->retry_after = -1;
  job->errbuf[0] = '\0';
  return 0;
}

/* The first bytes of the body (kept as the excerpt) are a PNG, JPEG, WebP
 * or GIF: a login page or an error text answered with 200 is not saved. */
static int is_image(const gi_job *job) {
  const unsigned char *h = (const unsigned char *)job->excerpt;
  size_t n = job->excerpt_len;
  if (n >= 8 && memcmp(h, "\x89PNG\r\n\x1a\n", 8) == 0) return 1;
  if (n >= 3 && h[0] == 0xFF && h[1] == 0xD8 && h[2] == 0xFF) return 1;
  if (n >= 12 && memcmp(h, "RIFF", 4) == 0 && memcmp(h + 8, "WEBP", 4) == 0) return 1;
  if (n >= 6 && (memcmp(h, "GIF87a", 6) == 0 || memcmp(h, "GIF89a", 6) == 0)) return 1;
  return 0;
}

void gi_download_done(lua_State *L, int job_idx, gi_job *job, CURLcode rc) {
  long status = 0;
  int again;
  /* the status first: an answer that began means the host took the request */
  if (curl_easy_getinfo(job->easy, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK) status = 0;
  job->status = status;
  again = gi_transfer_trust_fallback(job, rc) || gi_transfer_refused_on_reuse(job, rc);
  if (!job->fail_kind && job->current &&
      (again || (download_retryable(rc, status) && job->download_attempt <= job->max_retries)) &&
      retry_download(job, again) == 0)
    return;
  if (!job->fail_kind && rc != CURLE_OK)
    gi_transfer_fail(job, rc == CURLE_OPERATION_TIMEDOUT ? "timeout" : "network", "image download failed: %s",
             job->errbuf[0] ? job->errbuf : curl_easy_strerror(rc));
  if (!job->fail_kind && (status < 200 || status >= 300)) {
    char s[16];
    snprintf(s, sizeof s, "%ld", status);
    gi_transfer_fail(job, "http", "image download answered HTTP %s", s);
  }
  if (!job->fail_kind && !is_image(job)) {
    char what[64];
    snprintf(what, sizeof what, "%.60s", job->content_type[0] ? job->content_type : "no content type");
    gi_transfer_fail(job, "decode", "the image download answered something that is not an image (%s)", what);
  }
  if (!job->fail_kind && job->current && gi_sink_finish(job->current) != GI_SINK_OK)
    gi_transfer_sink_fail(job, job->current, GI_SINK_EIO);
  job->current = NULL;
  if (job->fail_kind) {
    /* the images are paid for: their addresses go with the error, so that
     * they can still be fetched while the links last */
    gi_result_push_error(L, job, job->fail_kind, job->fail_msg);
    gi_uv_get(L, job_idx, "urls");
    lua_setfield(L, -2, "urls");
    gi_result_fail(L, job_idx, job);
    return;
  }
  job->download_index++;
  gi_download_next(L, job_idx, job);
}

void gi_download_next(lua_State *L, int job_idx, gi_job *job) {
  int r = start_download(L, job_idx, job);
  if (r < 0) {
    gi_result_fail_kind(L, job_idx, job, job->fail_kind, job->fail_msg);
  } else if (r > 0) {
    gi_uv_get(L, job_idx, "doc");
    gi_result_succeed(L, job_idx, job, lua_gettop(L));
    lua_pop(L, 1);
  }
}

