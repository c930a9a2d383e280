/* transfer: the libcurl callbacks of a job, pure C (see transfer.h). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdio.h>
#include <time.h>
#include "transfer.h"
#include "savepath.h"
#include "castore.h"
#include "trust.h"

#define SKELETON_LIMIT (16u * 1024u * 1024u)

void gi_transfer_fail(gi_job *job, const char *kind, const char *fmt, const char *detail) {
  if (job->fail_kind) return; /* the first failure is the cause */
  job->fail_kind = kind;
  snprintf(job->fail_msg, sizeof job->fail_msg, fmt, detail ? detail : "");
}

void gi_transfer_sink_fail(gi_job *job, gi_sink *s, int rc) {
  const char *kind = rc == GI_SINK_EBASE64 ? "decode" : rc == GI_SINK_ELIMIT ? "http" : "io";
  gi_transfer_fail(job, kind, "%s", s ? gi_sink_message(s) : "out of memory");
}

int gi_transfer_put_image(gi_job *job, size_t index, gi_sink *s) {
  if (index >= job->capimages) {
    size_t cap = job->capimages ? job->capimages * 2 : 4;
    gi_sink **p;
    while (cap <= index) cap *= 2;
    p = (gi_sink **)realloc(job->images, cap * sizeof *p);
    if (p == NULL) return -1;
    memset(p + job->capimages, 0, (cap - job->capimages) * sizeof *p);
    job->images = p;
    job->capimages = cap;
  }
  if (job->images[index]) gi_sink_free(job->images[index]);
  job->images[index] = s;
  if (index + 1 > job->nimages) job->nimages = index + 1;
  return 0;
}

void gi_transfer_free_partials(gi_job *job) {
  partial *p = job->partials;
  while (p) {
    partial *next = p->next;
    free(p->bytes);
    free(p->meta);
    free(p);
    p = next;
  }
  job->partials = job->partials_tail = NULL;
}

void gi_transfer_clear_pause(gi_job *job) {
  if (!job->paused) return;
  job->paused = 0;
  if (job->easy == NULL || job->in_multi) return;
  /* whatever libcurl still holds for the old attempt is thrown away */
  job->discarding = 1;
  curl_easy_pause(job->easy, CURLPAUSE_CONT);
  job->discarding = 0;
}

int gi_transfer_attach(gi_job *job) {
  gi_client *c = job->client;
  if (job->in_multi) return 0;
  if (c == NULL || c->multi == NULL || job->easy == NULL) return -1;
  if (curl_multi_add_handle(c->multi, job->easy) != CURLM_OK) return -1;
  job->in_multi = 1;
  job->running_next = NULL;
  job->running_prev = c->running_tail;
  if (c->running_tail) c->running_tail->running_next = job;
  else c->running_head = job;
  c->running_tail = job;
  return 0;
}

void gi_transfer_detach(gi_job *job) {
  gi_client *c = job->client;
  if (!job->in_multi) return;
  job->in_multi = 0;
  if (c != NULL) {
    if (job->running_prev) job->running_prev->running_next = job->running_next;
    else if (c->running_head == job) c->running_head = job->running_next;
    if (job->running_next) job->running_next->running_prev = job->running_prev;
    else if (c->running_tail == job) c->running_tail = job->running_prev;
  }
  job->running_prev = job->running_next = NULL;
  if (c == NULL || c->multi == NULL || job->easy == NULL) return;
  curl_multi_remove_handle(c->multi, job->easy);
  c->nudge_rounds = GI_NUDGE_ROUNDS;
}

void gi_transfer_hold_running(gi_client *c) {
  gi_job *job;
  c->round_cut = 1;
  for (job = c->running_head; job; job = job->running_next) {
    if (job->paused || job->easy == NULL || job->discarding || job->fail_kind) continue;
    /* CURLE_BAD_FUNCTION_ARGUMENT while it has no connection yet: it reads
     * nothing before it has one, and the next round holds it if need be */
    /* Both directions: pausing only the receiving side makes libcurl 7.88
     * mark the connection readable, and its next perform reads the socket
     * into the pause buffer anyway.  An upload still being sent waits for
     * the next round too. */
    if (curl_easy_pause(job->easy, CURLPAUSE_ALL) != CURLE_OK) continue;
    job->paused = GI_PAUSED_HELD;
    gi_job_queue_paused(job);
  }
}

