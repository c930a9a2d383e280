/* scanner: a streaming reader of one JSON response (see scanner.h).
 *
 * Outside b64_json values it walks byte by byte (that part of a response is
 * a few hundred bytes); inside one it looks only for the closing quote or a
 * backslash and hands whole spans to the callbacks, so a multi-megabyte
 * image is never copied. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "scanner.h"

#define MAX_DEPTH 64

enum {
  ST_START,      /* before the top-level value */
  ST_VALUE,      /* between tokens */
  ST_STRING,     /* inside a key or a plain string value */
  ST_B64,        /* inside a b64_json value */
  ST_DONE        /* the top-level value is complete */
};

struct gi_scanner {
  gi_scanner_cb cb;
  size_t limit;
  char *skel;
  size_t len, cap;
  int state;
  int err;
  char msg[160];
  size_t offset;            /* bytes fed so far */
  char stack[MAX_DEPTH];
  int depth;
  int expect_key;           /* in an object, after '{' or ',' */
  int after_colon;          /* the previous token was ':' */
  int string_is_key;
  int escape;               /* a backslash was the last byte in a string */
  int unicode;              /* hex digits of \uXXXX still to read (b64 only) */
  unsigned code;
  char key[9];              /* the key being read, if it may be "b64_json" */
  size_t keylen;
  int key_long;
  int b64_key;              /* the last key was "b64_json" */
  unsigned b64_count;
};

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
  gi_scanner_reset(s);
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
  memset(s, 0, sizeof *s);
  s->skel = skel;
  s->cap = cap;
  s->limit = limit;
  s->cb = cb;
  s->state = ST_START;
  if (s->skel) s->skel[0] = '\0';
}

