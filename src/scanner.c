/* scanner: a streaming reader of one JSON response (see scanner.h).
 *
 * Everything outside b64_json values is copied to the skeleton verbatim, in
 * runs that break only where such a value begins or ends, so the skeleton
 * is the document from its first '{' or '[' to its last byte with the image
 * strings emptied.  Inside a b64_json value the scanner only looks for the
 * closing quote and backslashes (memchr), and hands whole spans of the
 * chunk to b64_data.  Where escapes are, the short spans between them and
 * the resolved characters are gathered in a small scratch buffer passed on
 * in one call, so a payload with every '/' written as "\/" does not turn
 * into thousands of tiny calls; long spans are never copied.
 *
 * An image string is a string that is directly the value of a "b64_json"
 * member (the key may itself be written with escapes), at any depth:
 * {"data":[{"b64_json":"..."},{"b64_json":"..."}]} gives indexes 0 and 1
 * in document order.  null or an array there is copied like anything else. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "scanner.h"

#define MAX_DEPTH 256
#define SCRATCH_SIZE 16384
/* unescaped spans at least this long go to b64_data directly */
#define DIRECT_SPAN 512
#define KEY_MAX 8 /* strlen("b64_json"): longer keys cannot be it */

enum {
  ST_START,  /* before the top-level value */
  ST_VALUE,  /* between tokens inside the document */
  ST_STRING, /* inside a key or an ordinary string */
  ST_B64,    /* inside a b64_json value */
  ST_DONE    /* the top-level value is complete */
};

/* escape progress inside a string */
enum { ESC_NONE, ESC_BACKSLASH, ESC_HEX };

struct gi_scanner {
  gi_scanner_cb cb;
  size_t limit;
  char *skel;
  size_t len, cap;
  int state;
  int err;
  char msg[192];
  size_t offset;            /* bytes fed before the current chunk */
  unsigned depth;
  char stack[MAX_DEPTH];    /* '{' or '[' */
  int expect_key;           /* in an object, after '{' or ',' */
  int after_colon;          /* the last token was ':' */
  int b64_member;           /* the last key was "b64_json" and its value has not begun */
  int string_is_key;
  int escape;               /* ESC_* */
  int hex_left;             /* hex digits of a \u escape still to come */
  unsigned code;            /* the \u escape's value so far */
  char key[KEY_MAX];
  size_t keylen;
  int key_mismatch;         /* the key being read is not "b64_json" */
  unsigned b64_count;
  size_t scratch_len;
  char scratch[SCRATCH_SIZE];
};

