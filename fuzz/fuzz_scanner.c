/* fuzz_scanner: the streaming JSON scanner fed any bytes in any chunking.
 *
 * The input is the response body.  It is fed whole, in pseudo-random
 * chunks chosen from the input itself, one byte at a time (small inputs),
 * and again after a reset; every run must produce the same result codes,
 * messages, skeleton and image text, and the callbacks must come in order
 * (begin, data..., end; indexes 0, 1, 2...).  A skeleton limit and a
 * callback that refuses are tried too. */
#include "fuzz.h"
#include "scanner.h"

typedef struct record {
  fuzz_buf log;       /* begin marker, index, text, end marker, in order */
  int in_string;
  unsigned next_index;
  unsigned events;
  unsigned refuse_at; /* the callback numbered so returns non-zero; 0: never */
} record;

static int refuse(record *r) {
  r->events++;
  return r->refuse_at != 0 && r->events == r->refuse_at;
}

static int on_begin(void *ud, unsigned index) {
  record *r = (record *)ud;
  FUZZ_CHECK(!r->in_string);
  FUZZ_CHECK(index == r->next_index);
  r->next_index++;
  r->in_string = 1;
  fuzz_buf_add(&r->log, "\x01", 1);
  fuzz_buf_add(&r->log, &index, sizeof index);
  return refuse(r);
}

static int on_data(void *ud, const char *text, size_t len) {
  record *r = (record *)ud;
  FUZZ_CHECK(r->in_string);
  FUZZ_CHECK(len > 0);
  fuzz_buf_add(&r->log, text, len);
  return refuse(r);
}

static int on_end(void *ud) {
  record *r = (record *)ud;
  FUZZ_CHECK(r->in_string);
  r->in_string = 0;
  fuzz_buf_add(&r->log, "\x02", 1);
  return refuse(r);
}

typedef struct outcome {
  int feed_rc, finish_rc;
  char msg[256];
  fuzz_buf skeleton;
  record rec;
} outcome;

enum { WHOLE, CHUNKS, BYTES };

/* Feeds data into s (fresh or reset) and records what happened in o. */
static void run(gi_scanner *s, const uint8_t *data, size_t size, int how, uint64_t seed, outcome *o) {
  size_t off = 0, len;
  const char *skel;
  o->feed_rc = GI_SCAN_OK;
  while (off < size || how == WHOLE) {
    size_t take = how == WHOLE ? size : how == BYTES ? 1 : fuzz_chunk(&seed, size - off);
    int rc = gi_scanner_feed(s, (const char *)data + off, take);
    off += take;
    if (rc != GI_SCAN_OK) {
      o->feed_rc = rc;
      FUZZ_CHECK(gi_scanner_feed(s, "{}", 2) == rc); /* sticky */
      break;
    }
    if (how == WHOLE) break;
  }
  o->finish_rc = gi_scanner_finish(s);
  if (o->feed_rc != GI_SCAN_OK) FUZZ_CHECK(o->finish_rc == o->feed_rc);
  FUZZ_CHECK(o->finish_rc == GI_SCAN_OK || gi_scanner_message(s)[0] != '\0');
  snprintf(o->msg, sizeof o->msg, "%s", gi_scanner_message(s));
  skel = gi_scanner_skeleton(s, &len);
  FUZZ_CHECK(skel != NULL && skel[len] == '\0');
  fuzz_buf_add(&o->skeleton, skel, len);
}

static gi_scanner *new_scanner(outcome *o, size_t limit) {
  gi_scanner_cb cb;
  gi_scanner *s;
  cb.ud = &o->rec;
  cb.b64_begin = on_begin;
  cb.b64_data = on_data;
  cb.b64_end = on_end;
  s = gi_scanner_new(&cb, limit);
  FUZZ_CHECK(s != NULL);
  return s;
}

static void same(const outcome *a, const outcome *b) {
  FUZZ_CHECK(a->feed_rc == b->feed_rc);
  FUZZ_CHECK(a->finish_rc == b->finish_rc);
  FUZZ_CHECK(strcmp(a->msg, b->msg) == 0);
  FUZZ_CHECK(fuzz_buf_equal(&a->skeleton, &b->skeleton));
  FUZZ_CHECK(fuzz_buf_equal(&a->rec.log, &b->rec.log));
  FUZZ_CHECK(a->rec.next_index == b->rec.next_index);
}

