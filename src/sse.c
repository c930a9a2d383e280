/* sse: an incremental event-stream framer (see sse.h).
 *
 * One pass over each chunk, no buffering of data: a data line's value is
 * handed to cb->data in the spans the chunks give, found with memchr.  Only
 * the field name (16 bytes) and the event name (255 bytes, longer names cut
 * short, never an error) are kept between chunks. */
#include <string.h>
#include "sse.h"

enum {
  LINE_START,  /* at the first byte of a line */
  FIELD,       /* reading a field name */
  VALUE_START, /* just after the colon: one space is dropped */
  DATA,        /* streaming a data value */
  EVENT,       /* reading an event name */
  IGNORE       /* a comment, or a field not used, to the end of the line */
};

/* gi_sse.bom once the start of the stream has been decided */
#define BOM_DONE 3

static const unsigned char BOM[3] = {0xEF, 0xBB, 0xBF};

void gi_sse_init(gi_sse *s, const gi_sse_cb *cb) {
  memset(s, 0, sizeof *s);
  if (cb) s->cb = *cb;
  s->state = LINE_START;
}

static int fail(gi_sse *s, int err) {
  s->error = err;
  return err;
}

/* What the value of the field just named feeds. */
static int value_target(const gi_sse *s) {
  if (s->field_len == 4 && memcmp(s->field, "data", 4) == 0) return DATA;
  if (s->field_len == 5 && memcmp(s->field, "event", 5) == 0) return EVENT;
  return IGNORE;
}

/* A data line begins: the first opens the event's data, the others are
 * joined to the previous ones by "\n". */
static int begin_data_line(gi_sse *s) {
  int rc = 0;
  if (s->cb.data) rc = s->has_data ? s->cb.data(s->cb.ud, "\n", 1, 0) : s->cb.data(s->cb.ud, "", 0, 1);
  s->has_data = 1;
  return rc ? fail(s, GI_SSE_ECALLBACK) : 0;
}

static void begin_event_name(gi_sse *s) {
  s->event_len = 0;
  s->event[0] = '\0';
}

/* The value of the current field starts (possibly empty). */
static int begin_value(gi_sse *s) {
  s->state = s->field_target;
  if (s->state == DATA) return begin_data_line(s);
  if (s->state == EVENT) begin_event_name(s);
  return 0;
}

static int end_of_line(gi_sse *s) {
  switch (s->state) {
    case LINE_START: {
      /* a blank line dispatches the event, if it had data */
      int had_data = s->has_data;
      s->has_data = 0;
      if (had_data && s->cb.dispatch && s->cb.dispatch(s->cb.ud, s->event)) {
        begin_event_name(s);
        return fail(s, GI_SSE_ECALLBACK);
      }
      begin_event_name(s);
      return 0;
    }
    case FIELD:
      /* a line without a colon is a field with an empty value */
      s->field_target = value_target(s);
      if (begin_value(s)) return s->error;
      break;
    case VALUE_START:
      if (begin_value(s)) return s->error;
      break;
    default:
      break;
  }
  s->state = LINE_START;
  s->field_len = 0;
  return 0;
}

/* The first CR or LF in p[i..n), or n; *lf caches the next LF of the chunk
 * so that lines ended by CR alone do not rescan it. */
static size_t line_end(const char *p, size_t i, size_t n, const char **lf) {
  const char *cr;
  size_t stop;
  if (*lf == NULL || *lf < p + i) {
    *lf = (const char *)memchr(p + i, '\n', n - i);
    if (*lf == NULL) *lf = p + n;
  }
  stop = (size_t)(*lf - p);
  cr = (const char *)memchr(p + i, '\r', stop - i);
  return cr ? (size_t)(cr - p) : stop;
}

static int feed_lines(gi_sse *s, const char *p, size_t n) {
  size_t i = 0;
  const char *lf = NULL;
  while (i < n) {
    unsigned char c = (unsigned char)p[i];
    if (s->saw_cr) {
      s->saw_cr = 0;
      if (c == '\n') {
        i++;
        continue;
      }
    }
    if (c == '\r' || c == '\n') {
      s->saw_cr = c == '\r';
      if (end_of_line(s)) return s->error;
      i++;
      continue;
    }
    switch (s->state) {
      case LINE_START:
        s->field_len = 0;
        if (c == ':') {
          s->state = IGNORE;
          i++;
          break;
        }
        s->state = FIELD;
        /* FALLTHROUGH */
      case FIELD:
        if (c == ':') {
          s->field_target = value_target(s);
          s->state = VALUE_START;
        } else {
          /* a name longer than the buffer can only be a field we ignore:
           * its length alone keeps it from matching */
          if (s->field_len < sizeof s->field) s->field[s->field_len] = (char)c;
          if (s->field_len <= sizeof s->field) s->field_len++;
        }
        i++;
        break;
      case VALUE_START:
        if (begin_value(s)) return s->error;
        if (c == ' ') i++;
        break;
      case DATA: {
        size_t stop = line_end(p, i, n, &lf);
        if (s->cb.data && s->cb.data(s->cb.ud, p + i, stop - i, 0)) return fail(s, GI_SSE_ECALLBACK);
        i = stop;
        break;
      }
      case EVENT:
        if (s->event_len + 1 < sizeof s->event) {
          s->event[s->event_len++] = (char)c;
          s->event[s->event_len] = '\0';
        }
        i++;
        break;
      default: /* IGNORE */
        i = line_end(p, i, n, &lf);
        break;
    }
  }
  return 0;
}

int gi_sse_feed(gi_sse *s, const char *p, size_t n) {
  size_t i = 0;
  if (s->error) return s->error;
  /* a UTF-8 byte order mark may open the stream; bytes that only looked
   * like its start belong to the first line */
  while (s->bom < BOM_DONE && i < n) {
    if ((unsigned char)p[i] == BOM[s->bom]) {
      s->bom++;
      i++;
      continue;
    }
    if (s->bom > 0) {
      size_t seen = (size_t)s->bom;
      s->bom = BOM_DONE;
      if (feed_lines(s, (const char *)BOM, seen)) return s->error;
    }
    s->bom = BOM_DONE;
  }
  if (i < n && feed_lines(s, p + i, n - i)) return s->error;
  return 0;
}

int gi_sse_finish(gi_sse *s) {
  /* an event not closed by a blank line is dropped, as the standard says */
  return s->error;
}