void gi_transfer_nudge(gi_job *job) {
  long version = 0;
  if (job->paused || !job->in_multi || job->easy == NULL) return;
  /* a connection of its own (HTTP/1.1) has nothing of another transfer's
   * in its buffer; before the answer's headers the version reads 0, and
   * the nudge is cheap then */
  if (curl_easy_getinfo(job->easy, CURLINFO_HTTP_VERSION, &version) == CURLE_OK &&
      (version == CURL_HTTP_VERSION_1_0 || version == CURL_HTTP_VERSION_1_1))
    return;
  /* CURLE_BAD_FUNCTION_ARGUMENT while it has no connection yet: nothing
   * is held for it then.  Another failure is the connection's, and the
   * transfer meets it at its next read. */
  if (curl_easy_pause(job->easy, CURLPAUSE_RECV) == CURLE_OK) (void)curl_easy_pause(job->easy, CURLPAUSE_CONT);
}

CURLcode gi_transfer_resume(gi_job *job) {
  job->paused = 0;
  return curl_easy_pause(job->easy, CURLPAUSE_CONT);
}

/* Frees the sink of the event being read, unless an image slot holds it
 * (a completed event streams straight into its slot): that one is the
 * slot's to free. */
static void drop_event_sink(gi_job *job, gi_sink *s) {
  size_t i;
  if (s == NULL) return;
  for (i = 0; i < job->nimages; i++)
    if (job->images[i] == s) return;
  gi_sink_free(s);
}

/* Drops everything one attempt received; temp files are removed. */
void gi_transfer_reset(gi_job *job) {
  size_t i;
  gi_transfer_clear_pause(job);
  drop_event_sink(job, job->current); /* one held by a slot is freed below */
  job->current = NULL;
  for (i = 0; i < job->nimages; i++) {
    if (job->images[i]) gi_sink_free(job->images[i]);
    job->images[i] = NULL;
  }
  job->nimages = 0;
  free(job->final_meta);
  free(job->error_event);
  job->final_meta = job->error_event = NULL;
  job->status = 0;
  job->request_id[0] = job->content_type[0] = '\0';
  job->retry_after = -1;
  job->should_retry = -1;
  job->received = 0;
  job->expected = -1;
  job->chunk_offset = 0;
  job->body_started = job->sse_mode = 0;
  job->event = EV_UNKNOWN;
  job->completed = 0;
  job->fail_kind = NULL;
  job->fail_msg[0] = '\0';
  job->excerpt_len = 0;
  job->errbuf[0] = '\0';
  if (job->scanner) gi_scanner_reset(job->scanner);
}

/* transfer callbacks: pure C */

static int scan_b64_begin(void *ud, unsigned index) {
  gi_job *job = (gi_job *)ud;
  gi_sink *s;
  char err[300];
  /* a second image string in one event: the first one's sink is dropped
   * (a slot's stays with its slot) */
  drop_event_sink(job, job->current);
  job->current = NULL;
  if (job->status < 200 || job->status >= 300) return 0;
  if (job->sse_mode && job->event != EV_COMPLETED) {
    /* a partial image, or an event not yet known: always memory */
    s = gi_sink_new_memory(0);
    if (s == NULL) {
      gi_transfer_fail(job, "io", "%s", "out of memory");
      return 1;
    }
    job->current = s;
    return 0;
  }
  if (job->sse_mode) index = job->completed;
  if (job->save) {
    char path[4096];
    if (gi_savepath(job->save, index + 1, (unsigned)job->req.n, gi_savepath_ext(job->req.output_format),
                    path, sizeof path) != 0) {
      gi_transfer_fail(job, "io", "%s", "save path too long");
      return 1;
    }
    s = gi_sink_new_file(path, 0, err, sizeof err);
    if (s == NULL) {
      gi_transfer_fail(job, "io", "%s", err);
      return 1;
    }
  } else {
    s = gi_sink_new_memory(0);
    if (s == NULL) {
      gi_transfer_fail(job, "io", "%s", "out of memory");
      return 1;
    }
    /* room for what the rest of the body can decode to, once, rather than
     * doubling and copying as it grows: an image is most of its body */
    if (!job->sse_mode && job->expected > job->chunk_offset && job->client &&
        job->expected <= job->client->max_response)
      (void)gi_sink_reserve(s, (size_t)((job->expected - job->chunk_offset) / 4.0 * 3.0) + 3);
  }
  if (gi_transfer_put_image(job, index, s) != 0) {
    gi_sink_free(s);
    gi_transfer_fail(job, "io", "%s", "out of memory");
    return 1;
  }
  job->current = s;
  return 0;
}