static void release(outcome *o) {
  fuzz_buf_free(&o->skeleton);
  fuzz_buf_free(&o->rec.log);
  memset(o, 0, sizeof *o);
}

static int is_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint64_t seed = fuzz_hash(data, size);
  outcome whole = {0}, other = {0};
  gi_scanner *s, *t;
  size_t limit;

  s = new_scanner(&whole, 0);
  run(s, data, size, WHOLE, seed, &whole);
  FUZZ_CHECK(whole.skeleton.len <= size);
  FUZZ_CHECK(whole.feed_rc != GI_SCAN_ELIMIT && whole.feed_rc != GI_SCAN_ECALLBACK);
  if (whole.finish_rc == GI_SCAN_OK) {
    FUZZ_CHECK(!whole.rec.in_string);
    if (whole.rec.next_index == 0) {
      /* no image string: the skeleton is the document itself */
      size_t a = 0, b = size;
      while (a < b && is_space(data[a])) a++;
      while (b > a && is_space(data[b - 1])) b--;
      FUZZ_CHECK(whole.skeleton.len == b - a && (a == b || memcmp(whole.skeleton.p, data + a, b - a) == 0));
    }
  }

  t = new_scanner(&other, 0);
  run(t, data, size, CHUNKS, seed, &other);
  same(&whole, &other);
  release(&other);

  if (size <= 4096) {
    gi_scanner_reset(t);
    other.rec.refuse_at = 0;
    run(t, data, size, BYTES, seed, &other);
    same(&whole, &other);
    release(&other);
  }

  gi_scanner_free(s);
  gi_scanner_free(t);

  /* one scanner for two documents: reset must forget the first */
  {
    outcome again = {0};
    s = new_scanner(&again, 0);
    run(s, data, size, CHUNKS, seed ^ 0x1234, &again);
    same(&whole, &again);
    gi_scanner_reset(s);
    release(&again);
    run(s, data, size, CHUNKS, seed ^ 0x4321, &again);
    same(&whole, &again);
    release(&again);
    gi_scanner_free(s);
  }

  /* a skeleton limit: the same outcome whole and in chunks, ELIMIT exactly
   * when the skeleton would have been longer */
  limit = (size_t)(seed >> 20) % (whole.skeleton.len + 2);
  if (limit > 0) {
    outcome lw = {0}, lc = {0};
    s = new_scanner(&lw, limit);
    t = new_scanner(&lc, limit);
    run(s, data, size, WHOLE, seed, &lw);
    run(t, data, size, CHUNKS, seed ^ 0x77, &lc);
    same(&lw, &lc);
    FUZZ_CHECK(lw.skeleton.len <= limit);
    FUZZ_CHECK(fuzz_buf_prefix(&lw.skeleton, &whole.skeleton));
    if (whole.finish_rc == GI_SCAN_OK)
      FUZZ_CHECK(lw.finish_rc == (whole.skeleton.len > limit ? GI_SCAN_ELIMIT : GI_SCAN_OK));
    gi_scanner_free(s);
    gi_scanner_free(t);
    release(&lw);
    release(&lc);
  }

  /* a consumer that refuses its k-th callback stops the scanner there */
  if (whole.rec.events > 0) {
    outcome rw = {0}, rc = {0};
    unsigned k = (unsigned)(seed % whole.rec.events) + 1;
    rw.rec.refuse_at = rc.rec.refuse_at = k;
    s = new_scanner(&rw, 0);
    t = new_scanner(&rc, 0);
    run(s, data, size, WHOLE, seed, &rw);
    run(t, data, size, CHUNKS, seed, &rc);
    FUZZ_CHECK(rw.feed_rc == GI_SCAN_ECALLBACK && rw.rec.events == k);
    /* chunks change how the text is cut into data calls, so the k-th
     * callback may come elsewhere, or not at all */
    if (rc.feed_rc == GI_SCAN_ECALLBACK) FUZZ_CHECK(rc.rec.events == k);
    else FUZZ_CHECK(rc.rec.events < k && fuzz_buf_equal(&rc.rec.log, &whole.rec.log));
    FUZZ_CHECK(fuzz_buf_prefix(&rw.rec.log, &whole.rec.log));
    FUZZ_CHECK(fuzz_buf_prefix(&rc.rec.log, &whole.rec.log));
    gi_scanner_free(s);
    gi_scanner_free(t);
    release(&rw);
    release(&rc);
  }
  release(&whole);
  return 0;
}
