/* fuzz_transfer: a job's libcurl callbacks (src/transfer.c) fed any
 * response: headers, then a body in any chunking.
 *
 * The input's first byte chooses the job (an image call, a raw request or a
 * url download; in memory or saved to files; n = 1 or 2) and the status the
 * response has; then come header lines up to an empty line, then the body.
 * The body is fed whole, in pseudo-random chunks chosen from the input, and
 * (small inputs) one byte at a time; each run must end the same: the same
 * failure and message, the same images, partial images and event skeletons,
 * the same excerpt.  Header values the job keeps must stay printable and
 * inside their buffers, and a run that saves to files must leave nothing
 * behind once its images are aborted. */
#include <dirent.h>
#include <unistd.h>
#include "fuzz.h"
#include "transfer.h"

typedef struct outcome {
  char fail_kind[16];
  char fail_msg[300];
  int sse_mode;
  unsigned completed;
  fuzz_buf images;   /* per image slot: present flag, size, bytes (memory) */
  fuzz_buf partials; /* per partial: meta, bytes */
  fuzz_buf metas;    /* final_meta and error_event */
  fuzz_buf excerpt;
  fuzz_buf current;  /* a raw answer or download's bytes */
} outcome;

enum { WHOLE, CHUNKS, BYTES };

static const long STATUSES[16] = {200, 200, 200, 200, 200, 200, 201, 204,
                                  299, 400, 401, 404, 429, 500, 502, 503};

static char save_dir[64];

static void add_str(fuzz_buf *b, const char *s) {
  uint64_t n = s ? strlen(s) : (uint64_t)-1;
  fuzz_buf_add(b, &n, sizeof n);
  if (s) fuzz_buf_add(b, s, strlen(s));
}

static void add_bytes(fuzz_buf *b, const char *p, size_t len) {
  uint64_t n = len;
  fuzz_buf_add(b, &n, sizeof n);
  fuzz_buf_add(b, p, len);
}

static void check_printable(const char *s, size_t cap) {
  size_t n = strnlen(s, cap);
  size_t i;
  FUZZ_CHECK(n < cap);
  for (i = 0; i < n; i++) FUZZ_CHECK((unsigned char)s[i] >= 0x20 && s[i] != 0x7f);
}

static void record(gi_job *job, outcome *o) {
  size_t i;
  partial *p;
  snprintf(o->fail_kind, sizeof o->fail_kind, "%s", job->fail_kind ? job->fail_kind : "");
  snprintf(o->fail_msg, sizeof o->fail_msg, "%s", job->fail_msg);
  o->sse_mode = job->sse_mode;
  o->completed = job->completed;
  FUZZ_CHECK(job->nimages <= job->capimages);
  for (i = 0; i < job->nimages; i++) {
    gi_sink *s = job->images[i];
    uint8_t present = s != NULL;
    fuzz_buf_add(&o->images, &present, 1);
    if (s && job->save == NULL) {
      size_t n;
      const char *d = gi_sink_data(s, &n);
      add_bytes(&o->images, d ? d : "", d ? n : 0);
    } else if (s) {
      uint64_t n = gi_sink_size(s);
      fuzz_buf_add(&o->images, &n, sizeof n);
    }
  }
  for (p = job->partials; p; p = p->next) {
    FUZZ_CHECK(p->meta != NULL && p->meta[p->meta_len] == '\0');
    add_bytes(&o->partials, p->meta, p->meta_len);
    add_bytes(&o->partials, p->bytes ? p->bytes : "", p->bytes ? p->len : 0);
  }
  add_str(&o->metas, job->final_meta);
  add_str(&o->metas, job->error_event);
  FUZZ_CHECK(job->excerpt_len <= sizeof job->excerpt);
  fuzz_buf_add(&o->excerpt, job->excerpt, job->excerpt_len);
  if (job->current && (job->kind == JOB_RAW || job->downloading) && job->save == NULL) {
    size_t n;
    const char *d = gi_sink_data(job->current, &n);
    add_bytes(&o->current, d ? d : "", d ? n : 0);
  }
  check_printable(job->request_id, sizeof job->request_id);
  check_printable(job->content_type, sizeof job->content_type);
  FUZZ_CHECK(strnlen(job->fail_msg, sizeof job->fail_msg) < sizeof job->fail_msg);
  FUZZ_CHECK(job->should_retry >= -1 && job->should_retry <= 1);
  FUZZ_CHECK(job->retry_after == -1 || job->retry_after >= 0);
}

/* A failure stops the transfer where it happens, so what came after it in
 * the same piece of body is not compared, only the failure itself. */
static void same(const outcome *a, const outcome *b) {
  FUZZ_CHECK(strcmp(a->fail_kind, b->fail_kind) == 0);
  FUZZ_CHECK(strcmp(a->fail_msg, b->fail_msg) == 0);
  if (a->fail_kind[0]) {
    FUZZ_CHECK(fuzz_buf_prefix(&a->excerpt, &b->excerpt) || fuzz_buf_prefix(&b->excerpt, &a->excerpt));
    return;
  }
  FUZZ_CHECK(a->sse_mode == b->sse_mode);
  FUZZ_CHECK(a->completed == b->completed);
  FUZZ_CHECK(fuzz_buf_equal(&a->images, &b->images));
  FUZZ_CHECK(fuzz_buf_equal(&a->partials, &b->partials));
  FUZZ_CHECK(fuzz_buf_equal(&a->metas, &b->metas));
  FUZZ_CHECK(fuzz_buf_equal(&a->excerpt, &b->excerpt));
  FUZZ_CHECK(fuzz_buf_equal(&a->current, &b->current));
}

