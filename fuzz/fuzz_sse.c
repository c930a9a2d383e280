/* fuzz_sse: the event-stream framer fed any bytes in any chunking.
 *
 * The events it dispatches (name and data) must be the same whole, in
 * pseudo-random chunks chosen from the input, one byte at a time, and (for
 * inputs up to SPLIT_MAX bytes) split in two at every position, and
 * the same as a plain whole-buffer reading of the WHATWG rules written
 * here; the data callback must open each event exactly once. */
#include "fuzz.h"
#include "sse.h"

#define EVENT_NAME_MAX 255
/* Splitting at every position costs size^2: the replay of the corpus (every
 * build) affords it for whole image streams, the fuzzer only for short
 * inputs, so that it keeps its pace. */
#ifdef FUZZ_REPLAY
#define SPLIT_MAX 2048
#else
#define SPLIT_MAX 256
#endif

typedef struct record {
  fuzz_buf events;  /* per event: name, NUL, data length, data */
  fuzz_buf pending; /* data of the event being read */
  int open;         /* data has begun for the current event */
  unsigned calls;
  unsigned refuse_at; /* the callback numbered so returns non-zero; 0: never */
} record;

static void add_event(fuzz_buf *events, const char *name, size_t name_len, const fuzz_buf *data) {
  uint64_t n = data->len;
  fuzz_buf_add(events, name, name_len);
  fuzz_buf_add(events, "", 1);
  fuzz_buf_add(events, &n, sizeof n);
  fuzz_buf_add(events, data->p, data->len);
}

static int refuse(record *r) {
  r->calls++;
  return r->refuse_at != 0 && r->calls == r->refuse_at;
}

static int on_data(void *ud, const char *p, size_t n, int first) {
  record *r = (record *)ud;
  FUZZ_CHECK(first == !r->open);
  if (first) {
    FUZZ_CHECK(n == 0);
    r->pending.len = 0;
    r->open = 1;
  }
  fuzz_buf_add(&r->pending, p, n);
  return refuse(r);
}

static int on_dispatch(void *ud, const char *event) {
  record *r = (record *)ud;
  size_t len = strlen(event);
  FUZZ_CHECK(r->open);
  FUZZ_CHECK(len <= EVENT_NAME_MAX);
  add_event(&r->events, event, len, &r->pending);
  r->open = 0;
  r->pending.len = 0;
  return refuse(r);
}

/* The standard's algorithm over the whole buffer, line by line. */
static void reference(const uint8_t *d, size_t size, fuzz_buf *events) {
  size_t pos = 0;
  fuzz_buf data = {0};
  char name[EVENT_NAME_MAX + 1];
  size_t name_len = 0;
  int has_data = 0;
  if (size >= 3 && d[0] == 0xEF && d[1] == 0xBB && d[2] == 0xBF) pos = 3;
  for (;;) {
    size_t end = pos, next, field_len, value_start;
    const uint8_t *line = d + pos;
    while (end < size && d[end] != '\r' && d[end] != '\n') end++;
    if (end == size) break; /* an unfinished last line is never processed */
    next = end + 1;
    if (d[end] == '\r' && next < size && d[next] == '\n') next++;
    if (end == pos) {
      if (has_data) add_event(events, name, strnlen(name, name_len), &data);
      has_data = 0;
      data.len = 0;
      name_len = 0;
    } else if (line[0] != ':') {
      const uint8_t *colon = (const uint8_t *)memchr(line, ':', end - pos);
      field_len = colon ? (size_t)(colon - line) : end - pos;
      value_start = colon ? field_len + 1 : end - pos;
      if (value_start < end - pos && line[value_start] == ' ') value_start++;
      if (field_len == 4 && memcmp(line, "data", 4) == 0) {
        if (has_data) fuzz_buf_add(&data, "\n", 1);
        fuzz_buf_add(&data, line + value_start, end - pos - value_start);
        has_data = 1;
      } else if (field_len == 5 && memcmp(line, "event", 5) == 0) {
        name_len = end - pos - value_start;
        if (name_len > EVENT_NAME_MAX) name_len = EVENT_NAME_MAX;
        memcpy(name, line + value_start, name_len);
      }
    }
    pos = next;
  }
  fuzz_buf_free(&data);
}

