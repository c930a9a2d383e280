/* job: one API call from start to result, and batches of them (see job.h).
 *
 * The transfer callbacks (on_header, on_body and the scanner/SSE/sink
 * callbacks under them) are pure C: they never touch Lua, so no Lua error
 * can unwind through libcurl.  Everything that needs Lua (results, callbacks)
 * happens in gi_job_transfer_done and gi_job_deliver, which the drive loop
 * runs after curl_multi_perform has returned. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdio.h>
#include <math.h>
#include <time.h>
#include "job.h"
#include "request.h"
#include "scanner.h"
#include "sse.h"
#include "b64sink.h"
#include "errors.h"
#include "json.h"
#include "cost.h"
#include "savepath.h"

#define SKELETON_LIMIT (16u * 1024u * 1024u)
#define RECEIVE_BUFFER (256L * 1024L)

typedef enum { JOB_IMAGE, JOB_BATCH, JOB_RAW } job_kind;
typedef enum { ST_RUNNING, ST_RETRY_WAIT, ST_DONE } job_state;
typedef enum { EV_UNKNOWN, EV_PARTIAL, EV_COMPLETED, EV_OTHER } event_kind;

typedef struct partial {
  struct partial *next;
  char *bytes;
  size_t len;
  char *meta;
  size_t meta_len;
} partial;

struct gi_job {
  gi_job *next, *prev;  /* the client's list of undelivered jobs */
  gi_client *client;    /* NULL once the client is gone */
  job_kind kind;
  job_state state;
  int delivered;        /* on_done ran (or there was none) */
  int cancelled;        /* ended by cancel or by the client closing */
  int in_multi;
  CURL *easy;
  struct curl_slist *headers;
  gi_request req;
  char op[12];
  char errbuf[CURL_ERROR_SIZE];
  double timeout;
  long max_retries;
  char *save;           /* save template, or NULL for bytes */
  int attempt;
  double retry_at;
  /* one attempt's response */
  long status;
  char request_id[128];
  char content_type[96];
  double retry_after;   /* seconds; < 0 when the server gave none */
  int should_retry;     /* x-should-retry: -1 absent, 0 false, 1 true */
  double received;
  int body_started, sse_mode;
  gi_scanner *scanner;
  gi_sse sse;
  event_kind event;
  gi_sink *current;     /* where the b64_json being read goes */
  gi_sink **images;     /* final images by index */
  size_t nimages, capimages;
  unsigned completed;   /* SSE completed events seen */
  char *final_meta;     /* SSE: the completed event's skeleton */
  char *error_event;    /* SSE: an error event's skeleton */
  partial *partials, *partials_tail;
  const char *fail_kind; /* set when the body itself failed: decode, io, http */
  char fail_msg[300];
  char excerpt[256];
  size_t excerpt_len;
  /* dall-e url images being downloaded for save */
  int downloading;
  size_t download_index;
  int download_attempt; /* of the image at download_index, from 1 */
  /* batches */
  gi_job *parent;
  int batch_index;
  int batch_total, batch_next, batch_running, batch_done, concurrency;
};

/* ------------------------------------------------------------------ */
/* small helpers */

static void set_fail(gi_job *job, const char *kind, const char *fmt, const char *detail) {
  if (job->fail_kind) return; /* the first failure is the cause */
  job->fail_kind = kind;
  snprintf(job->fail_msg, sizeof job->fail_msg, fmt, detail ? detail : "");
}

static void sink_fail(gi_job *job, gi_sink *s, int rc) {
  const char *kind = rc == GI_SINK_EBASE64 ? "decode" : rc == GI_SINK_ELIMIT ? "http" : "io";
  set_fail(job, kind, "%s", s ? gi_sink_message(s) : "out of memory");
}

static int push_images_slot(gi_job *job, size_t index, gi_sink *s) {
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

static void free_partials(gi_job *job) {
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

/* Drops everything one attempt received; temp files are removed. */
static void reset_response(gi_job *job) {
  size_t i;
  if (job->current) {
    int owned = 1; /* or held by an images slot, freed below */
    for (i = 0; i < job->nimages; i++)
      if (job->images[i] == job->current) owned = 0;
    if (owned) gi_sink_free(job->current);
    job->current = NULL;
  }
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
  job->body_started = job->sse_mode = 0;
  job->event = EV_UNKNOWN;
  job->completed = 0;
  job->fail_kind = NULL;
  job->fail_msg[0] = '\0';
  job->excerpt_len = 0;
  job->errbuf[0] = '\0';
  if (job->scanner) gi_scanner_reset(job->scanner);
}

static void release_transfer(gi_job *job) {
  if (job->easy) {
    if (job->in_multi && job->client && job->client->multi)
      curl_multi_remove_handle(job->client->multi, job->easy);
    job->in_multi = 0;
    curl_easy_cleanup(job->easy);
    job->easy = NULL;
  }
  gi_request_free(&job->req);
  curl_slist_free_all(job->headers);
  job->headers = NULL;
  if (job->scanner) {
    gi_scanner_free(job->scanner);
    job->scanner = NULL;
  }
}

static void free_job(gi_job *job) {
  free_partials(job);
  reset_response(job);
  release_transfer(job);
  free(job->images);
  job->images = NULL;
  job->capimages = 0;
  free(job->save);
  job->save = NULL;
}

static void unlink_job(gi_job *job) {
  gi_client *c = job->client;
  if (c == NULL) return;
  if (job->prev) job->prev->next = job->next;
  else if (c->jobs == job) c->jobs = job->next;
  if (job->next) job->next->prev = job->prev;
  job->next = job->prev = NULL;
}

/* ------------------------------------------------------------------ */
/* transfer callbacks: pure C */

static int scan_b64_begin(void *ud, unsigned index) {
  gi_job *job = (gi_job *)ud;
  gi_sink *s;
  char err[300];
  job->current = NULL;
  if (job->status < 200 || job->status >= 300) return 0;
  if (job->sse_mode && job->event != EV_COMPLETED) {
    /* a partial image, or an event not yet known: always memory */
    s = gi_sink_new_memory(0);
    if (s == NULL) {
      set_fail(job, "io", "%s", "out of memory");
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
      set_fail(job, "io", "%s", "save path too long");
      return 1;
    }
    s = gi_sink_new_file(path, 0, err, sizeof err);
    if (s == NULL) {
      set_fail(job, "io", "%s", err);
      return 1;
    }
  } else {
    s = gi_sink_new_memory(0);
    if (s == NULL) {
      set_fail(job, "io", "%s", "out of memory");
      return 1;
    }
  }
  if (push_images_slot(job, index, s) != 0) {
    gi_sink_free(s);
    set_fail(job, "io", "%s", "out of memory");
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
    sink_fail(job, job->current, rc);
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
    sink_fail(job, job->current, rc);
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
    if (job->current) {
      gi_sink_free(job->current);
      job->current = NULL;
    }
  }
  if (gi_scanner_feed(job->scanner, p, n) != GI_SCAN_OK) {
    set_fail(job, "decode", "bad event in the stream: %s", gi_scanner_message(job->scanner));
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
    gi_sink_free(s);
    set_fail(job, "decode", "bad event in the stream: %s", gi_scanner_message(job->scanner));
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
      set_fail(job, "io", "%s", "out of memory");
      return 1;
    }
    p->meta_len = len;
    if (s) p->bytes = gi_sink_take(s, &p->len);
    gi_sink_free(s);
    if (job->partials_tail) job->partials_tail->next = p;
    else job->partials = p;
    job->partials_tail = p;
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
        set_fail(job, "io", "%s", "save path too long");
        return 1;
      }
      f = gi_sink_new_file(path, 0, err, sizeof err);
      if (f == NULL) {
        gi_sink_free(s);
        set_fail(job, "io", "%s", err);
        return 1;
      }
      if (gi_sink_write_raw(f, bytes, n) != GI_SINK_OK || gi_sink_finish(f) != GI_SINK_OK) {
        sink_fail(job, f, GI_SINK_EIO);
        gi_sink_free(f);
        gi_sink_free(s);
        return 1;
      }
      gi_sink_free(s);
      s = f;
    }
    if (s && job->event != EV_COMPLETED) {
      if (push_images_slot(job, index, s) != 0) {
        gi_sink_free(s);
        set_fail(job, "io", "%s", "out of memory");
        return 1;
      }
    }
    free(job->final_meta);
    job->final_meta = dup_bytes(skel, len);
    if (job->final_meta == NULL) {
      set_fail(job, "io", "%s", "out of memory");
      return 1;
    }
    return 0;
  }
  gi_sink_free(s);
  if (job->error_event == NULL && strstr(skel, "\"error\"")) {
    job->error_event = dup_bytes(skel, len);
    if (job->error_event == NULL) {
      set_fail(job, "io", "%s", "out of memory");
      return 1;
    }
  }
  return 0;
}