static void release(outcome *o) {
  fuzz_buf_free(&o->images);
  fuzz_buf_free(&o->partials);
  fuzz_buf_free(&o->metas);
  fuzz_buf_free(&o->excerpt);
  fuzz_buf_free(&o->current);
  memset(o, 0, sizeof *o);
}

static void remove_save_dir(void) {
  if (save_dir[0]) rmdir(save_dir);
}

static int dir_is_empty(const char *path) {
  DIR *d = opendir(path);
  struct dirent *e;
  int empty = 1;
  FUZZ_CHECK(d != NULL);
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) empty = 0;
  closedir(d);
  return empty;
}

/* One response through a fresh job, as libcurl would hand it over. */
static void run(uint8_t mode, const uint8_t *headers, size_t hlen, const uint8_t *body, size_t blen,
                int how, uint64_t seed, outcome *o) {
  gi_client client;
  gi_job job;
  char path[128];
  size_t off = 0, start = 0;
  memset(&client, 0, sizeof client);
  client.max_response = 1e15;
  memset(&job, 0, sizeof job);
  job.client = &client;
  job.kind = (mode & 3) == 2 ? JOB_RAW : JOB_IMAGE;
  job.state = ST_RUNNING;
  job.retry_after = -1;
  job.should_retry = -1;
  job.status = STATUSES[(mode >> 4) & 15];
  job.req.n = (mode & 8) ? 2 : 1;
  snprintf(job.req.output_format, sizeof job.req.output_format, "png");
  if (mode & 4) {
    snprintf(path, sizeof path, "%s/out.png", save_dir);
    job.save = path;
  }
  job.scanner = gi_transfer_new_scanner(&job);
  FUZZ_CHECK(job.scanner != NULL);
  if ((mode & 3) == 3) { /* a url download: the body goes to the image as it is */
    job.downloading = 1;
    job.current = gi_sink_new_memory(0);
    FUZZ_CHECK(job.current != NULL);
    FUZZ_CHECK(gi_transfer_put_image(&job, 0, job.current) == 0);
    job.save = NULL;
  }

  /* header lines, each in its own call, as libcurl makes them */
  while (start < hlen) {
    size_t end = start;
    while (end < hlen && headers[end] != '\n') end++;
    if (end < hlen) end++;
    FUZZ_CHECK(gi_transfer_on_header((char *)headers + start, 1, end - start, &job) == end - start);
    start = end;
  }
  while (off < blen) {
    size_t take = how == WHOLE ? blen : how == BYTES ? 1 : fuzz_chunk(&seed, blen - off);
    size_t got = gi_transfer_on_body((char *)body + off, 1, take, &job);
    FUZZ_CHECK(got == take || got == 0);
    if (got != take) {
      FUZZ_CHECK(job.fail_kind != NULL && job.fail_msg[0] != '\0');
      break; /* libcurl stops the transfer */
    }
    off += take;
  }
  /* the end of the transfer, as result.c begins it */
  if (job.sse_mode && job.fail_kind == NULL) gi_sse_finish(&job.sse);
  else if (job.fail_kind == NULL) (void)gi_scanner_finish(job.scanner);
  record(&job, o);

  gi_transfer_abort_images(&job);
  gi_transfer_free_partials(&job);
  gi_transfer_reset(&job);
  gi_scanner_free(job.scanner);
  free(job.images);
  if (mode & 4) FUZZ_CHECK(dir_is_empty(save_dir));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint64_t seed = fuzz_hash(data, size);
  outcome whole = {0}, other = {0};
  const uint8_t *headers, *body;
  size_t hlen = 0, blen;
  uint8_t mode;
  if (size == 0) return 0;
  if (save_dir[0] == '\0') {
    snprintf(save_dir, sizeof save_dir, "%s", "/tmp/fuzz_transfer.XXXXXX");
    FUZZ_CHECK(mkdtemp(save_dir) != NULL);
    atexit(remove_save_dir);
  }
  mode = data[0];
  headers = data + 1;
  /* headers end at the first empty line ("\n\n" or "\r\n\r\n") */
  while (hlen < size - 1) {
    if (headers[hlen] == '\n' && (hlen == 0 || headers[hlen - 1] == '\n' ||
                                  (hlen >= 2 && headers[hlen - 1] == '\r' && headers[hlen - 2] == '\n'))) {
      hlen++;
      break;
    }
    hlen++;
  }
  body = headers + hlen;
  blen = size - 1 - hlen;

  run(mode, headers, hlen, body, blen, WHOLE, seed, &whole);
  run(mode, headers, hlen, body, blen, CHUNKS, seed, &other);
  same(&whole, &other);
  release(&other);
  if (blen <= 4096) {
    run(mode, headers, hlen, body, blen, BYTES, seed, &other);
    same(&whole, &other);
    release(&other);
  }
  release(&whole);
  return 0;
}