static int scan_b64_data(void *ud, const char *text, size_t len) {
  gi_job *job = (gi_job *)ud;
  int rc;
  if (job->current == NULL) return 0;
  rc = gi_sink_write_b64(job->current, text, len);
  if (rc != GI_SINK_OK) {
    gi_transfer_sink_fail(job, job->current, rc);
    return 1;
  }
  return 0;
}

static int scan_b64_end(void *ud) {
  gi_job *job = (gi_job *)ud;
  int rc;
  if (job->current == NULL) return 0;
  rc = gi_sink_finish(job->current);
  if (rc != GI_SINK_OK) {
    gi_transfer_sink_fail(job, job->current, rc);
    return 1;
  }
  if (!job->sse_mode) job->current = NULL;
  return 0;
}

static event_kind classify_event(const char *name) {
  if (name == NULL || name[0] == '\0') return EV_UNKNOWN;
  if (strstr(name, "partial_image")) return EV_PARTIAL;
  if (strstr(name, "completed")) return EV_COMPLETED;
  return EV_OTHER;
}

static int sse_data(void *ud, const char *p, size_t n, int first) {
  gi_job *job = (gi_job *)ud;
  if (first) {
    gi_scanner_reset(job->scanner);
    job->event = classify_event(job->sse.event);
    drop_event_sink(job, job->current);
    job->current = NULL;
  }
  if (gi_scanner_feed(job->scanner, p, n) != GI_SCAN_OK) {
    gi_transfer_fail(job, "decode", "bad event in the stream: %s", gi_scanner_message(job->scanner));
    return 1;
  }
  return 0;
}

static char *dup_bytes(const char *p, size_t n) {
  char *s = (char *)malloc(n + 1);
  if (s == NULL) return NULL;
  memcpy(s, p, n);
  s[n] = '\0';
  return s;
}

/* The event's image moves to where it belongs: the partial queue, or the
 * result (a file when saving). */