static void start_body(gi_job *job) {
  long status = 0;
  job->body_started = 1;
  if (curl_easy_getinfo(job->easy, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK) job->status = status;
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

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud) {
  gi_job *job = (gi_job *)ud;
  size_t n = size * nmemb;
  int rc;
  if (job->fail_kind) return 0;
  job->received += (double)n;
  if (job->client && job->received > job->client->max_response) {
    char limit[64];
    snprintf(limit, sizeof limit, "%.0f", job->client->max_response);
    set_fail(job, "http", "response larger than max_response_bytes (%s)", limit);
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
      set_fail(job, "io", "%s", job->save ? err : "out of memory");
      return 0;
    }
  }
  if (job->downloading || (job->kind == JOB_RAW && job->status >= 200 && job->status < 300)) {
    if (job->status < 200 || job->status >= 300 || job->current == NULL) return n;
    rc = gi_sink_write_raw(job->current, p, n);
    if (rc != GI_SINK_OK) {
      sink_fail(job, job->current, rc);
      return 0;
    }
    return n;
  }
  if (job->sse_mode) {
    if (gi_sse_feed(&job->sse, p, n) != GI_SSE_OK) {
      set_fail(job, "decode", "%s", "malformed event stream");
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
      set_fail(job, rc == GI_SCAN_ELIMIT ? "http" : "decode", "bad response body: %s",
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

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud) {
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
    char *end;
    double ms;
    copy_header(tmp, sizeof tmp, v, vlen);
    ms = strtod(tmp, &end);
    if (end != tmp && ms >= 0) job->retry_after = ms / 1000.0;
  } else if (header_is(p, n, "retry-after", &v, &vlen)) {
    char *end;
    double s;
    copy_header(tmp, sizeof tmp, v, vlen);
    s = strtod(tmp, &end);
    if (end != tmp && *end == '\0' && s >= 0) {
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

/* ------------------------------------------------------------------ */
/* Lua side: userdata, uservalue */

static gi_job *check_job(lua_State *L, int idx) {
  return (gi_job *)luaL_checkudata(L, idx, GI_JOB_MT);
}

/* pushes uservalue[field] of the userdata at idx */
static void get_uv_field(lua_State *L, int idx, const char *field) {
  idx = lua_absindex(L, idx);
  gi_getuservalue(L, idx);
  if (lua_istable(L, -1)) {
    lua_getfield(L, -1, field);
    lua_remove(L, -2);
  } else {
    lua_pop(L, 1);
    lua_pushnil(L);
  }
}

/* uservalue[field] = value on top (popped) */
static void set_uv_field(lua_State *L, int idx, const char *field) {
  idx = lua_absindex(L, idx);
  gi_getuservalue(L, idx);
  lua_insert(L, -2);
  lua_setfield(L, -2, field);
  lua_pop(L, 1);
}

static void push_job_client(lua_State *L, int job_idx) {
  get_uv_field(L, job_idx, "client");
}

/* pushes the client's jobs table; client userdata at client_idx */
static void push_jobs_table(lua_State *L, int client_idx) {
  get_uv_field(L, client_idx, "jobs");
}

static void anchor_job(lua_State *L, int client_idx, int job_idx, gi_job *job) {
  job_idx = lua_absindex(L, job_idx);
  push_jobs_table(L, client_idx);
  lua_pushlightuserdata(L, job);
  lua_pushvalue(L, job_idx);
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

static void unanchor_job(lua_State *L, int client_idx, gi_job *job) {
  push_jobs_table(L, client_idx);
  if (lua_istable(L, -1)) {
    lua_pushlightuserdata(L, job);
    lua_pushnil(L);
    lua_rawset(L, -3);
  }
  lua_pop(L, 1);
}

/* pushes the userdata of job (anchored in the client's jobs table) */
static int push_job(lua_State *L, int client_idx, gi_job *job) {
  push_jobs_table(L, client_idx);
  lua_pushlightuserdata(L, job);
  lua_rawget(L, -2);
  lua_remove(L, -2);
  if (lua_isnil(L, -1)) return 0;
  return 1;
}

/* stores res, err (res at -2, err at -1; popped) and ends the job */
static void store_result(lua_State *L, int job_idx, gi_job *job) {
  job_idx = lua_absindex(L, job_idx);
  set_uv_field(L, job_idx, "err");
  set_uv_field(L, job_idx, "res");
  job->state = ST_DONE;
}

/* ------------------------------------------------------------------ */
/* finishing */

static void push_error(lua_State *L, gi_job *job, const char *kind, const char *message) {
  gi_error e;
  memset(&e, 0, sizeof e);
  e.kind = kind;
  e.status = job->status;
  e.message = message;
  e.request_id = job->request_id[0] ? job->request_id : NULL;
  e.retry_after = job->retry_after;
  gi_error_push(L, &e, job->client ? job->client->api_key : NULL);
}

static const char *string_field(lua_State *L, int t, const char *name) {
  const char *s = NULL;
  lua_getfield(L, t, name);
  if (lua_type(L, -1) == LUA_TSTRING) s = lua_tostring(L, -1);
  lua_pop(L, 1);
  return s;
}

/* An API error body, {"error": {...}}, at the top of the stack: pushes the
 * error table and returns 1, or returns 0 (and pushes nothing). */
static int push_api_error(lua_State *L, gi_job *job, int t) {
  gi_error e;
  int et;
  if (!lua_istable(L, t)) return 0;
  lua_getfield(L, t, "error");
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    return 0;
  }
  et = lua_gettop(L);
  memset(&e, 0, sizeof e);
  e.kind = "api";
  e.status = job->status;
  e.message = string_field(L, et, "message");
  e.code = string_field(L, et, "code");
  e.type = string_field(L, et, "type");
  e.param = string_field(L, et, "param");
  e.request_id = job->request_id[0] ? job->request_id : NULL;
  e.retry_after = job->retry_after;
  if (e.message == NULL || e.message[0] == '\0') e.message = "the API returned an error";
  gi_error_push(L, &e, job->client ? job->client->api_key : NULL);
  lua_remove(L, et);
  return 1;
}

/* A short, printable excerpt of a body that was not JSON. */
static void push_http_error(lua_State *L, gi_job *job) {
  char text[200];
  size_t i, j = 0, raw_len;
  int space = 0;
  const char *raw;
  luaL_Buffer b;
  /* the key goes before the cut, so a cut cannot leave part of it */
  gi_redact_push(L, job->excerpt, job->excerpt_len, job->client ? job->client->api_key : NULL);
  raw = lua_tolstring(L, -1, &raw_len);
  for (i = 0; i < raw_len && j + 4 < sizeof text; i++) {
    unsigned char ch = (unsigned char)raw[i];
    if (ch < 0x20 || ch == 0x7f) {
      if (!space && j > 0) text[j++] = ' ';
      space = 1;
    } else {
      text[j++] = (char)ch;
      space = 0;
    }
  }
  if (raw_len > i) {
    text[j++] = '.';
    text[j++] = '.';
    text[j++] = '.';
  }
  text[j] = '\0';
  lua_pop(L, 1);
  luaL_buffinit(L, &b);
  lua_pushfstring(L, "HTTP %d", (int)job->status);
  luaL_addvalue(&b);
  if (j > 0) {
    luaL_addstring(&b, " with a body that is not JSON: ");
    luaL_addstring(&b, text);
  }
  luaL_pushresult(&b);
  push_error(L, job, "http", lua_tostring(L, -1));
  lua_remove(L, -2);
}

static void abort_images(gi_job *job) {
  size_t i;
  for (i = 0; i < job->nimages; i++)
    if (job->images[i]) gi_sink_abort(job->images[i]);
}

/* ends the job with the error on top of the stack (popped) */
static void finish_error(lua_State *L, int job_idx, gi_job *job) {
  job_idx = lua_absindex(L, job_idx);
  abort_images(job);
  free_partials(job);
  reset_response(job);
  release_transfer(job);
  lua_pushnil(L);
  lua_insert(L, -2);
  store_result(L, job_idx, job);
}

static void finish_error_kind(lua_State *L, int job_idx, gi_job *job, const char *kind, const char *msg) {
  push_error(L, job, kind, msg);
  finish_error(L, job_idx, job);
}

static void copy_field(lua_State *L, int from, int to, const char *name, const char *as) {
  lua_getfield(L, from, name);
  if (lua_isnil(L, -1) || lua_type(L, -1) == LUA_TLIGHTUSERDATA) {
    lua_pop(L, 1);
    return;
  }
  lua_setfield(L, to, as ? as : name);
}

/* Puts image i's file path or bytes into the image table at img. Returns 0,
 * or -1 with an error message pushed. */
static int attach_image(lua_State *L, gi_job *job, size_t i, int img) {
  gi_sink *s = i < job->nimages ? job->images[i] : NULL;
  if (s == NULL) return 0;
  if (job->save) {
    if (gi_sink_commit(s) != GI_SINK_OK) {
      lua_pushstring(L, gi_sink_message(s));
      return -1;
    }
    lua_pushstring(L, gi_sink_path(s));
    lua_setfield(L, img, "path");
  } else {
    size_t len = 0;
    char *bytes = gi_sink_take(s, &len);
    if (bytes == NULL && len > 0) {
      lua_pushliteral(L, "out of memory");
      return -1;
    }
    lua_pushlstring(L, bytes ? bytes : "", len);
    free(bytes);
    lua_setfield(L, img, "bytes");
  }
  gi_sink_free(s);
  job->images[i] = NULL;
  return 0;
}

static void finish_success(lua_State *L, int job_idx, gi_job *job, int doc) {
  int res, images, data, i, count;
  job_idx = lua_absindex(L, job_idx);
  doc = lua_absindex(L, doc);
  lua_createtable(L, 0, 12);
  res = lua_gettop(L);
  lua_newtable(L);
  images = lua_gettop(L);
  if (job->sse_mode) {
    count = (int)job->completed;
    for (i = 0; i < count; i++) {
      lua_createtable(L, 0, 3);
      copy_field(L, doc, lua_gettop(L), "revised_prompt", NULL);
      if (attach_image(L, job, (size_t)i, lua_gettop(L)) != 0) {
        push_error(L, job, "io", lua_tostring(L, -1));
        lua_replace(L, res);
        lua_settop(L, res);
        finish_error(L, job_idx, job);
        return;
      }
      lua_rawseti(L, images, i + 1);
    }
    copy_field(L, doc, res, "created_at", "created");
  } else {
    lua_getfield(L, doc, "data");
    data = lua_gettop(L);
    count = lua_istable(L, data) ? (int)lua_rawlen(L, data) : 0;
    for (i = 1; i <= count; i++) {
      int img;
      lua_createtable(L, 0, 3);
      img = lua_gettop(L);
      lua_rawgeti(L, data, i);
      if (lua_istable(L, -1)) {
        copy_field(L, lua_gettop(L), img, "url", NULL);
        copy_field(L, lua_gettop(L), img, "revised_prompt", NULL);
      }
      lua_pop(L, 1);
      if (attach_image(L, job, (size_t)(i - 1), img) != 0) {
        push_error(L, job, "io", lua_tostring(L, -1));
        lua_replace(L, res);
        lua_settop(L, res);
        finish_error(L, job_idx, job);
        return;
      }
      lua_rawseti(L, images, i);
    }
    lua_pop(L, 1);
    copy_field(L, doc, res, "created", NULL);
  }
  lua_setfield(L, res, "images");
  copy_field(L, doc, res, "usage", NULL);
  copy_field(L, doc, res, "size", NULL);
  copy_field(L, doc, res, "quality", NULL);
  copy_field(L, doc, res, "background", NULL);
  copy_field(L, doc, res, "output_format", NULL);
  if (job->request_id[0]) {
    lua_pushstring(L, job->request_id);
    lua_setfield(L, res, "request_id");
  }
  if (job->req.model) {
    lua_pushstring(L, job->req.model);
    lua_setfield(L, res, "model");
  }
  {
    const char *size = job->req.size[0] ? job->req.size : string_field(L, res, "size");
    const char *quality = job->req.quality[0] ? job->req.quality : string_field(L, res, "quality");
    int prices = 0;
    get_uv_field(L, job_idx, "client");
    if (!lua_isnil(L, -1)) {
      get_uv_field(L, -1, "prices");
      lua_remove(L, -2);
      prices = lua_gettop(L);
    }
    gi_cost_push(L, res, job->req.model, size, quality, prices);
    lua_setfield(L, res, "cost");
    lua_pop(L, 1);
  }
  abort_images(job); /* images the document did not list */
  reset_response(job);
  release_transfer(job);
  lua_pushnil(L);
  store_result(L, job_idx, job);
}

/* ------------------------------------------------------------------ */
/* retries */

static int retryable_status(long status) {
  return status == 408 || status == 409 || status == 429 || status >= 500;
}

/* Seconds before attempt number `attempt` (2 for the first retry): what the
 * server asked for when it asked for a minute or less, else 0.5 s doubling
 * up to 8 s, less up to a quarter of jitter so that clients spread out. */
static double backoff_delay(int attempt, double retry_after) {
  double d = retry_after;
  if (!(d > 0 && d <= 60)) {
    double jitter = 1.0 - ((double)rand() / (double)RAND_MAX) * 0.25;
    d = 0.5 * pow(2.0, (double)(attempt - 2));
    if (d > 8) d = 8;
    d *= jitter;
  }
  return d;
}

static double backoff(gi_job *job) { return backoff_delay(job->attempt, job->retry_after); }

static void schedule_retry(gi_job *job) {
  if (job->in_multi) {
    curl_multi_remove_handle(job->client->multi, job->easy);
    job->in_multi = 0;
  }
  job->attempt++;
  job->retry_at = gi_now() + backoff(job);
  abort_images(job);
  free_partials(job); /* the next attempt streams them again */
  reset_response(job);
  job->state = ST_RETRY_WAIT;
}

static int can_retry(gi_job *job) {
  return job->attempt <= job->max_retries && job->should_retry != 0;
}

void gi_job_start_due_retries(lua_State *L, gi_client *c, double now) {
  gi_job *job;
  (void)L;
  for (job = c->jobs; job; job = job->next) {
    if (job->state != ST_RETRY_WAIT || job->retry_at > now) continue;
    job->state = ST_RUNNING;
    if (curl_multi_add_handle(c->multi, job->easy) == CURLM_OK) {
      job->in_multi = 1;
    } else {
      job->state = ST_RETRY_WAIT;
      job->retry_at = now + 0.1;
    }
  }
}

double gi_job_next_retry(gi_client *c) {
  gi_job *job;
  double t = 0;
  for (job = c->jobs; job; job = job->next)
    if (job->state == ST_RETRY_WAIT && (t == 0 || job->retry_at < t)) t = job->retry_at;
  return t;
}

/* ------------------------------------------------------------------ */
/* easy handle setup */

static int common_options(gi_job *job, gi_client *c) {
  CURL *e = job->easy;
  CURLcode rc = CURLE_OK;
  rc |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  rc |= curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)job);
  rc |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  rc |= curl_easy_setopt(e, CURLOPT_WRITEDATA, (void *)job);
  rc |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  rc |= curl_easy_setopt(e, CURLOPT_HEADERDATA, (void *)job);
  rc |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, job->errbuf);
  rc |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(job->timeout * 1000.0));
  rc |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(c->connect_timeout * 1000.0));
  rc |= curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  rc |= curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
  rc |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
  rc |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
  rc |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  rc |= curl_easy_setopt(e, CURLOPT_BUFFERSIZE, RECEIVE_BUFFER);
  rc |= curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  if (c->ca_file) rc |= curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
  if (c->proxy) rc |= curl_easy_setopt(e, CURLOPT_PROXY, c->proxy);
  return rc == CURLE_OK ? 0 : -1;
}