enum { WHOLE, CHUNKS, BYTES };

static int run(const uint8_t *data, size_t size, int how, uint64_t seed, record *r) {
  gi_sse s;
  gi_sse_cb cb;
  size_t off = 0;
  int result = GI_SSE_OK;
  cb.ud = r;
  cb.data = on_data;
  cb.dispatch = on_dispatch;
  gi_sse_init(&s, &cb);
  while (off < size || how == WHOLE) {
    size_t take = how == WHOLE ? size : how == BYTES ? 1 : fuzz_chunk(&seed, size - off);
    int rc = gi_sse_feed(&s, (const char *)data + off, take);
    off += take;
    if (rc != GI_SSE_OK) {
      result = rc;
      FUZZ_CHECK(gi_sse_feed(&s, "data\n\n", 6) == rc); /* sticky */
      break;
    }
    if (how == WHOLE) break;
  }
  FUZZ_CHECK(gi_sse_finish(&s) == result);
  FUZZ_CHECK(s.event_len < sizeof s.event && s.event[s.event_len] == '\0');
  return result;
}

/* The stream in two pieces, the first of k bytes. */
static void check_split(const uint8_t *data, size_t size, size_t k, const fuzz_buf *expected) {
  gi_sse s;
  gi_sse_cb cb;
  record r = {0};
  cb.ud = &r;
  cb.data = on_data;
  cb.dispatch = on_dispatch;
  gi_sse_init(&s, &cb);
  FUZZ_CHECK(gi_sse_feed(&s, (const char *)data, k) == GI_SSE_OK);
  FUZZ_CHECK(gi_sse_feed(&s, (const char *)data + k, size - k) == GI_SSE_OK);
  FUZZ_CHECK(gi_sse_finish(&s) == GI_SSE_OK);
  FUZZ_CHECK(fuzz_buf_equal(&r.events, expected));
  fuzz_buf_free(&r.events);
  fuzz_buf_free(&r.pending);
}

static void release(record *r) {
  fuzz_buf_free(&r->events);
  fuzz_buf_free(&r->pending);
  memset(r, 0, sizeof *r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint64_t seed = fuzz_hash(data, size);
  record whole = {0}, other = {0};
  fuzz_buf expected = {0};

  reference(data, size, &expected);
  FUZZ_CHECK(run(data, size, WHOLE, seed, &whole) == GI_SSE_OK);
  FUZZ_CHECK(fuzz_buf_equal(&whole.events, &expected));

  FUZZ_CHECK(run(data, size, CHUNKS, seed, &other) == GI_SSE_OK);
  FUZZ_CHECK(fuzz_buf_equal(&other.events, &expected));
  release(&other);

  if (size <= SPLIT_MAX) {
    size_t k;
    for (k = 0; k <= size; k++) check_split(data, size, k, &expected);
  }

  if (size <= 4096) {
    FUZZ_CHECK(run(data, size, BYTES, seed, &other) == GI_SSE_OK);
    FUZZ_CHECK(fuzz_buf_equal(&other.events, &expected));
    release(&other);
  }

  /* a consumer that refuses a callback stops the framer there for good */
  if (whole.calls > 0) {
    unsigned k = (unsigned)(seed % whole.calls) + 1;
    other.refuse_at = k;
    FUZZ_CHECK(run(data, size, CHUNKS, seed ^ 0x99, &other) == GI_SSE_ECALLBACK);
    FUZZ_CHECK(other.calls == k);
    FUZZ_CHECK(fuzz_buf_prefix(&other.events, &expected));
    release(&other);
  }
  release(&whole);
  fuzz_buf_free(&expected);
  return 0;
}
