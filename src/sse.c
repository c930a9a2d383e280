/* sse: an incremental event-stream framer (see sse.h). */
#include <string.h>
#include "sse.h"

enum {
  LINE_START,   /* at the first byte of a line */
  FIELD,        /* reading a field name */
  VALUE_START,  /* just after the colon: one space is dropped */
  DATA,         /* streaming a data value */
  EVENT,        /* reading an event name */
  IGNORE        /* a comment or a field we do not use, to the end of the line */
};

void gi_sse_init(gi_sse *s, const gi_sse_cb *cb) {
  memset(s, 0, sizeof *s);
  if (cb) s->cb = *cb;
  s->state = LINE_START;
  s->bom = 0;
}

static int fail(gi_sse *s, int err) {
  s->error = err;
  return err;
}

/* the field name is complete: what does its value feed? */
static int field_target(gi_sse *s) {
  if (s->field_len == 4 && memcmp(s->field, "data", 4) == 0) return DATA;
  if (s->field_len == 5 && memcmp(s->field, "event", 5) == 0) return EVENT;
  return IGNORE;
}

static int begin_data_line(gi_sse *s) {
  int first = !s->has_data;
  if (s->has_data) {
    if (s->cb.data && s->cb.data(s->cb.ud, "\n", 1, 0)) return fail(s, GI_SSE_ECALLBACK);
  } else if (s->cb.data && s->cb.data(s->cb.ud, "", 0, 1)) {
    return fail(s, GI_SSE_ECALLBACK);
  }
  (void)first;
  s->has_data = 1;
  return 0;
}

static int end_of_line(gi_sse *s) {
  int st = s->state;
  if (st == LINE_START) {
    /* a blank line dispatches the event */
    if (s->has_data) {
      s->event[s->event_len] = '\0';
      if (s->cb.dispatch && s->cb.dispatch(s->cb.ud, s->event)) return fail(s, GI_SSE_ECALLBACK);
    }
    s->has_data = 0;
    s->event_len = 0;
    s->event[0] = '\0';
    return 0;
  }
  if (st == FIELD || st == VALUE_START) {
    /* "data" alone, or "data:" with nothing after it: an empty data line */
    int target = field_target(s);
    if (target == DATA && begin_data_line(s)) return s->error;
    if (target == EVENT) s->event_len = 0;
  }
  s->state = LINE_START;
  return 0;
}

int gi_sse_feed(gi_sse *s, const char *p, size_t n) {
  size_t i = 0;
  if (s->error) return s->error;
  /* a UTF-8 byte order mark may open the stream */
  while (s->bom < 3 && i < n) {
    static const unsigned char BOM[3] = {0xEF, 0xBB, 0xBF};
    if ((unsigned char)p[i] == BOM[s->bom] && s->state == LINE_START && s->field_len == 0) {
      s->bom++;
      i++;
      if (s->bom == 3) break;
    } else {
      if (s->bom > 0 && s->bom < 3) {
        /* not a BOM after all: those bytes began a field name */
        size_t k;
        for (k = 0; k < (size_t)s->bom; k++)
          if (s->field_len < sizeof s->field) s->field[s->field_len++] = (char)BOM[k];
        s->state = FIELD;
      }
      s->bom = 3;
    }
  }
  while (i < n) {
    char c = p[i];
    if (s->saw_cr) {
      s->saw_cr = 0;
      if (c == '\n') {
        i++;
        continue;
      }
    }
    if (c == '\r' || c == '\n') {
      if (c == '\r') s->saw_cr = 1;
      if (end_of_line(s)) return s->error;
      s->field_len = 0;
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
          int target = field_target(s);
          s->state = VALUE_START;
          s->field_target = target;
          i++;
          break;
        }
        if (s->field_len < sizeof s->field) s->field[s->field_len] = c;
        s->field_len++; /* longer names never match: they stay longer */
        i++;
        break;
      case VALUE_START:
        s->state = s->field_target;
        if (s->state == DATA && begin_data_line(s)) return s->error;
        if (s->state == EVENT) s->event_len = 0;
        if (c == ' ') {
          i++;
          break;
        }
        break;
      case DATA: {
        size_t start = i;
        while (i < n && p[i] != '\r' && p[i] != '\n') i++;
        if (s->cb.data && s->cb.data(s->cb.ud, p + start, i - start, 0)) return fail(s, GI_SSE_ECALLBACK);
        break;
      }
      case EVENT:
        if (s->event_len + 1 < sizeof s->event) s->event[s->event_len++] = c;
        i++;
        break;
      default: /* IGNORE */
        while (i < n && p[i] != '\r' && p[i] != '\n') i++;
        break;
    }
  }
  return 0;
}

int gi_sse_finish(gi_sse *s) {
  /* an event not closed by a blank line is dropped, as the standard says */
  return s->error;
}