static int api_options(lua_State *L, gi_job *job, gi_client *c) {
  CURL *e = job->easy;
  CURLcode rc = CURLE_OK;
  struct curl_slist *h;
  if (c->azure_endpoint) {
    lua_pushfstring(L, "%s/openai/deployments/%s/%s?api-version=%s", c->azure_endpoint,
                    c->azure_deployment, job->req.endpoint, c->azure_api_version);
  } else {
    lua_pushfstring(L, "%s/%s", c->base_url, job->req.endpoint);
  }
  rc |= curl_easy_setopt(e, CURLOPT_URL, lua_tostring(L, -1)); /* curl copies it */
  lua_pop(L, 1);
  for (h = c->headers; h; h = h->next) {
    struct curl_slist *next = curl_slist_append(job->headers, h->data);
    if (next == NULL) return -1;
    job->headers = next;
  }
  if (job->req.json) {
    struct curl_slist *next = curl_slist_append(job->headers, "Content-Type: application/json");
    if (next == NULL) return -1;
    job->headers = next;
    rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)job->req.json_len);
    rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, job->req.json);
  } else if (job->req.mime) {
    rc |= curl_easy_setopt(e, CURLOPT_MIMEPOST, job->req.mime);
  }
  rc |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, job->headers);
  /* the API never redirects; following one would carry the key elsewhere */
  rc |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  return rc == CURLE_OK ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* url downloads (dall-e response_format = "url" with save) */

static void finish_after_download(lua_State *L, int job_idx, gi_job *job);

static int start_download(lua_State *L, int job_idx, gi_job *job) {
  gi_client *c = job->client;
  char path[4096], err[300];
  const char *url;
  gi_sink *s;
  CURLcode rc = CURLE_OK;
  get_uv_field(L, job_idx, "urls");
  lua_rawgeti(L, -1, (int)job->download_index + 1);
  url = lua_tostring(L, -1);
  if (url == NULL) {
    lua_pop(L, 2);
    return 1; /* no more */
  }
  if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0) {
    lua_pop(L, 2);
    set_fail(job, "decode", "%s", "the response holds an image url that is not http(s)");
    return -1;
  }
  if (gi_savepath(job->save, (unsigned)job->download_index + 1, (unsigned)job->req.n,
                  gi_savepath_ext(job->req.output_format), path, sizeof path) != 0) {
    lua_pop(L, 2);
    set_fail(job, "io", "%s", "save path too long");
    return -1;
  }
  s = gi_sink_new_file(path, 0, err, sizeof err);
  if (s == NULL) {
    lua_pop(L, 2);
    set_fail(job, "io", "%s", err);
    return -1;
  }
  if (push_images_slot(job, job->download_index, s) != 0) {
    lua_pop(L, 2);
    gi_sink_free(s);
    set_fail(job, "io", "%s", "out of memory");
    return -1;
  }
  job->current = s;
  curl_easy_reset(job->easy);
  if (common_options(job, c) != 0) rc = CURLE_FAILED_INIT;
  /* image URLs live on another host: no credentials go there */
  rc |= curl_easy_setopt(job->easy, CURLOPT_URL, url);
  rc |= curl_easy_setopt(job->easy, CURLOPT_FOLLOWLOCATION, 1L);
  rc |= curl_easy_setopt(job->easy, CURLOPT_MAXREDIRS, 5L);
  rc |= curl_easy_setopt(job->easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  lua_pop(L, 2);
  if (rc != CURLE_OK) {
    set_fail(job, "io", "%s", "cannot set up the image download");
    return -1;
  }
  job->status = 0;
  job->received = 0;
  job->body_started = 0;
  job->excerpt_len = 0;
  job->retry_after = -1;
  job->download_attempt = 1;
  if (curl_multi_add_handle(c->multi, job->easy) != CURLM_OK) {
    set_fail(job, "io", "%s", "cannot start the image download");
    return -1;
  }
  job->in_multi = 1;
  return 0;
}