static int sse_dispatch(void *ud, const char *name) {
  gi_job *job = (gi_job *)ud;
  size_t len;
  const char *skel;
  event_kind kind = job->event;
  gi_sink *s = job->current;
  job->current = NULL;
  if (gi_scanner_finish(job->scanner) != GI_SCAN_OK) {
    drop_event_sink(job, s); /* a completed event's image stays in its slot */
    gi_transfer_fail(job, "decode", "bad event in the stream: %s", gi_scanner_message(job->scanner));
    return 1;
  }
  skel = gi_scanner_skeleton(job->scanner, &len);
  if (kind == EV_UNKNOWN) {
    if (strstr(skel, "partial_image")) kind = EV_PARTIAL;
    else if (strstr(skel, ".completed\"")) kind = EV_COMPLETED;
    else kind = EV_OTHER;
  }
  (void)name;
  if (kind == EV_PARTIAL) {
    partial *p = (partial *)calloc(1, sizeof *p);
    if (p == NULL || (p->meta = dup_bytes(skel, len)) == NULL) {
      free(p);
      gi_sink_free(s);
      gi_transfer_fail(job, "io", "%s", "out of memory");
      return 1;
    }
    p->meta_len = len;
    if (s) p->bytes = gi_sink_take(s, &p->len);
    gi_sink_free(s);
    if (job->partials_tail) job->partials_tail->next = p;
    else job->partials = p;
    job->partials_tail = p;
    gi_job_queue_ready(job);
    return 0;
  }
  if (kind == EV_COMPLETED) {
    unsigned index = job->completed++;
    if (s && job->event != EV_COMPLETED && job->save) {
      /* the event name came too late to stream into the file: copy it now */
      char path[4096], err[300];
      size_t n;
      const char *bytes = gi_sink_data(s, &n);
      gi_sink *f;
      if (gi_savepath(job->save, index + 1, (unsigned)job->req.n,
                      gi_savepath_ext(job->req.output_format), path, sizeof path) != 0) {
        gi_sink_free(s);
        gi_transfer_fail(job, "io", "%s", "save path too long");
        return 1;
      }
      f = gi_sink_new_file(path, 0, err, sizeof err);
      if (f == NULL) {
        gi_sink_free(s);
        gi_transfer_fail(job, "io", "%s", err);
        return 1;
      }
      if (gi_sink_write_raw(f, bytes, n) != GI_SINK_OK || gi_sink_finish(f) != GI_SINK_OK) {
        gi_transfer_sink_fail(job, f, GI_SINK_EIO);
        gi_sink_free(f);
        gi_sink_free(s);
        return 1;
      }
      gi_sink_free(s);
      s = f;
    }
    if (s && job->event != EV_COMPLETED) {
      if (gi_transfer_put_image(job, index, s) != 0) {
        gi_sink_free(s);
        gi_transfer_fail(job, "io", "%s", "out of memory");
        return 1;
      }
    }
    free(job->final_meta);
    job->final_meta = dup_bytes(skel, len);
    if (job->final_meta == NULL) {
      gi_transfer_fail(job, "io", "%s", "out of memory");
      return 1;
    }
    return 0;
  }
  gi_sink_free(s);
  if (job->error_event == NULL && strstr(skel, "\"error\"")) {
    job->error_event = dup_bytes(skel, len);
    if (job->error_event == NULL) {
      gi_transfer_fail(job, "io", "%s", "out of memory");
      return 1;
    }
  }
  return 0;
}