static int set_error(gi_scanner *s, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int set_error(gi_scanner *s, int err, const char *fmt, ...) {
  va_list ap;
  if (s->err) return s->err;
  s->err = err;
  va_start(ap, fmt);
  vsnprintf(s->msg, sizeof s->msg, fmt, ap);
  va_end(ap);
  return err;
}

gi_scanner *gi_scanner_new(const gi_scanner_cb *cb, size_t skeleton_limit) {
  gi_scanner *s = (gi_scanner *)calloc(1, sizeof *s);
  if (s == NULL) return NULL;
  if (cb) s->cb = *cb;
  s->limit = skeleton_limit;
  s->state = ST_START;
  return s;
}

void gi_scanner_free(gi_scanner *s) {
  if (s == NULL) return;
  free(s->skel);
  free(s);
}

void gi_scanner_reset(gi_scanner *s) {
  char *skel = s->skel;
  size_t cap = s->cap, limit = s->limit;
  gi_scanner_cb cb = s->cb;
  /* everything before the scratch buffer: the buffer needs no clearing */
  memset(s, 0, offsetof(gi_scanner, scratch));
  s->skel = skel;
  s->cap = cap;
  s->limit = limit;
  s->cb = cb;
  s->state = ST_START;
  if (s->skel) s->skel[0] = '\0';
}

/* Appends the run p[0..n) that starts at absolute offset at. */
static int append(gi_scanner *s, const char *p, size_t n, size_t at) {
  size_t fits = n;
  if (n == 0) return 0;
  if (s->limit && n > s->limit - s->len) fits = s->limit - s->len;
  if (fits < n) {
    /* the skeleton is filled up to the limit first, so that it is the same
     * however the document was cut into chunks */
    if (fits > 0 && append(s, p, fits, at)) return s->err;
    return set_error(s, GI_SCAN_ELIMIT, "response larger than %zu bytes besides its images (at byte %zu)",
                     s->limit, at + fits);
  }
  if (n + 1 > s->cap - s->len) {
    size_t cap = s->cap ? s->cap : 1024;
    char *q;
    if (n + 1 > (size_t)-1 - s->len) return set_error(s, GI_SCAN_ENOMEM, "out of memory");
    while (cap - s->len < n + 1) {
      if (cap > (size_t)-1 / 2) {
        cap = s->len + n + 1;
        break;
      }
      cap *= 2;
    }
    q = (char *)realloc(s->skel, cap);
    if (q == NULL) return set_error(s, GI_SCAN_ENOMEM, "out of memory");
    s->skel = q;
    s->cap = cap;
  }
  memcpy(s->skel + s->len, p, n);
  s->len += n;
  s->skel[s->len] = '\0';
  return 0;
}

static int callback_failed(gi_scanner *s, size_t at) {
  return set_error(s, GI_SCAN_ECALLBACK, "stopped by its consumer at byte %zu", at);
}

static int flush_scratch(gi_scanner *s, size_t at) {
  size_t n = s->scratch_len;
  s->scratch_len = 0;
  if (n && s->cb.b64_data && s->cb.b64_data(s->cb.ud, s->scratch, n)) return callback_failed(s, at);
  return 0;
}

/* Passes b64 text on: long spans directly, short ones (between escapes)
 * gathered in the scratch buffer. */
static int emit_b64(gi_scanner *s, const char *p, size_t n, size_t at) {
  if (n >= DIRECT_SPAN) {
    if (flush_scratch(s, at)) return s->err;
    if (s->cb.b64_data && s->cb.b64_data(s->cb.ud, p, n)) return callback_failed(s, at + n);
    return 0;
  }
  if (n > SCRATCH_SIZE - s->scratch_len && flush_scratch(s, at)) return s->err;
  memcpy(s->scratch + s->scratch_len, p, n);
  s->scratch_len += n;
  return 0;
}

static int hex_value(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* The character a one-letter escape stands for, or -1. */
static int simple_escape(unsigned char c) {
  switch (c) {
    case '"': return '"';
    case '\\': return '\\';
    case '/': return '/';
    case 'b': return '\b';
    case 'f': return '\f';
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    default: return -1;
  }
}

/* One byte of an escape inside a b64_json value, at absolute offset at.
 * A \u escape outside ASCII is passed on as its UTF-8 bytes: never base64,
 * so the sink reports it with its offset in the text. */
static int b64_escape_byte(gi_scanner *s, unsigned char c, size_t at) {
  char out[3];
  size_t n = 1;
  if (s->escape == ESC_BACKSLASH) {
    int v;
    if (c == 'u') {
      s->escape = ESC_HEX;
      s->hex_left = 4;
      s->code = 0;
      return 0;
    }
    if ((v = simple_escape(c)) < 0) {
      flush_scratch(s, at);
      return set_error(s, GI_SCAN_ESYNTAX, "invalid escape in an image string at byte %zu", at);
    }
    out[0] = (char)v;
  } else {
    int v = hex_value(c);
    if (v < 0) {
      flush_scratch(s, at);
      return set_error(s, GI_SCAN_ESYNTAX, "invalid \\u escape in an image string at byte %zu", at);
    }
    s->code = s->code * 16 + (unsigned)v;
    if (--s->hex_left > 0) return 0;
    if (s->code < 0x80) {
      out[0] = (char)s->code;
    } else if (s->code < 0x800) {
      out[0] = (char)(0xc0 | (s->code >> 6));
      out[1] = (char)(0x80 | (s->code & 0x3f));
      n = 2;
    } else {
      out[0] = (char)(0xe0 | (s->code >> 12));
      out[1] = (char)(0x80 | ((s->code >> 6) & 0x3f));
      out[2] = (char)(0x80 | (s->code & 0x3f));
      n = 3;
    }
  }
  s->escape = ESC_NONE;
  if (n > SCRATCH_SIZE - s->scratch_len && flush_scratch(s, at)) return s->err;
  memcpy(s->scratch + s->scratch_len, out, n);
  s->scratch_len += n;
  return 0;
}

/* Reads a b64_json value from p[i..n); returns where it stopped: n, just
 * past the closing quote, or where an error was found. */
static size_t scan_b64(gi_scanner *s, const char *p, size_t i, size_t n) {
  /* the closing quote, looked for once per chunk rather than once per escape */
  const char *quote = NULL;
  int quote_known = 0;
  while (i < n) {
    size_t stop;
    const char *backslash;
    if (s->escape != ESC_NONE) {
      if (b64_escape_byte(s, (unsigned char)p[i], s->offset + i)) return i;
      i++;
      continue;
    }
    if (!quote_known || (quote != NULL && quote < p + i)) {
      quote = (const char *)memchr(p + i, '"', n - i);
      quote_known = 1;
    }
    stop = quote ? (size_t)(quote - p) : n;
    backslash = (const char *)memchr(p + i, '\\', stop - i);
    if (backslash) stop = (size_t)(backslash - p);
    if (stop > i && emit_b64(s, p + i, stop - i, s->offset + i)) return stop;
    i = stop;
    if (i == n) break;
    if (p[i] == '\\') {
      s->escape = ESC_BACKSLASH;
      i++;
      continue;
    }
    /* the closing quote */
    if (flush_scratch(s, s->offset + i)) return i;
    s->state = ST_VALUE;
    if (s->cb.b64_end && s->cb.b64_end(s->cb.ud)) callback_failed(s, s->offset + i);
    return i + 1;
  }
  return n;
}

/* A key or ordinary string: p[i..n) up to and including the closing quote. */
static size_t scan_string(gi_scanner *s, const char *p, size_t i, size_t n) {
  for (; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (s->escape == ESC_NONE) {
      if (c == '"') break;
      if (c == '\\') {
        s->escape = ESC_BACKSLASH;
        continue;
      }
    } else if (!s->string_is_key) {
      /* an ordinary string's escapes only matter for finding its end;
       * cjson checks them in the skeleton */
      s->escape = ESC_NONE;
      continue;
    } else if (s->escape == ESC_BACKSLASH) {
      int v = simple_escape(c);
      if (c == 'u') {
        s->escape = ESC_HEX;
        s->hex_left = 4;
        s->code = 0;
        continue;
      }
      s->escape = ESC_NONE;
      c = (unsigned char)(v < 0 ? 0 : v);
    } else {
      int v = hex_value(c);
      s->code = s->code * 16 + (unsigned)(v < 0 ? 0 : v);
      if (v < 0) s->key_mismatch = 1;
      if (--s->hex_left > 0) continue;
      s->escape = ESC_NONE;
      c = (unsigned char)(s->code < 0x80 ? s->code : 0);
    }
    if (s->string_is_key && !s->key_mismatch) {
      if (s->keylen < KEY_MAX && c != 0) s->key[s->keylen++] = (char)c;
      else s->key_mismatch = 1;
    }
  }
  if (i == n) return n;
  /* the closing quote */
  s->state = ST_VALUE;
  if (s->string_is_key) {
    s->b64_member = !s->key_mismatch && s->keylen == KEY_MAX && memcmp(s->key, "b64_json", KEY_MAX) == 0;
    s->expect_key = 0;
  }
  s->after_colon = 0;
  return i + 1;
}

int gi_scanner_feed(gi_scanner *s, const char *p, size_t n) {
  size_t i = 0;
  size_t run = 0; /* start of the bytes not yet copied to the skeleton */
  if (s->err) return s->err;
  while (i < n && !s->err) {
    unsigned char c;
    unsigned index;
    switch (s->state) {
      case ST_B64:
        i = scan_b64(s, p, i, n);
        /* the closing quote begins the next run: the skeleton gets "" */
        run = s->state == ST_B64 ? i : i - 1;
        continue;
      case ST_STRING:
        i = scan_string(s, p, i, n);
        continue;
      case ST_START:
      case ST_DONE:
        c = (unsigned char)p[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
          i++;
          run = i;
          continue;
        }
        if (s->state == ST_DONE) {
          set_error(s, GI_SCAN_ESYNTAX, "unexpected byte 0x%02x after the end of the document at byte %zu", c,
                    s->offset + i);
          continue;
        }
        if (c != '{' && c != '[') {
          set_error(s, GI_SCAN_ESYNTAX, "not JSON: byte 0x%02x at byte %zu where '{' or '[' should begin", c,
                    s->offset + i);
          continue;
        }
        s->state = ST_VALUE;
        run = i;
        continue;
      default: /* ST_VALUE */
        break;
    }
    c = (unsigned char)p[i];
    switch (c) {
      case '{':
      case '[':
        if (s->depth >= MAX_DEPTH) {
          if (!append(s, p + run, i - run, s->offset + run))
            set_error(s, GI_SCAN_ESYNTAX, "nesting deeper than %d at byte %zu", MAX_DEPTH, s->offset + i);
          continue;
        }
        s->stack[s->depth++] = (char)c;
        s->expect_key = c == '{';
        s->after_colon = 0;
        s->b64_member = 0;
        break;
      case '}':
      case ']':
        if (s->depth == 0 || s->stack[s->depth - 1] != (c == '}' ? '{' : '[')) {
          if (!append(s, p + run, i - run, s->offset + run))
            set_error(s, GI_SCAN_ESYNTAX, "unbalanced '%c' at byte %zu", c, s->offset + i);
          continue;
        }
        s->depth--;
        s->expect_key = 0;
        s->after_colon = 0;
        s->b64_member = 0;
        if (s->depth == 0) {
          i++;
          if (!append(s, p + run, i - run, s->offset + run)) s->state = ST_DONE;
          run = i;
          continue;
        }
        break;
      case ',':
        s->expect_key = s->stack[s->depth - 1] == '{';
        s->after_colon = 0;
        s->b64_member = 0;
        break;
      case ':':
        s->after_colon = 1;
        break;
      case '"':
        if (s->b64_member && s->after_colon) {
          /* the opening quote ends this run, the closing one starts the next:
           * the skeleton gets "" */
          i++;
          if (append(s, p + run, i - run, s->offset + run)) continue;
          s->b64_member = 0;
          s->after_colon = 0;
          s->escape = ESC_NONE;
          s->scratch_len = 0;
          s->state = ST_B64;
          index = s->b64_count++;
          if (s->cb.b64_begin && s->cb.b64_begin(s->cb.ud, index)) callback_failed(s, s->offset + i);
          continue;
        }
        s->string_is_key = s->expect_key;
        s->b64_member = 0;
        s->escape = ESC_NONE;
        s->keylen = 0;
        s->key_mismatch = 0;
        s->state = ST_STRING;
        break;
      case ' ': case '\t': case '\n': case '\r':
        break;
      default:
        /* a number, true, false or null: copied, cjson judges it */
        s->b64_member = 0;
        s->after_colon = 0;
        break;
    }
    i++;
  }
  if (!s->err && (s->state == ST_VALUE || s->state == ST_STRING) && i > run)
    append(s, p + run, i - run, s->offset + run);
  if (!s->err && s->state == ST_B64) flush_scratch(s, s->offset + n);
  s->offset += n;
  return s->err;
}

int gi_scanner_finish(gi_scanner *s) {
  if (s->err) return s->err;
  if (s->state == ST_DONE) return 0;
  if (s->state == ST_START && s->offset == 0) return set_error(s, GI_SCAN_ETRUNCATED, "the document is empty");
  if (s->state == ST_START)
    return set_error(s, GI_SCAN_ETRUNCATED, "the document is only %zu bytes of white space", s->offset);
  return set_error(s, GI_SCAN_ETRUNCATED, "the document ends early, after %zu bytes%s", s->offset,
                   s->state == ST_B64 ? ", inside an image string" : "");
}

const char *gi_scanner_skeleton(const gi_scanner *s, size_t *len) {
  *len = s->len;
  return s->skel ? s->skel : "";
}

const char *gi_scanner_message(const gi_scanner *s) { return s->msg; }