/* Failures of an image download worth another try: the image host's
 * transient statuses and a connection that failed or broke. */
static int download_retryable(CURLcode rc, long status) {
  switch (rc) {
    case CURLE_OK: return retryable_status(status);
    case CURLE_COULDNT_RESOLVE_HOST: case CURLE_COULDNT_CONNECT: case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR: case CURLE_RECV_ERROR: case CURLE_GOT_NOTHING: case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR: case CURLE_HTTP2: case CURLE_HTTP2_STREAM:
      return 1;
    default: return 0;
  }
}

/* The image at download_index is fetched again after a backoff, into a new
 * temporary file (the broken one is removed). -1 when that cannot be set
 * up: the failure is then reported as it was. */
static int retry_download(gi_job *job) {
  char err[300];
  gi_sink *fresh = gi_sink_new_file(gi_sink_path(job->current), 0, err, sizeof err);
  if (fresh == NULL) return -1;
  push_images_slot(job, job->download_index, fresh); /* frees the broken one */
  job->current = fresh;
  job->download_attempt++;
  job->retry_at = gi_now() + backoff_delay(job->download_attempt, job->retry_after);
  job->status = 0;
  job->received = 0;
  job->body_started = 0;
  job->excerpt_len = 0;
  job->retry_after = -1;
  job->errbuf[0] = '\0';
  job->state = ST_RETRY_WAIT;
  return 0;
}

static void download_done(lua_State *L, int job_idx, gi_job *job, CURLcode rc) {
  long status = 0;
  curl_easy_getinfo(job->easy, CURLINFO_RESPONSE_CODE, &status);
  job->status = status;
  if (!job->fail_kind && download_retryable(rc, status) && job->download_attempt <= job->max_retries &&
      job->current && retry_download(job) == 0)
    return;
  if (!job->fail_kind && rc != CURLE_OK)
    set_fail(job, rc == CURLE_OPERATION_TIMEDOUT ? "timeout" : "network", "image download failed: %s",
             job->errbuf[0] ? job->errbuf : curl_easy_strerror(rc));
  if (!job->fail_kind && (status < 200 || status >= 300)) {
    char s[16];
    snprintf(s, sizeof s, "%ld", status);
    set_fail(job, "http", "image download answered HTTP %s", s);
  }
  if (!job->fail_kind && job->current && gi_sink_finish(job->current) != GI_SINK_OK)
    sink_fail(job, job->current, GI_SINK_EIO);
  job->current = NULL;
  if (job->fail_kind) {
    /* the images are paid for: their addresses go with the error, so that
     * they can still be fetched while the links last */
    push_error(L, job, job->fail_kind, job->fail_msg);
    get_uv_field(L, job_idx, "urls");
    lua_setfield(L, -2, "urls");
    finish_error(L, job_idx, job);
    return;
  }
  job->download_index++;
  finish_after_download(L, job_idx, job);
}

static void finish_after_download(lua_State *L, int job_idx, gi_job *job) {
  int r = start_download(L, job_idx, job);
  if (r < 0) {
    finish_error_kind(L, job_idx, job, job->fail_kind, job->fail_msg);
  } else if (r > 0) {
    get_uv_field(L, job_idx, "doc");
    finish_success(L, job_idx, job, lua_gettop(L));
    lua_pop(L, 1);
  }
}

/* A raw request (client:request) ended with a 2xx answer. */
static void finish_raw(lua_State *L, int job_idx, gi_job *job) {
  int res;
  gi_sink *s = job->current;
  job->current = NULL;
  if (s && gi_sink_finish(s) != GI_SINK_OK) {
    lua_pushstring(L, gi_sink_message(s));
    gi_sink_free(s);
    finish_error_kind(L, job_idx, job, "io", lua_tostring(L, -1));
    lua_pop(L, 1);
    return;
  }
  lua_createtable(L, 0, 6);
  res = lua_gettop(L);
  lua_pushinteger(L, (lua_Integer)job->status);
  lua_setfield(L, res, "status");
  if (job->request_id[0]) {
    lua_pushstring(L, job->request_id);
    lua_setfield(L, res, "request_id");
  }
  if (job->content_type[0]) {
    lua_pushstring(L, job->content_type);
    lua_setfield(L, res, "content_type");
  }
  if (job->save) {
    if (s == NULL) { /* an empty body is still a file */
      char err[300];
      s = gi_sink_new_file(job->save, 0, err, sizeof err);
      if (s == NULL || gi_sink_finish(s) != GI_SINK_OK) {
        lua_pushstring(L, s ? gi_sink_message(s) : err);
        gi_sink_free(s);
        lua_replace(L, res);
        finish_error_kind(L, job_idx, job, "io", lua_tostring(L, -1));
        lua_pop(L, 1);
        return;
      }
    }
    if (gi_sink_commit(s) != GI_SINK_OK) {
      lua_pushstring(L, gi_sink_message(s));
      gi_sink_free(s);
      lua_replace(L, res);
      finish_error_kind(L, job_idx, job, "io", lua_tostring(L, -1));
      lua_pop(L, 1);
      return;
    }
    lua_pushstring(L, gi_sink_path(s));
    lua_setfield(L, res, "path");
  } else {
    size_t len = 0;
    char *bytes = s ? gi_sink_take(s, &len) : NULL;
    lua_pushlstring(L, bytes ? bytes : "", len);
    free(bytes);
    if (strncasecmp(job->content_type, "application/json", 16) == 0) {
      size_t blen;
      const char *body = lua_tolstring(L, -1, &blen);
      if (gi_json_decode(L, body, blen)) lua_setfield(L, res, "json");
      else lua_pop(L, 1);
    }
    lua_setfield(L, res, "body");
  }
  gi_sink_free(s);
  reset_response(job);
  release_transfer(job);
  lua_pushnil(L);
  store_result(L, job_idx, job);
}

/* ------------------------------------------------------------------ */
/* a transfer ended */

static void transfer_done_at(lua_State *L, int job_idx, gi_job *job, CURLcode rc) {
  gi_client *c = job->client;
  long status = 0;
  if (job->in_multi) {
    curl_multi_remove_handle(c->multi, job->easy);
    job->in_multi = 0;
  }
  if (job->downloading) {
    download_done(L, job_idx, job, rc);
    return;
  }
  if (curl_easy_getinfo(job->easy, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status)
    job->status = status;
  if (job->fail_kind) {
    finish_error_kind(L, job_idx, job, job->fail_kind, job->fail_msg);
    return;
  }
  if (rc != CURLE_OK) {
    const char *kind = rc == CURLE_OPERATION_TIMEDOUT ? "timeout" : "network";
    if (can_retry(job)) {
      schedule_retry(job);
      return;
    }
    finish_error_kind(L, job_idx, job, kind, job->errbuf[0] ? job->errbuf : curl_easy_strerror(rc));
    return;
  }
  if (job->status < 200 || job->status >= 300) {
    size_t len;
    const char *skel;
    if (retryable_status(job->status) && can_retry(job)) {
      schedule_retry(job);
      return;
    }
    if (gi_scanner_finish(job->scanner) == GI_SCAN_OK) {
      skel = gi_scanner_skeleton(job->scanner, &len);
      if (gi_json_decode(L, skel, len)) {
        if (push_api_error(L, job, lua_gettop(L))) {
          lua_remove(L, -2);
          finish_error(L, job_idx, job);
          return;
        }
      }
      lua_pop(L, 1);
    }
    push_http_error(L, job);
    finish_error(L, job_idx, job);
    return;
  }
  /* 2xx */
  if (job->kind == JOB_RAW) {
    finish_raw(L, job_idx, job);
    return;
  }
  if (job->sse_mode) {
    gi_sse_finish(&job->sse);
    if (job->fail_kind) {
      finish_error_kind(L, job_idx, job, job->fail_kind, job->fail_msg);
      return;
    }
    if (job->final_meta == NULL) {
      if (job->error_event && gi_json_decode(L, job->error_event, strlen(job->error_event))) {
        if (push_api_error(L, job, lua_gettop(L))) {
          lua_remove(L, -2);
          finish_error(L, job_idx, job);
          return;
        }
        lua_pop(L, 1);
      }
      finish_error_kind(L, job_idx, job, "decode", "the event stream ended before the image was complete");
      return;
    }
    if (!gi_json_decode(L, job->final_meta, strlen(job->final_meta))) {
      lua_pushfstring(L, "bad completed event: %s", lua_tostring(L, -1));
      finish_error_kind(L, job_idx, job, "decode", lua_tostring(L, -1));
      lua_pop(L, 2);
      return;
    }
    finish_success(L, job_idx, job, lua_gettop(L));
    lua_pop(L, 1);
    return;
  }
  {
    size_t len;
    const char *skel;
    int sr = gi_scanner_finish(job->scanner);
    if (sr != GI_SCAN_OK) {
      lua_pushfstring(L, "%s: %s", sr == GI_SCAN_ETRUNCATED ? "truncated response" : "bad response",
                      gi_scanner_message(job->scanner));
      finish_error_kind(L, job_idx, job, "decode", lua_tostring(L, -1));
      lua_pop(L, 1);
      return;
    }
    skel = gi_scanner_skeleton(job->scanner, &len);
    if (!gi_json_decode(L, skel, len) || !lua_istable(L, -1)) {
      lua_pushfstring(L, "bad response: %s", lua_isstring(L, -1) ? lua_tostring(L, -1) : "not an object");
      finish_error_kind(L, job_idx, job, "decode", lua_tostring(L, -1));
      lua_pop(L, 2);
      return;
    }
    if (push_api_error(L, job, lua_gettop(L))) {
      lua_remove(L, -2);
      finish_error(L, job_idx, job);
      return;
    }
    if (job->req.url_response && job->save) {
      int doc = lua_gettop(L), i, count;
      lua_newtable(L);
      lua_getfield(L, doc, "data");
      count = lua_istable(L, -1) ? (int)lua_rawlen(L, -1) : 0;
      for (i = 1; i <= count; i++) {
        lua_rawgeti(L, -1, i);
        if (lua_istable(L, -1)) lua_getfield(L, -1, "url");
        else lua_pushnil(L);
        lua_rawseti(L, doc + 1, i);
        lua_pop(L, 1);
      }
      lua_pop(L, 1);
      set_uv_field(L, job_idx, "urls");
      lua_pushvalue(L, doc);
      set_uv_field(L, job_idx, "doc");
      lua_pop(L, 1);
      job->downloading = 1;
      job->download_index = 0;
      finish_after_download(L, job_idx, job);
      return;
    }
    finish_success(L, job_idx, job, lua_gettop(L));
    lua_pop(L, 1);
  }
}

void gi_job_transfer_done(lua_State *L, int client_idx, gi_job *job, CURLcode rc) {
  int top = lua_gettop(L);
  luaL_checkstack(L, 40, "gptimage");
  if (!push_job(L, client_idx, job)) {
    /* not anchored: nothing in Lua can see it any more */
    lua_settop(L, top);
    if (job->in_multi && job->client) curl_multi_remove_handle(job->client->multi, job->easy);
    job->in_multi = 0;
    return;
  }
  transfer_done_at(L, lua_gettop(L), job, rc);
  lua_settop(L, top);
}

/* ------------------------------------------------------------------ */
/* delivery of callbacks */

static void push_partial_image(lua_State *L, partial *p) {
  int t;
  lua_newtable(L);
  t = lua_gettop(L);
  if (gi_json_decode(L, p->meta, p->meta_len) && lua_istable(L, -1)) {
    int m = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, m)) {
      if (lua_type(L, -1) == LUA_TLIGHTUSERDATA) {
        lua_pop(L, 1);
        continue;
      }
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_settable(L, t);
    }
  }
  lua_pop(L, 1);
  lua_pushlstring(L, p->bytes ? p->bytes : "", p->len);
  lua_setfield(L, t, "bytes");
  lua_pushnil(L);
  lua_setfield(L, t, "b64_json");
}