static void start_body(gi_job *job) {
  long status = 0;
  curl_off_t length = -1;
  job->body_started = 1;
  /* no handle: a job driven without libcurl (fuzz/fuzz_transfer.c) */
  if (job->easy && curl_easy_getinfo(job->easy, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK) job->status = status;
  /* a gzip answer's length is not its decoded length: only a hint */
  job->expected = -1;
  if (job->easy && curl_easy_getinfo(job->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length) == CURLE_OK &&
      length >= 0)
    job->expected = (double)length;
  if (job->status >= 200 && job->status < 300 && !job->downloading && job->kind != JOB_RAW &&
      strncasecmp(job->content_type, "text/event-stream", 17) == 0) {
    job->sse_mode = 1;
    gi_sse_cb cb;
    cb.ud = job;
    cb.data = sse_data;
    cb.dispatch = sse_dispatch;
    gi_sse_init(&job->sse, &cb);
  }
}

size_t gi_transfer_on_body(char *p, size_t size, size_t nmemb, void *ud) {
  gi_job *job = (gi_job *)ud;
  gi_client *c = job->client;
  size_t n = size * nmemb;
  int rc;
  if (job->discarding) return n;
  if (job->fail_kind) return 0;
  /* the round's budget: one piece always, then only while time is left */
  if (c && c->round_deadline > 0) {
    if (c->round_pieces > 0 && gi_now() >= c->round_deadline) {
      job->paused = GI_PAUSED_DATA;
      c->round_bytes += n;
      gi_job_queue_paused(job);
      /* the first transfer to meet the spent budget holds the others, so
       * that curl reads no more of their sockets this round */
      if (!c->round_cut) gi_transfer_hold_running(c);
      return CURL_WRITEFUNC_PAUSE;
    }
    c->round_pieces++;
    c->round_bytes += n;
  }
  job->chunk_offset = job->received;
  job->received += (double)n;
  if (job->client && job->received > job->client->max_response) {
    char limit[64];
    snprintf(limit, sizeof limit, "%.0f", job->client->max_response);
    gi_transfer_fail(job, "http", "response larger than max_response_bytes (%s)", limit);
    return 0;
  }
  if (!job->body_started) start_body(job);
  if (job->excerpt_len < sizeof job->excerpt) {
    size_t take = sizeof job->excerpt - job->excerpt_len;
    if (take > n) take = n;
    memcpy(job->excerpt + job->excerpt_len, p, take);
    job->excerpt_len += take;
  }
  if (job->kind == JOB_RAW && job->status >= 200 && job->status < 300 && job->current == NULL) {
    char err[300];
    job->current = job->save ? gi_sink_new_file(job->save, 0, err, sizeof err) : gi_sink_new_memory(0);
    if (job->current == NULL) {
      gi_transfer_fail(job, "io", "%s", job->save ? err : "out of memory");
      return 0;
    }
  }
  if (job->downloading || (job->kind == JOB_RAW && job->status >= 200 && job->status < 300)) {
    if (job->status < 200 || job->status >= 300 || job->current == NULL) return n;
    rc = gi_sink_write_raw(job->current, p, n);
    if (rc != GI_SINK_OK) {
      gi_transfer_sink_fail(job, job->current, rc);
      return 0;
    }
    return n;
  }
  if (job->sse_mode) {
    if (gi_sse_feed(&job->sse, p, n) != GI_SSE_OK) {
      gi_transfer_fail(job, "decode", "%s", "malformed event stream");
      return 0;
    }
    return job->fail_kind ? 0 : n;
  }
  rc = gi_scanner_feed(job->scanner, p, n);
  if (rc != GI_SCAN_OK) {
    if (rc == GI_SCAN_ECALLBACK) return 0; /* the callback set the cause */
    /* Error bodies that are not JSON (an HTML 502) are judged later from
     * the excerpt; a 2xx body that is not JSON is a decode failure. */
    if (job->status >= 200 && job->status < 300) {
      gi_transfer_fail(job, rc == GI_SCAN_ELIMIT ? "http" : "decode", "bad response body: %s",
               gi_scanner_message(job->scanner));
      return 0;
    }
  }
  return n;
}

static int header_is(const char *line, size_t n, const char *name, const char **value, size_t *vlen) {
  size_t k = strlen(name);
  if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':') return 0;
  line += k + 1;
  n -= k + 1;
  while (n > 0 && (*line == ' ' || *line == '\t')) line++, n--;
  while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == '\n' || line[n - 1] == ' ')) n--;
  *value = line;
  *vlen = n;
  return 1;
}

static void copy_header(char *dst, size_t dstlen, const char *v, size_t n) {
  size_t i, j = 0;
  for (i = 0; i < n && j + 1 < dstlen; i++)
    if ((unsigned char)v[i] >= 0x20 && v[i] != 0x7f) dst[j++] = v[i];
  dst[j] = '\0';
}

/* A plain decimal number ("12", "1.5"): what retry-after and retry-after-ms
 * hold. strtod would also take hex ("0x10"), "inf", "nan" and exponents. */
static int parse_decimal(const char *s, double *out) {
  const char *p = s;
  int digits = 0;
  while (*p >= '0' && *p <= '9') p++, digits++;
  if (*p == '.') {
    p++;
    while (*p >= '0' && *p <= '9') p++, digits++;
  }
  if (digits == 0 || *p != '\0') return 0;
  *out = strtod(s, NULL);
  return 1;
}

