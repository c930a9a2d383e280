/* scanner: a streaming reader of one JSON response document.
 *
 * It is fed the body in chunks of any size.  Every string value whose key is
 * "b64_json" is not kept: its text (JSON escapes such as \/ resolved) is
 * passed to the callbacks as it arrives, and it is replaced by "" in the
 * skeleton, a copy of the rest of the document small enough for cjson.
 * The scanner checks only what it must (strings, escapes, nesting, the end
 * of the document); cjson judges the skeleton's syntax.  Pure C, no Lua. */
#ifndef GPTIMAGE_SCANNER_H
#define GPTIMAGE_SCANNER_H

#include <stddef.h>

typedef struct gi_scanner_cb {
  void *ud;
  /* index: 0 for the first b64_json string of the document, then 1, 2... */
  int (*b64_begin)(void *ud, unsigned index);
  int (*b64_data)(void *ud, const char *text, size_t len);
  int (*b64_end)(void *ud);
  /* any callback returning non-zero stops the scanner with GI_SCAN_ECALLBACK */
} gi_scanner_cb;

enum {
  GI_SCAN_OK = 0,
  GI_SCAN_ESYNTAX = 1,    /* not JSON as far as the scanner can tell */
  GI_SCAN_ETRUNCATED = 2, /* finish before the document ended */
  GI_SCAN_ELIMIT = 3,     /* skeleton larger than its limit */
  GI_SCAN_ENOMEM = 4,
  GI_SCAN_ECALLBACK = 5
};

typedef struct gi_scanner gi_scanner;

gi_scanner *gi_scanner_new(const gi_scanner_cb *cb, size_t skeleton_limit);
void gi_scanner_free(gi_scanner *s);
void gi_scanner_reset(gi_scanner *s);  /* ready for a new document, same callbacks */
int gi_scanner_feed(gi_scanner *s, const char *p, size_t n); /* sticky: after an error every call returns it */
int gi_scanner_finish(gi_scanner *s);  /* GI_SCAN_ETRUNCATED unless one whole value was read */
const char *gi_scanner_skeleton(const gi_scanner *s, size_t *len);
const char *gi_scanner_message(const gi_scanner *s); /* what went wrong, with the byte offset */

#endif