/* calls f(args...) under pcall; on error keeps the first error in slot err_slot */
static void protected_call(lua_State *L, int nargs, int err_slot, int *failed) {
  if (lua_pcall(L, nargs, 0, 0) != 0) {
    if (!*failed) {
      lua_replace(L, err_slot);
      *failed = 1;
    } else {
      lua_pop(L, 1);
    }
  }
}

static void batch_child_done(lua_State *L, int client_idx, int child_idx, gi_job *child,
                             int err_slot, int *failed);

static void deliver_one(lua_State *L, int client_idx, gi_job *job, int err_slot, int *failed) {
  int job_idx;
  if (!push_job(L, client_idx, job)) {
    lua_pop(L, 1);
    return;
  }
  job_idx = lua_gettop(L);
  while (job->partials) {
    partial *p = job->partials;
    job->partials = p->next;
    if (job->partials == NULL) job->partials_tail = NULL;
    get_uv_field(L, job_idx, "on_partial");
    if (lua_isfunction(L, -1)) {
      lua_Integer index = 0;
      push_partial_image(L, p);
      lua_getfield(L, -1, "partial_image_index");
      index = lua_isnumber(L, -1) ? lua_tointeger(L, -1) : 0;
      lua_pop(L, 1);
      lua_pushinteger(L, index);
      protected_call(L, 2, err_slot, failed);
    } else {
      lua_pop(L, 1);
    }
    free(p->bytes);
    free(p->meta);
    free(p);
  }
  if (job->state == ST_DONE && !job->delivered) {
    job->delivered = 1;
    unlink_job(job);
    unanchor_job(L, client_idx, job);
    if (job->parent) batch_child_done(L, client_idx, job_idx, job, err_slot, failed);
    get_uv_field(L, job_idx, "on_done");
    if (lua_isfunction(L, -1)) {
      get_uv_field(L, job_idx, "res");
      get_uv_field(L, job_idx, "err");
      protected_call(L, 2, err_slot, failed);
    } else {
      lua_pop(L, 1);
    }
  }
  lua_settop(L, job_idx - 1);
}

static int needs_delivery(gi_job *job) {
  return job->partials != NULL || (job->state == ST_DONE && !job->delivered);
}

int gi_job_deliver(lua_State *L, int client_idx) {
  gi_client *c = (gi_client *)lua_touserdata(L, client_idx);
  int err_slot, failed = 0, rounds;
  client_idx = lua_absindex(L, client_idx);
  lua_pushnil(L);
  err_slot = lua_gettop(L);
  /* A delivery can end other jobs (a batch finishing, a callback cancelling):
   * go round until nothing is left to deliver. */
  for (rounds = 0; rounds < 1000000; rounds++) {
    gi_job *job;
    int n = 0, i, list;
    lua_newtable(L);
    list = lua_gettop(L);
    for (job = c->jobs; job; job = job->next) {
      if (!needs_delivery(job)) continue;
      lua_pushlightuserdata(L, job);
      lua_rawseti(L, list, ++n);
    }
    if (n == 0) {
      lua_pop(L, 1);
      break;
    }
    for (i = 1; i <= n; i++) {
      gi_job *j2;
      lua_rawgeti(L, list, i);
      job = (gi_job *)lua_touserdata(L, -1);
      lua_pop(L, 1);
      /* the job may have been delivered by a nested call meanwhile */
      for (j2 = c->jobs; j2 && j2 != job; j2 = j2->next) {}
      if (j2 && needs_delivery(j2) && !c->closed) deliver_one(L, client_idx, j2, err_slot, &failed);
    }
    lua_pop(L, 1);
    if (c->closed) break;
  }
  if (failed) {
    lua_pushvalue(L, err_slot);
    lua_remove(L, err_slot);
    return 1;
  }
  lua_pop(L, 1);
  return 0;
}

/* ------------------------------------------------------------------ */
/* starting jobs */

static gi_job *new_job(lua_State *L, int client_idx, gi_client *c, job_kind kind, const char *op) {
  gi_job *job = (gi_job *)gi_newuserdata(L, sizeof *job);
  memset(job, 0, sizeof *job);
  job->kind = kind;
  job->state = ST_RUNNING;
  job->retry_after = -1;
  job->should_retry = -1;
  job->client = c;
  job->timeout = c->timeout;
  job->max_retries = c->max_retries;
  snprintf(job->op, sizeof job->op, "%s", op);
  luaL_getmetatable(L, GI_JOB_MT);
  lua_setmetatable(L, -2);
  lua_createtable(L, 0, 8);
  lua_pushvalue(L, client_idx);
  lua_setfield(L, -2, "client");
  gi_setuservalue(L, -2);
  return job;
}

static void link_job(gi_client *c, gi_job *job) {
  gi_job **tail = &c->jobs;
  gi_job *prev = NULL;
  while (*tail) {
    prev = *tail;
    tail = &(*tail)->next;
  }
  *tail = job;
  job->prev = prev;
  job->next = NULL;
}

static void read_local_options(lua_State *L, int opts, int job_idx, gi_job *job) {
  lua_getfield(L, opts, "save");
  if (lua_type(L, -1) == LUA_TSTRING) {
    const char *s = lua_tostring(L, -1);
    if (s[0] == '\0') luaL_error(L, "option 'save' must not be empty");
    job->save = strdup(s);
    if (job->save == NULL) luaL_error(L, "gptimage: out of memory");
  } else if (!lua_isnil(L, -1)) {
    luaL_error(L, "option 'save' must be a string, got %s", luaL_typename(L, -1));
  }
  lua_pop(L, 1);
  lua_getfield(L, opts, "timeout");
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TNUMBER || !(lua_tonumber(L, -1) > 0))
      luaL_error(L, "option 'timeout' must be a positive number of seconds");
    job->timeout = lua_tonumber(L, -1);
  }
  lua_pop(L, 1);
  lua_getfield(L, opts, "max_retries");
  if (!lua_isnil(L, -1)) {
    if (!gi_isinteger(L, -1) || lua_tointeger(L, -1) < 0)
      luaL_error(L, "option 'max_retries' must be an integer >= 0");
    job->max_retries = (long)lua_tointeger(L, -1);
  }
  lua_pop(L, 1);
  lua_getfield(L, opts, "on_done");
  if (!lua_isnil(L, -1) && !lua_isfunction(L, -1)) luaL_error(L, "option 'on_done' must be a function");
  set_uv_field(L, job_idx, "on_done");
  lua_getfield(L, opts, "on_partial");
  if (!lua_isnil(L, -1) && !lua_isfunction(L, -1)) luaL_error(L, "option 'on_partial' must be a function");
  set_uv_field(L, job_idx, "on_partial");
}