size_t gi_transfer_on_header(char *p, size_t size, size_t nmemb, void *ud) {
  gi_job *job = (gi_job *)ud;
  size_t n = size * nmemb;
  const char *v;
  size_t vlen;
  char tmp[64];
  if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
    /* a new response (after a 100 Continue): forget the previous headers */
    job->request_id[0] = job->content_type[0] = '\0';
    job->retry_after = -1;
    job->should_retry = -1;
    return n;
  }
  if (header_is(p, n, "x-request-id", &v, &vlen) || header_is(p, n, "apim-request-id", &v, &vlen)) {
    if (job->request_id[0] == '\0' || strncasecmp(p, "x-", 2) == 0)
      copy_header(job->request_id, sizeof job->request_id, v, vlen);
  } else if (header_is(p, n, "content-type", &v, &vlen)) {
    copy_header(job->content_type, sizeof job->content_type, v, vlen);
  } else if (header_is(p, n, "retry-after-ms", &v, &vlen)) {
    double ms;
    copy_header(tmp, sizeof tmp, v, vlen);
    if (parse_decimal(tmp, &ms)) job->retry_after = ms / 1000.0;
  } else if (header_is(p, n, "retry-after", &v, &vlen)) {
    double s;
    copy_header(tmp, sizeof tmp, v, vlen);
    if (parse_decimal(tmp, &s)) {
      if (job->retry_after < 0) job->retry_after = s;
    } else {
      time_t when = curl_getdate(tmp, NULL);
      if (when > 0 && job->retry_after < 0) {
        double d = difftime(when, time(NULL));
        job->retry_after = d > 0 ? d : 0;
      }
    }
  } else if (header_is(p, n, "x-should-retry", &v, &vlen)) {
    if (vlen == 4 && strncasecmp(v, "true", 4) == 0) job->should_retry = 1;
    else if (vlen == 5 && strncasecmp(v, "false", 5) == 0) job->should_retry = 0;
  }
  return n;
}

void gi_transfer_abort_images(gi_job *job) {
  size_t i;
  for (i = 0; i < job->nimages; i++)
    if (job->images[i]) gi_sink_abort(job->images[i]);
}

/* SSL_CERT_FILE / SSL_CERT_DIR when set; libcurl's own pair is left alone */
static CURLcode set_default_pair(CURL *e) {
  const gi_trust *t = gi_trust_default();
  CURLcode rc = CURLE_OK;
  if (strcmp(t->source, "environment") != 0) return CURLE_OK;
  rc |= curl_easy_setopt(e, CURLOPT_CAINFO, t->file);
  rc |= curl_easy_setopt(e, CURLOPT_CAPATH, t->dir);
  return rc;
}

