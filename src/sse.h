/* sse: an incremental server-sent-events framer (WHATWG event stream rules).
 *
 * Lines end in CR, LF or CRLF, split across chunks anywhere.  ':' lines are
 * comments.  A field "data" streams its value to cb->data as it arrives (one
 * optional space after the colon dropped; several data lines of one event
 * joined by "\n"), so a multi-megabyte event is never held whole.  "event" is
 * kept (up to 255 bytes; longer names are cut); "id" and "retry" are ignored.  A blank line
 * dispatches the event if it had data.  Pure C, no Lua. */
#ifndef GPTIMAGE_SSE_H
#define GPTIMAGE_SSE_H

#include <stddef.h>

typedef struct gi_sse_cb {
  void *ud;
  /* first == 1 once at the start of each event's data (n may be 0) */
  int (*data)(void *ud, const char *p, size_t n, int first);
  /* event: the "event" field or "" ; called once per event that had data */
  int (*dispatch)(void *ud, const char *event);
} gi_sse_cb;

enum { GI_SSE_OK = 0, GI_SSE_ECALLBACK = 1, GI_SSE_ELIMIT = 2 };

typedef struct gi_sse {
  gi_sse_cb cb;
  int state;            /* internal */
  int saw_cr;           /* last byte was CR: a following LF belongs to it */
  int has_data;         /* current event has data */
  int error;
  size_t field_len;     /* bytes of field name read */
  char field[16];       /* field name being read (longer names are ignored fields) */
  int field_target;      /* what the value after the colon feeds */
  int bom;               /* bytes of a leading byte order mark seen */
  size_t event_len;
  char event[256];
} gi_sse;

void gi_sse_init(gi_sse *s, const gi_sse_cb *cb);
int gi_sse_feed(gi_sse *s, const char *p, size_t n);
int gi_sse_finish(gi_sse *s);  /* end of stream: an event not closed by a blank line is dropped */

#endif