/* Starts an image job; pushes it.  opts at opts_idx. */
/* A job fully set up goes into the client's multi handle and its list, and
 * is anchored until it is delivered. */
static void launch(lua_State *L, int client_idx, int job_idx, gi_client *c, gi_job *job) {
  job->attempt = 1;
  if (curl_multi_add_handle(c->multi, job->easy) != CURLM_OK)
    luaL_error(L, "gptimage: curl_multi_add_handle failed");
  job->in_multi = 1;
  link_job(c, job);
  anchor_job(L, client_idx, job_idx, job);
}

static gi_job *start_image_job(lua_State *L, int client_idx, gi_op op, const char *opname, int opts_idx) {
  gi_client *c = gi_client_ready(L, client_idx);
  gi_job *job;
  int job_idx, keep;
  client_idx = lua_absindex(L, client_idx);
  opts_idx = lua_absindex(L, opts_idx);
  luaL_checktype(L, opts_idx, LUA_TTABLE);
  job = new_job(L, client_idx, c, JOB_IMAGE, opname);
  job_idx = lua_gettop(L);
  lua_pushvalue(L, opts_idx);
  set_uv_field(L, job_idx, "opts");
  lua_newtable(L);
  keep = lua_gettop(L);
  lua_pushvalue(L, keep);
  set_uv_field(L, job_idx, "keep");
  job->easy = curl_easy_init();
  if (job->easy == NULL) luaL_error(L, "gptimage: curl_easy_init failed");
  gi_request_build(L, opts_idx, op, c->model, job->easy, keep, &job->req);
  lua_settop(L, job_idx);
  read_local_options(L, opts_idx, job_idx, job);
  if (job->req.n < 1) job->req.n = 1;
  job->scanner = gi_scanner_new(&(gi_scanner_cb){job, scan_b64_begin, scan_b64_data, scan_b64_end},
                                SKELETON_LIMIT);
  if (job->scanner == NULL) luaL_error(L, "gptimage: out of memory");
  if (common_options(job, c) != 0 || api_options(L, job, c) != 0)
    luaL_error(L, "gptimage: cannot set up the request (curl_easy_setopt failed)");
  launch(L, client_idx, job_idx, c, job);
  return job;
}

/* ------------------------------------------------------------------ */
/* raw requests: client:request{...} for the endpoints around the images
 * (files and batches for the Batch API) */

static const char *const RAW_OPTIONS[] = {
  "method", "path", "query", "json", "body", "content_type", "form", "save",
  "timeout", "max_retries", "on_done", NULL
};

static void raw_check_options(lua_State *L, int opts) {
  lua_pushnil(L);
  while (lua_next(L, opts)) {
    int i;
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
    for (i = 0; k && RAW_OPTIONS[i]; i++)
      if (strcmp(k, RAW_OPTIONS[i]) == 0) break;
    if (k == NULL || RAW_OPTIONS[i] == NULL)
      luaL_error(L, "request: unknown option '%s'", k ? k : "?");
    lua_pop(L, 1);
  }
}

static void raw_add_header(lua_State *L, gi_job *job, const char *line) {
  struct curl_slist *next = curl_slist_append(job->headers, line);
  if (next == NULL) luaL_error(L, "gptimage: out of memory");
  job->headers = next;
}

static void raw_build_url(lua_State *L, int opts, gi_client *c, gi_job *job) {
  const char *path;
  int url, top = lua_gettop(L);
  lua_getfield(L, opts, "path");
  path = lua_tostring(L, -1);
  if (lua_type(L, -1) != LUA_TSTRING || path[0] == '\0')
    luaL_error(L, "request: 'path' must be a non-empty string (relative to base_url)");
  if (strstr(path, "://") || strstr(path, "..") || strchr(path, '?') || strchr(path, '#') ||
      strchr(path, ' ') || strchr(path, '\r') || strchr(path, '\n'))
    luaL_error(L, "request: 'path' must be a plain path relative to base_url");
  while (*path == '/') path++;
  lua_pushfstring(L, "%s/%s", c->base_url, path);
  url = lua_gettop(L);
  lua_getfield(L, opts, "query");
  if (!lua_isnil(L, -1)) {
    int q = lua_gettop(L), first = 1;
    if (!lua_istable(L, q)) luaL_error(L, "request: 'query' must be a table");
    lua_pushnil(L);
    while (lua_next(L, q)) {
      char *k, *v;
      if (lua_type(L, -2) != LUA_TSTRING || !lua_isstring(L, -1))
        luaL_error(L, "request: 'query' maps names to strings or numbers");
      k = curl_easy_escape(job->easy, lua_tostring(L, -2), 0);
      v = curl_easy_escape(job->easy, lua_tostring(L, -1), 0);
      if (k == NULL || v == NULL) {
        curl_free(k);
        curl_free(v);
        luaL_error(L, "gptimage: out of memory");
      }
      lua_pushfstring(L, "%s%s%s=%s", lua_tostring(L, url), first ? "?" : "&", k, v);
      curl_free(k);
      curl_free(v);
      lua_replace(L, url);
      first = 0;
      lua_pop(L, 1);
    }
  }
  if (curl_easy_setopt(job->easy, CURLOPT_URL, lua_tostring(L, url)) != CURLE_OK)
    luaL_error(L, "request: bad URL");
  lua_settop(L, top);
}

/* form = { {name=, value=} | {name=, path=, filename=, type=} ... } */
static void raw_build_form(lua_State *L, int form, gi_job *job) {
  int i, n;
  if (!lua_istable(L, form)) luaL_error(L, "request: 'form' must be a list of parts");
  job->req.mime = curl_mime_init(job->easy);
  if (job->req.mime == NULL) luaL_error(L, "gptimage: out of memory");
  n = (int)lua_rawlen(L, form);
  for (i = 1; i <= n; i++) {
    curl_mimepart *part;
    const char *name, *value, *path, *filename, *type;
    size_t vlen = 0;
    int e;
    CURLcode rc;
    lua_rawgeti(L, form, i);
    e = lua_gettop(L);
    if (!lua_istable(L, e)) luaL_error(L, "request: form part %d must be a table", i);
    lua_getfield(L, e, "name");
    lua_getfield(L, e, "value");
    lua_getfield(L, e, "path");
    lua_getfield(L, e, "filename");
    lua_getfield(L, e, "type");
    name = lua_tostring(L, e + 1);
    value = lua_isstring(L, e + 2) ? lua_tolstring(L, e + 2, &vlen) : NULL;
    path = lua_tostring(L, e + 3);
    filename = lua_tostring(L, e + 4);
    type = lua_tostring(L, e + 5);
    if (name == NULL || (value == NULL) == (path == NULL))
      luaL_error(L, "request: form part %d needs a name and either value or path", i);
    part = curl_mime_addpart(job->req.mime);
    if (part == NULL) luaL_error(L, "gptimage: out of memory");
    rc = curl_mime_name(part, name);
    if (value) rc |= curl_mime_data(part, value, vlen);
    if (path) rc |= curl_mime_filedata(part, path);
    if (filename) rc |= curl_mime_filename(part, filename);
    if (type) rc |= curl_mime_type(part, type);
    if (rc != CURLE_OK) luaL_error(L, "request: cannot build form part %d ('%s')", i, name);
    lua_settop(L, e - 1);
  }
}