static int append(gi_scanner *s, const char *p, size_t n) {
  if (s->len + n + 1 > s->cap) {
    size_t cap = s->cap ? s->cap : 1024;
    char *q;
    if (s->limit && s->len + n > s->limit)
      return set_error(s, GI_SCAN_ELIMIT, "response larger than %zu bytes besides its images", s->limit);
    while (cap < s->len + n + 1) cap *= 2;
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

static int callback_failed(gi_scanner *s) {
  return set_error(s, GI_SCAN_ECALLBACK, "stopped by its consumer at byte %zu", s->offset);
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* One escaped character of a b64_json value, resolved. */
static int b64_escape(gi_scanner *s, char c) {
  char out;
  if (s->unicode) {
    int v = hexval(c);
    if (v < 0) return set_error(s, GI_SCAN_ESYNTAX, "bad \\u escape at byte %zu", s->offset);
    s->code = s->code * 16 + (unsigned)v;
    if (--s->unicode > 0) return 0;
    /* anything but ASCII can only be a base64 error: let the sink say so */
    out = s->code < 0x80 ? (char)s->code : (char)0xff;
  } else {
    switch (c) {
      case 'u': s->unicode = 4; s->code = 0; return 0;
      case 'b': out = '\b'; break;
      case 'f': out = '\f'; break;
      case 'n': out = '\n'; break;
      case 'r': out = '\r'; break;
      case 't': out = '\t'; break;
      case '"': case '\\': case '/': out = c; break;
      default: return set_error(s, GI_SCAN_ESYNTAX, "bad escape at byte %zu", s->offset);
    }
  }
  s->escape = 0;
  if (s->cb.b64_data && s->cb.b64_data(s->cb.ud, &out, 1)) return callback_failed(s);
  return 0;
}

static int end_value(gi_scanner *s) {
  s->after_colon = 0;
  s->expect_key = 0;
  if (s->depth == 0) s->state = ST_DONE;
  return 0;
}

int gi_scanner_feed(gi_scanner *s, const char *p, size_t n) {
  size_t i = 0;
  if (s->err) return s->err;
  while (i < n) {
    char c = p[i];
    switch (s->state) {
      case ST_B64: {
        if (s->escape) {
          if (b64_escape(s, c)) return s->err;
          i++;
          s->offset++;
          break;
        }
        {
          size_t start = i;
          /* memchr scans many bytes per step: this loop sees every byte
           * of every image */
          const char *quote = (const char *)memchr(p + i, '"', n - i);
          const char *slash;
          size_t end = quote ? (size_t)(quote - p) : n;
          slash = (const char *)memchr(p + i, '\\', end - i);
          i = slash ? (size_t)(slash - p) : end;
          if (i > start && s->cb.b64_data && s->cb.b64_data(s->cb.ud, p + start, i - start)) {
            s->offset += i - start;
            return callback_failed(s);
          }
          s->offset += i - start;
          if (i == n) break;
          if (p[i] == '\\') {
            s->escape = 1;
          } else {
            if (s->cb.b64_end && s->cb.b64_end(s->cb.ud)) return callback_failed(s);
            if (append(s, "\"\"", 2)) return s->err;
            s->state = ST_VALUE;
            end_value(s);
          }
          i++;
          s->offset++;
        }
        break;
      }
      case ST_STRING: {
        size_t start = i;
        while (i < n) {
          char d = p[i];
          if (s->escape) {
            s->escape = 0;
            if (s->string_is_key) s->key_long = 1; /* "b64_json" has no escapes */
          } else if (d == '\\') {
            s->escape = 1;
          } else if (d == '"') {
            break;
          } else if (s->string_is_key && !s->key_long) {
            if (s->keylen < sizeof s->key - 1) s->key[s->keylen++] = d;
            else s->key_long = 1;
          }
          i++;
        }
        if (append(s, p + start, i - start)) return s->err;
        s->offset += i - start;
        if (i == n) break;
        if (append(s, "\"", 1)) return s->err; /* the closing quote */
        i++;
        s->offset++;
        s->state = ST_VALUE;
        if (s->string_is_key) {
          s->key[s->keylen] = '\0';
          s->b64_key = !s->key_long && strcmp(s->key, "b64_json") == 0;
          s->expect_key = 0;
          s->after_colon = 0;
        } else {
          end_value(s);
        }
        break;
      }
      case ST_START:
      case ST_DONE:
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
          i++;
          s->offset++;
          break;
        }
        if (s->state == ST_DONE)
          return set_error(s, GI_SCAN_ESYNTAX, "unexpected byte 0x%02x after the document at byte %zu",
                           (unsigned char)c, s->offset);
        if (c != '{' && c != '[')
          return set_error(s, GI_SCAN_ESYNTAX, "not JSON: starts with byte 0x%02x", (unsigned char)c);
        s->state = ST_VALUE;
        /* fall through: the opening bracket is handled as a token */
        /* FALLTHROUGH */
      case ST_VALUE:
        switch (c) {
          case '{':
          case '[':
            if (s->depth >= MAX_DEPTH)
              return set_error(s, GI_SCAN_ESYNTAX, "nesting deeper than %d at byte %zu", MAX_DEPTH, s->offset);
            s->stack[s->depth++] = c;
            s->expect_key = c == '{';
            s->after_colon = 0;
            break;
          case '}':
          case ']':
            if (s->depth == 0 || s->stack[s->depth - 1] != (c == '}' ? '{' : '['))
              return set_error(s, GI_SCAN_ESYNTAX, "unbalanced '%c' at byte %zu", c, s->offset);
            s->depth--;
            end_value(s);
            break;
          case ',':
            s->expect_key = s->depth > 0 && s->stack[s->depth - 1] == '{';
            s->after_colon = 0;
            break;
          case ':':
            s->after_colon = 1;
            break;
          case '"':
            s->escape = 0;
            if (s->after_colon && s->b64_key) {
              s->state = ST_B64;
              s->b64_key = 0;
              if (s->cb.b64_begin && s->cb.b64_begin(s->cb.ud, s->b64_count)) {
                s->b64_count++;
                return callback_failed(s);
              }
              s->b64_count++;
              i++;
              s->offset++;
              continue; /* the quotes go to the skeleton at the end */
            }
            s->string_is_key = s->expect_key;
            s->keylen = 0;
            s->key_long = 0;
            s->state = ST_STRING;
            break;
          case ' ': case '\t': case '\n': case '\r':
            break;
          default:
            /* numbers, true, false, null: copied; cjson judges them */
            if (s->after_colon || (s->depth > 0 && s->stack[s->depth - 1] == '[')) {
              s->after_colon = 0;
            }
            break;
        }
        if (append(s, &c, 1)) return s->err;
        i++;
        s->offset++;
        break;
      default:
        return set_error(s, GI_SCAN_ESYNTAX, "scanner in a bad state");
    }
  }
  return 0;
}

int gi_scanner_finish(gi_scanner *s) {
  if (s->err) return s->err;
  if (s->state != ST_DONE)
    return set_error(s, GI_SCAN_ETRUNCATED, "the document ends early after %zu bytes", s->offset);
  return 0;
}

const char *gi_scanner_skeleton(const gi_scanner *s, size_t *len) {
  *len = s->len;
  return s->skel ? s->skel : "";
}

const char *gi_scanner_message(const gi_scanner *s) {
  return s->msg;
}