int gi_transfer_trust_fallback(gi_job *job, CURLcode rc) {
  long status = 0;
  /* the default trust is only looked at by transfers that loaded it: a
   * plain-HTTP client never has it judged (that costs milliseconds) */
  if (rc == CURLE_PEER_FAILED_VERIFICATION && job->trust_dir_only) {
    const gi_trust *t = gi_trust_default();
    /* the directory alone did not vouch for the server: the pair may */
    job->trust_dir_only = 0;
    job->trust_fallback = 1;
    return gi_castore_drop(job->easy) == CURLE_OK && curl_easy_setopt(job->easy, CURLOPT_CAINFO, t->file) == CURLE_OK &&
           curl_easy_setopt(job->easy, CURLOPT_CAPATH, t->dir) == CURLE_OK;
  }
  if (job->trust_fallback) {
    /* an answer came through the pair where the directory failed: the
     * directory is not what it seemed, and no transfer relies on it again
     * (a server nobody vouches for fails both and changes nothing) */
    job->trust_fallback = 0;
    if (curl_easy_getinfo(job->easy, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status > 0)
      (void)gi_trust_dir_failed();
  }
  return 0;
}

/* The store the client's connections share: made the first time a
 * transfer verifies a server (the client's first job, started by the
 * caller, not in a poll, when the client speaks TLS), of the authorities
 * gi_transfer_setup would have each connection load.  NULL where there is
 * none: its transfers load their own, as they do once the default folder
 * alone has failed and the store is of that folder. */
static gi_castore *client_store(gi_client *c) {
  const gi_trust *t;
  if (c->castore_tried) return c->castore_dir_only && !gi_trust_dir_only() ? NULL : c->castore;
  c->castore_tried = 1;
  t = gi_trust_default();
  if (c->ca_file || c->ca_path) {
    c->castore = gi_castore_new(c->ca_file, c->ca_path);
  } else if (gi_trust_dir_only()) {
    c->castore = gi_castore_new(NULL, t->dir);
    c->castore_dir_only = 1;
  } else {
    c->castore = gi_castore_new(t->file, t->dir);
  }
  return c->castore;
}

int gi_transfer_refused_on_reuse(gi_job *job, CURLcode rc) {
  long connects = -1;
  /* an answer began, or a body byte came: the server took the request */
  if (rc != CURLE_HTTP2 || job->refused_retried || job->status != 0 || job->received > 0) return 0;
  /* no new connection was made for it: it went on a kept one */
  if (curl_easy_getinfo(job->easy, CURLINFO_NUM_CONNECTS, &connects) != CURLE_OK || connects != 0) return 0;
  job->refused_retried = 1;
  return 1;
}

int gi_transfer_setup(gi_job *job, gi_client *c) {
  CURL *e = job->easy;
  CURLcode rc = CURLE_OK;
  int tls = gi_client_over_tls(c);
  rc |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  rc |= curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)job);
  rc |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, gi_transfer_on_body);
  rc |= curl_easy_setopt(e, CURLOPT_WRITEDATA, (void *)job);
  rc |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, gi_transfer_on_header);
  rc |= curl_easy_setopt(e, CURLOPT_HEADERDATA, (void *)job);
  rc |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, job->errbuf);
  rc |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(job->timeout * 1000.0));
  rc |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(c->connect_timeout * 1000.0));
  rc |= curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  rc |= curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
  rc |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
  rc |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
  rc |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  rc |= curl_easy_setopt(e, CURLOPT_BUFFERSIZE, gi_client_receive_buffer(c));
  rc |= curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  /* over TLS, wait for a connection that may turn out to multiplex (HTTP/2)
   * rather than open one per job; plain HTTP/1.1 never does, and waiting
   * there would only serialise the first requests */
  if (tls) rc |= curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
  job->trust_dir_only = job->trust_fallback = 0;
  /* a handle used before may still take a store it should not */
  rc |= gi_castore_drop(e);
  if (!tls && !job->downloading) {
    /* plain HTTP: no certificate to verify, nothing to judge */
  } else if (c->ca_file || c->ca_path) {
    /* the caller's authorities, and only those */
    if (gi_castore_use(e, client_store(c)) != CURLE_OK) {
      rc |= curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
      rc |= curl_easy_setopt(e, CURLOPT_CAPATH, c->ca_path);
    }
  } else if (gi_trust_dir_only()) {
    /* the directory holds the bundle's certificates: OpenSSL reads the few
     * it needs instead of parsing the whole bundle for each connection */
    if (gi_castore_use(e, client_store(c)) != CURLE_OK) {
      rc |= curl_easy_setopt(e, CURLOPT_CAINFO, (const char *)NULL);
      rc |= curl_easy_setopt(e, CURLOPT_CAPATH, gi_trust_default()->dir);
    }
    job->trust_dir_only = 1;
  } else if (gi_castore_use(e, client_store(c)) != CURLE_OK) {
    rc |= set_default_pair(e);
  }
  if (c->proxy) rc |= curl_easy_setopt(e, CURLOPT_PROXY, c->proxy);
  return rc == CURLE_OK ? 0 : -1;
}

gi_scanner *gi_transfer_new_scanner(gi_job *job) {
  gi_scanner_cb cb;
  cb.ud = job;
  cb.b64_begin = scan_b64_begin;
  cb.b64_data = scan_b64_data;
  cb.b64_end = scan_b64_end;
  return gi_scanner_new(&cb, SKELETON_LIMIT);
}