static gi_job *start_raw_job(lua_State *L, int client_idx, int opts) {
  gi_client *c = gi_client_ready(L, client_idx);
  gi_job *job;
  int job_idx;
  const char *method;
  struct curl_slist *h;
  CURLcode rc = CURLE_OK;
  client_idx = lua_absindex(L, client_idx);
  opts = lua_absindex(L, opts);
  luaL_checktype(L, opts, LUA_TTABLE);
  raw_check_options(L, opts);
  job = new_job(L, client_idx, c, JOB_RAW, "request");
  job_idx = lua_gettop(L);
  lua_pushvalue(L, opts);
  set_uv_field(L, job_idx, "opts");
  job->easy = curl_easy_init();
  if (job->easy == NULL) luaL_error(L, "gptimage: curl_easy_init failed");
  lua_getfield(L, opts, "method");
  method = lua_isnil(L, -1) ? "GET" : lua_tostring(L, -1);
  if (method == NULL || (strcmp(method, "GET") && strcmp(method, "POST") && strcmp(method, "DELETE")))
    luaL_error(L, "request: 'method' must be GET, POST or DELETE");
  raw_build_url(L, opts, c, job);
  for (h = c->headers; h; h = h->next) raw_add_header(L, job, h->data);
  lua_getfield(L, opts, "json");
  lua_getfield(L, opts, "body");
  lua_getfield(L, opts, "form");
  if (!lua_isnil(L, -3) + !lua_isnil(L, -2) + !lua_isnil(L, -1) > 1)
    luaL_error(L, "request: give one of 'json', 'body' and 'form'");
  if (!lua_isnil(L, -3) || !lua_isnil(L, -2)) {
    size_t len;
    const char *text;
    if (!lua_isnil(L, -3)) {
      gi_json_encode(L, -3);
      raw_add_header(L, job, "Content-Type: application/json");
    } else {
      if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "request: 'body' must be a string");
      lua_pushvalue(L, -2);
      lua_getfield(L, opts, "content_type");
      lua_pushfstring(L, "Content-Type: %s",
                      lua_isstring(L, -1) ? lua_tostring(L, -1) : "application/octet-stream");
      if (strchr(lua_tostring(L, -1), '\n') || strchr(lua_tostring(L, -1), '\r'))
        luaL_error(L, "request: bad 'content_type'");
      raw_add_header(L, job, lua_tostring(L, -1));
      lua_pop(L, 2);
    }
    text = lua_tolstring(L, -1, &len);
    job->req.json = (char *)malloc(len + 1);
    if (job->req.json == NULL) luaL_error(L, "gptimage: out of memory");
    memcpy(job->req.json, text, len + 1);
    job->req.json_len = len;
    rc |= curl_easy_setopt(job->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    rc |= curl_easy_setopt(job->easy, CURLOPT_POSTFIELDS, job->req.json);
    lua_pop(L, 1);
  } else if (!lua_isnil(L, -1)) {
    raw_build_form(L, lua_gettop(L), job);
    rc |= curl_easy_setopt(job->easy, CURLOPT_MIMEPOST, job->req.mime);
  }
  lua_pop(L, 3);
  if (strcmp(method, "POST") == 0 && job->req.json == NULL && job->req.mime == NULL) {
    rc |= curl_easy_setopt(job->easy, CURLOPT_POSTFIELDS, "");
    rc |= curl_easy_setopt(job->easy, CURLOPT_POSTFIELDSIZE, 0L);
  }
  if (strcmp(method, "DELETE") == 0) rc |= curl_easy_setopt(job->easy, CURLOPT_CUSTOMREQUEST, "DELETE");
  lua_pop(L, 1); /* method */
  read_local_options(L, opts, job_idx, job);
  job->req.n = 1;
  job->scanner = gi_scanner_new(&(gi_scanner_cb){job, scan_b64_begin, scan_b64_data, scan_b64_end},
                                SKELETON_LIMIT);
  if (job->scanner == NULL) luaL_error(L, "gptimage: out of memory");
  if (rc != CURLE_OK || common_options(job, c) != 0 ||
      curl_easy_setopt(job->easy, CURLOPT_HTTPHEADER, job->headers) != CURLE_OK ||
      curl_easy_setopt(job->easy, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK)
    luaL_error(L, "gptimage: cannot set up the request (curl_easy_setopt failed)");
  launch(L, client_idx, job_idx, c, job);
  return job;
}

/* ------------------------------------------------------------------ */
/* batches */

static void push_entry_op(lua_State *L, int entry) {
  lua_getfield(L, entry, "op");
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_pushliteral(L, "generate");
  }
}

/* Validates a batch entry without starting it (a throwaway easy handle). */
typedef struct probe {
  CURL *easy;
  gi_request req;
} probe;

static int probe_gc(lua_State *L) {
  probe *p = (probe *)lua_touserdata(L, 1);
  gi_request_free(&p->req);
  if (p->easy) curl_easy_cleanup(p->easy);
  p->easy = NULL;
  return 0;
}

static void validate_entry(lua_State *L, int client_idx, int entry, int index) {
  gi_client *c = gi_client_ready(L, client_idx);
  probe *p;
  gi_op op;
  int top = lua_gettop(L);
  if (!lua_istable(L, entry)) luaL_error(L, "batch entry %d must be a table", index);
  push_entry_op(L, entry);
  op = gi_request_checkop(L, -1);
  p = (probe *)lua_newuserdata(L, sizeof *p);
  memset(p, 0, sizeof *p);
  lua_newtable(L); /* metatable with __gc, so a raise frees it */
  lua_pushcfunction(L, probe_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  p->easy = curl_easy_init();
  if (p->easy == NULL) luaL_error(L, "gptimage: curl_easy_init failed");
  lua_newtable(L);
  gi_request_build(L, entry, op, c->model, p->easy, lua_gettop(L), &p->req);
  gi_request_free(&p->req);
  memset(&p->req, 0, sizeof p->req);
  curl_easy_cleanup(p->easy);
  p->easy = NULL;
  lua_settop(L, top);
}

static int start_batch_child(lua_State *L, int client_idx, int parent_idx, gi_job *parent, int index);

static int start_child_protected(lua_State *L) {
  int client_idx = 1, entry = 2;
  gi_op op;
  const char *opname;
  push_entry_op(L, entry);
  opname = lua_tostring(L, -1);
  op = gi_request_checkop(L, -1);
  start_image_job(L, client_idx, op, opname, entry);
  return 1;
}

static void batch_finish_if_done(lua_State *L, int parent_idx, gi_job *parent) {
  if (parent->batch_done < parent->batch_total || parent->state == ST_DONE) return;
  get_uv_field(L, parent_idx, "results");
  lua_pushnil(L);
  store_result(L, parent_idx, parent);
}

static int start_batch_child(lua_State *L, int client_idx, int parent_idx, gi_job *parent, int index) {
  gi_job *child;
  int list_entry;
  get_uv_field(L, parent_idx, "list");
  lua_rawgeti(L, -1, index);
  list_entry = lua_gettop(L);
  lua_pushcfunction(L, start_child_protected);
  lua_pushvalue(L, client_idx);
  lua_pushvalue(L, list_entry);
  if (lua_pcall(L, 2, 1, 0) != 0) {
    /* entries were validated up front; this is the world failing (memory) */
    gi_error e;
    memset(&e, 0, sizeof e);
    e.kind = "io";
    e.message = lua_tostring(L, -1);
    e.retry_after = -1;
    get_uv_field(L, parent_idx, "results");
    lua_createtable(L, 0, 1);
    gi_error_push(L, &e, NULL);
    lua_setfield(L, -2, "err");
    lua_rawseti(L, -2, index);
    lua_pop(L, 4);
    parent->batch_done++;
    return -1;
  }
  child = (gi_job *)lua_touserdata(L, -1);
  child->parent = parent;
  child->batch_index = index;
  lua_pushvalue(L, parent_idx);
  set_uv_field(L, -2, "parent");
  parent->batch_running++;
  lua_pop(L, 3);
  return 0;
}

static void batch_fill(lua_State *L, int client_idx, int parent_idx, gi_job *parent) {
  while (parent->state != ST_DONE && parent->batch_running < parent->concurrency &&
         parent->batch_next <= parent->batch_total) {
    int index = parent->batch_next++;
    start_batch_child(L, client_idx, parent_idx, parent, index);
  }
  batch_finish_if_done(L, parent_idx, parent);
}

static void batch_child_done(lua_State *L, int client_idx, int child_idx, gi_job *child,
                             int err_slot, int *failed) {
  gi_job *parent = child->parent;
  int parent_idx;
  get_uv_field(L, child_idx, "parent");
  parent_idx = lua_gettop(L);
  if (lua_isnil(L, parent_idx) || parent->state == ST_DONE) {
    lua_pop(L, 1);
    return;
  }
  parent->batch_running--;
  parent->batch_done++;
  get_uv_field(L, parent_idx, "results");
  lua_createtable(L, 0, 2);
  get_uv_field(L, child_idx, "res");
  lua_setfield(L, -2, "res");
  get_uv_field(L, child_idx, "err");
  lua_setfield(L, -2, "err");
  lua_rawseti(L, -2, child->batch_index);
  lua_pop(L, 1);
  get_uv_field(L, parent_idx, "on_progress");
  if (lua_isfunction(L, -1)) {
    lua_pushinteger(L, parent->batch_done);
    lua_pushinteger(L, parent->batch_total);
    lua_pushinteger(L, child->batch_index);
    get_uv_field(L, child_idx, "res");
    get_uv_field(L, child_idx, "err");
    protected_call(L, 5, err_slot, failed);
  } else {
    lua_pop(L, 1);
  }
  if (!parent->client || parent->client->closed) {
    lua_pop(L, 1);
    return;
  }
  batch_fill(L, client_idx, parent_idx, parent);
  lua_pop(L, 1);
}

/* client:start("batch", list, opts) */
static int start_batch(lua_State *L, int client_idx, int list, int opts) {
  gi_client *c = gi_client_ready(L, client_idx);
  gi_job *job;
  int job_idx, i, n, conc = 4;
  luaL_checktype(L, list, LUA_TTABLE);
  n = (int)lua_rawlen(L, list);
  if (!lua_isnoneornil(L, opts)) {
    luaL_checktype(L, opts, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, opts)) {
      const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
      if (strcmp(k, "concurrency") != 0 && strcmp(k, "on_progress") != 0 && strcmp(k, "on_done") != 0)
        luaL_error(L, "batch: unknown option '%s' (concurrency, on_progress, on_done)", k);
      lua_pop(L, 1);
    }
    lua_getfield(L, opts, "concurrency");
    if (!lua_isnil(L, -1)) {
      if (!gi_isinteger(L, -1) || lua_tointeger(L, -1) < 1)
        luaL_error(L, "batch: 'concurrency' must be a positive integer");
      conc = (int)lua_tointeger(L, -1);
    }
    lua_pop(L, 1);
  }
  for (i = 1; i <= n; i++) {
    lua_rawgeti(L, list, i);
    validate_entry(L, client_idx, lua_gettop(L), i);
    lua_pop(L, 1);
  }
  job = new_job(L, client_idx, c, JOB_BATCH, "batch");
  job_idx = lua_gettop(L);
  job->batch_total = n;
  job->batch_next = 1;
  job->concurrency = conc;
  lua_pushvalue(L, list);
  set_uv_field(L, job_idx, "list");
  lua_createtable(L, n, 0);
  set_uv_field(L, job_idx, "results");
  if (!lua_isnoneornil(L, opts)) {
    lua_getfield(L, opts, "on_progress");
    if (!lua_isnil(L, -1) && !lua_isfunction(L, -1)) luaL_error(L, "batch: 'on_progress' must be a function");
    set_uv_field(L, job_idx, "on_progress");
    lua_getfield(L, opts, "on_done");
    if (!lua_isnil(L, -1) && !lua_isfunction(L, -1)) luaL_error(L, "batch: 'on_done' must be a function");
    set_uv_field(L, job_idx, "on_done");
  }
  link_job(c, job);
  anchor_job(L, client_idx, job_idx, job);
  batch_fill(L, client_idx, job_idx, job);
  lua_settop(L, job_idx);
  return 1;
}

int gi_job_start(lua_State *L) {
  const char *opname;
  gi_op op;
  gi_client_check(L, 1);
  opname = luaL_checkstring(L, 2);
  if (strcmp(opname, "batch") == 0) return start_batch(L, 1, 3, 4);
  if (strcmp(opname, "request") == 0) {
    start_raw_job(L, 1, 3);
    return 1;
  }
  op = gi_request_checkop(L, 2);
  luaL_checktype(L, 3, LUA_TTABLE);
  start_image_job(L, 1, op, opname, 3);
  return 1;
}

/* ------------------------------------------------------------------ */
/* job methods */

static int push_result(lua_State *L, int job_idx, gi_job *job) {
  if (job->state != ST_DONE) return 0;
  get_uv_field(L, job_idx, "res");
  get_uv_field(L, job_idx, "err");
  if (lua_isnil(L, -2) && lua_isnil(L, -1) && job->cancelled) {
    gi_error e;
    lua_pop(L, 1);
    memset(&e, 0, sizeof e);
    e.kind = "cancelled";
    e.message = "the job was cancelled";
    e.retry_after = -1;
    gi_error_push(L, &e, NULL);
  }
  return 2;
}

/* Waits for the job at job_idx; returns the number of results pushed. */
static int wait_job(lua_State *L, int job_idx, gi_job *job, double seconds) {
  double deadline = seconds >= 0 ? gi_now() + seconds : -1;
  int client_idx;
  if (job->state == ST_DONE && job->delivered) return push_result(L, job_idx, job);
  if (job->client == NULL || job->client->closed) return push_result(L, job_idx, job);
  push_job_client(L, job_idx);
  client_idx = lua_gettop(L);
  for (;;) {
    double left = -1;
    gi_client_drive(L, client_idx);
    if (job->state == ST_DONE && (job->delivered || job->client == NULL)) break;
    if (job->client == NULL || job->client->closed) break;
    if (deadline >= 0) {
      left = deadline - gi_now();
      if (left <= 0) {
        gi_error e;
        memset(&e, 0, sizeof e);
        e.kind = "timeout";
        e.message = "the job is still running (wait timed out)";
        e.retry_after = -1;
        lua_pushnil(L);
        gi_error_push(L, &e, NULL);
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "pending");
        return 2;
      }
    }
    gi_client_sleep(job->client, left);
  }
  lua_pop(L, 1);
  return push_result(L, job_idx, job);
}

static int job_wait(lua_State *L) {
  gi_job *job = check_job(L, 1);
  double seconds = -1;
  if (!lua_isnoneornil(L, 2)) {
    seconds = luaL_checknumber(L, 2);
    if (seconds < 0) seconds = 0;
  }
  lua_settop(L, 1);
  return wait_job(L, 1, job, seconds);
}

static int job_done(lua_State *L) {
  gi_job *job = check_job(L, 1);
  lua_pushboolean(L, job->state == ST_DONE);
  return 1;
}

static int job_result(lua_State *L) {
  gi_job *job = check_job(L, 1);
  return push_result(L, 1, job);
}

static void cancel_job(lua_State *L, int job_idx, gi_job *job);

static void cancel_children(lua_State *L, int parent_idx, gi_job *parent) {
  gi_job *j;
  gi_client *c = parent->client;
  int client_idx;
  if (c == NULL) return;
  push_job_client(L, parent_idx);
  client_idx = lua_gettop(L);
  for (j = c->jobs; j; j = j->next) {
    if (j->parent != parent || j->state == ST_DONE) continue;
    if (push_job(L, client_idx, j)) cancel_job(L, lua_gettop(L), j);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  /* entries never started count as cancelled too */
  get_uv_field(L, parent_idx, "results");
  while (parent->batch_next <= parent->batch_total) {
    gi_error e;
    memset(&e, 0, sizeof e);
    e.kind = "cancelled";
    e.message = "the batch was cancelled";
    e.retry_after = -1;
    lua_createtable(L, 0, 1);
    gi_error_push(L, &e, NULL);
    lua_setfield(L, -2, "err");
    lua_rawseti(L, -2, parent->batch_next++);
    parent->batch_done++;
  }
  lua_pop(L, 1);
}

static void cancel_job(lua_State *L, int job_idx, gi_job *job) {
  gi_error e;
  job_idx = lua_absindex(L, job_idx);
  if (job->state == ST_DONE) return;
  if (job->kind == JOB_BATCH) {
    cancel_children(L, job_idx, job);
    /* children report to the batch as they are delivered */
    job->cancelled = 1;
    return;
  }
  abort_images(job);
  free_partials(job);
  reset_response(job);
  release_transfer(job);
  job->cancelled = 1;
  memset(&e, 0, sizeof e);
  e.kind = "cancelled";
  e.message = "the job was cancelled";
  e.retry_after = -1;
  lua_pushnil(L);
  gi_error_push(L, &e, NULL);
  store_result(L, job_idx, job);
}

static int job_cancel(lua_State *L) {
  gi_job *job = check_job(L, 1);
  int client_idx;
  if (job->state == ST_DONE && job->kind == JOB_IMAGE) {
    lua_pushboolean(L, 0);
    return 1;
  }
  if (job->client == NULL || job->client->closed) {
    lua_pushboolean(L, 0);
    return 1;
  }
  cancel_job(L, 1, job);
  push_job_client(L, 1);
  client_idx = lua_gettop(L);
  /* on_done callbacks (and a batch's bookkeeping) run now, not at some
   * later poll that may never come */
  if (gi_job_deliver(L, client_idx)) lua_error(L);
  if (job->kind == JOB_BATCH && job->state != ST_DONE) {
    job->batch_done = job->batch_total;
    batch_finish_if_done(L, 1, job);
    if (gi_job_deliver(L, client_idx)) lua_error(L);
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int job_status(lua_State *L) {
  gi_job *job = check_job(L, 1);
  const char *s = job->state == ST_RUNNING ? "running"
                  : job->state == ST_RETRY_WAIT ? "retrying"
                  : job->cancelled ? "cancelled" : "done";
  lua_pushstring(L, s);
  return 1;
}

static int job_tostring(lua_State *L) {
  gi_job *job = check_job(L, 1);
  lua_pushfstring(L, "gptimage.Job (%s, %s)", job->op,
                  job->state == ST_DONE ? (job->cancelled ? "cancelled" : "done") : "running");
  return 1;
}

static int job_gc(lua_State *L) {
  gi_job *job = check_job(L, 1);
  if (job->client && !job->client->closed) unlink_job(job);
  free_job(job);
  job->client = NULL;
  return 0;
}

void gi_job_cancel_all(lua_State *L, gi_client *c) {
  (void)L;
  gi_job *job = c->jobs;
  while (job) {
    gi_job *next = job->next;
    abort_images(job);
    free_partials(job);
    reset_response(job);
    release_transfer(job);
    if (job->state != ST_DONE) job->cancelled = 1;
    job->state = ST_DONE;
    job->delivered = 1;
    job->client = NULL;
    job->next = job->prev = NULL;
    job = next;
  }
  c->jobs = NULL;
}

int gi_job_call(lua_State *L, const char *op) {
  gi_op o;
  int job_idx;
  gi_client_check(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  lua_pushstring(L, op);
  o = gi_request_checkop(L, 3);
  lua_pop(L, 1);
  start_image_job(L, 1, o, op, 2);
  job_idx = lua_gettop(L);
  return wait_job(L, job_idx, (gi_job *)lua_touserdata(L, job_idx), -1);
}

int gi_job_request(lua_State *L) {
  int job_idx;
  gi_client_check(L, 1);
  lua_settop(L, 2);
  start_raw_job(L, 1, 2);
  job_idx = lua_gettop(L);
  return wait_job(L, job_idx, (gi_job *)lua_touserdata(L, job_idx), -1);
}

int gi_job_batch(lua_State *L) {
  int job_idx;
  gi_client_check(L, 1);
  lua_settop(L, 3);
  start_batch(L, 1, 2, 3);
  job_idx = lua_gettop(L);
  return wait_job(L, job_idx, (gi_job *)lua_touserdata(L, job_idx), -1);
}

static const luaL_Reg JOB_METHODS[] = {
  {"wait", job_wait},
  {"done", job_done},
  {"result", job_result},
  {"cancel", job_cancel},
  {"status", job_status},
  {NULL, NULL}
};

void gi_job_open(lua_State *L) {
  if (luaL_newmetatable(L, GI_JOB_MT)) {
    lua_newtable(L);
    luaL_setfuncs(L, JOB_METHODS, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, job_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, job_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, GI_JOB_MT);
    lua_setfield(L, -2, "__name");
  }
  lua_pop(L, 1);
}

int gi_job_pending(gi_client *c) {
  int n = 0;
  gi_job *j;
  for (j = c->jobs; j; j = j->next) n++;
  return n;
}
