/* b64sink: strict base64 into memory or an atomically written file (see b64sink.h).
 *
 * libb64 decodes whatever it is given and silently skips characters outside
 * the alphabet, so every span is checked first with a table (alphabet, '='
 * only as the final padding, length a multiple of four at the end) and only
 * checked text reaches base64_decode_block.  libb64 keeps its own state
 * between calls, so input may be split at any byte. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <b64/cdecode.h>
#include "b64sink.h"

#define WRITE_BUFFER (256u * 1024u)
/* the most text one decode call takes: its output always fits a flushed buffer */
#define DECODE_SPAN ((WRITE_BUFFER - 4u) / 3u * 4u)

struct gi_sink {
  int is_file;
  size_t limit;          /* 0: none */
  size_t total;          /* decoded bytes */
  size_t chars;          /* base64 characters accepted */
  int padding;           /* '=' seen */
  int closed;            /* the padding is complete: nothing may follow */
  base64_decodestate state;
  char *buf;             /* memory: the bytes; file: the write buffer */
  size_t len, cap;
  int fd;
  char *path, *tmp;
  int committed, failed;
  char msg[320];
};

/* -1: not base64; -2: '='; else the 6-bit value */
static signed char ALPHABET[256];
static int alphabet_ready;

static void init_alphabet(void) {
  int i;
  const char *abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (alphabet_ready) return;
  for (i = 0; i < 256; i++) ALPHABET[i] = -1;
  for (i = 0; i < 64; i++) ALPHABET[(unsigned char)abc[i]] = (signed char)i;
  ALPHABET['='] = -2;
  alphabet_ready = 1;
}

static int fail(gi_sink *s, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#include <stdarg.h>
static int fail(gi_sink *s, int code, const char *fmt, ...) {
  va_list ap;
  if (!s->failed) {
    va_start(ap, fmt);
    vsnprintf(s->msg, sizeof s->msg, fmt, ap);
    va_end(ap);
    s->failed = code;
  }
  return s->failed;
}

static gi_sink *sink_alloc(size_t limit) {
  gi_sink *s = (gi_sink *)calloc(1, sizeof *s);
  if (s == NULL) return NULL;
  init_alphabet();
  s->limit = limit;
  s->fd = -1;
  base64_init_decodestate(&s->state);
  return s;
}

gi_sink *gi_sink_new_memory(size_t limit) {
  return sink_alloc(limit);
}

/* mkdir -p of the folder part of path */
static int make_parents(const char *path, char *err, size_t errlen) {
  char *dir = strdup(path), *p;
  if (dir == NULL) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  p = strrchr(dir, '/');
  if (p == NULL || p == dir) {
    free(dir);
    return 0;
  }
  *p = '\0';
  for (p = dir + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
      snprintf(err, errlen, "cannot create folder %s: %s", dir, strerror(errno));
      free(dir);
      return -1;
    }
    *p = '/';
  }
  if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
    snprintf(err, errlen, "cannot create folder %s: %s", dir, strerror(errno));
    free(dir);
    return -1;
  }
  free(dir);
  return 0;
}

static unsigned long random_word(void) {
  static unsigned long x;
  unsigned long r = 0;
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    if (read(fd, &r, sizeof r) != (ssize_t)sizeof r) r = 0;
    close(fd);
  }
  if (r == 0) {
    x += (unsigned long)time(NULL) ^ ((unsigned long)getpid() << 16) ^ 0x9e3779b97f4a7c15UL;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    r = x;
  }
  return r;
}

gi_sink *gi_sink_new_file(const char *final_path, size_t limit, char *err, size_t errlen) {
  gi_sink *s;
  const char *base;
  size_t dirlen, n;
  int attempt;
  if (final_path == NULL || final_path[0] == '\0') {
    snprintf(err, errlen, "empty save path");
    return NULL;
  }
  base = strrchr(final_path, '/');
  base = base ? base + 1 : final_path;
  if (base[0] == '\0') {
    snprintf(err, errlen, "save path %s names a folder, not a file", final_path);
    return NULL;
  }
  if (make_parents(final_path, err, errlen) != 0) return NULL;
  s = sink_alloc(limit);
  if (s == NULL || (s->path = strdup(final_path)) == NULL ||
      (s->buf = (char *)malloc(WRITE_BUFFER)) == NULL) {
    snprintf(err, errlen, "out of memory");
    gi_sink_free(s);
    return NULL;
  }
  s->is_file = 1;
  s->cap = WRITE_BUFFER;
  dirlen = (size_t)(base - final_path);
  n = dirlen + strlen(base) + 40;
  s->tmp = (char *)malloc(n);
  if (s->tmp == NULL) {
    snprintf(err, errlen, "out of memory");
    gi_sink_free(s);
    return NULL;
  }
  for (attempt = 0; attempt < 16; attempt++) {
    snprintf(s->tmp, n, "%.*s.%s.%08lx.part", (int)dirlen, final_path, base, random_word() & 0xffffffffUL);
    s->fd = open(s->tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666);
    if (s->fd >= 0 || errno != EEXIST) break;
  }
  if (s->fd < 0) {
    snprintf(err, errlen, "cannot create %s: %s", s->tmp, strerror(errno));
    free(s->tmp);
    s->tmp = NULL;
    gi_sink_free(s);
    return NULL;
  }
  return s;
}

static int flush_file(gi_sink *s) {
  size_t off = 0;
  while (off < s->len) {
    ssize_t w = write(s->fd, s->buf + off, s->len - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      return fail(s, GI_SINK_EIO, "cannot write %s: %s", s->path, strerror(errno));
    }
    off += (size_t)w;
  }
  s->len = 0;
  return GI_SINK_OK;
}

/* Room for at least need more bytes in buf: memory grows, files flush. */
static int reserve(gi_sink *s, size_t need) {
  if (s->cap - s->len >= need) return GI_SINK_OK;
  if (s->is_file) {
    int rc = flush_file(s);
    if (rc) return rc;
    return GI_SINK_OK; /* callers never ask a file for more than its buffer */
  }
  {
    size_t cap = s->cap ? s->cap : 64 * 1024;
    char *p;
    while (cap - s->len < need) {
      if (cap > ((size_t)-1) / 2) return fail(s, GI_SINK_ENOMEM, "out of memory");
      cap *= 2;
    }
    p = (char *)realloc(s->buf, cap);
    if (p == NULL) return fail(s, GI_SINK_ENOMEM, "out of memory");
    s->buf = p;
    s->cap = cap;
  }
  return GI_SINK_OK;
}

static int check_limit(gi_sink *s, size_t more) {
  if (s->limit && s->total + more > s->limit)
    return fail(s, GI_SINK_ELIMIT, "image larger than %zu bytes", s->limit);
  return GI_SINK_OK;
}

/* decodes n checked alphabet characters */
static int decode_span(gi_sink *s, const char *text, size_t n) {
  while (n > 0) {
    size_t take = n > DECODE_SPAN ? DECODE_SPAN : n;
    size_t most = take / 4 * 3 + 3;
    int out, rc = reserve(s, most);
    if (rc) return rc;
    out = base64_decode_block(text, (int)take, s->buf + s->len, &s->state);
    if (out < 0) return fail(s, GI_SINK_EBASE64, "base64 decoder failed");
    if ((rc = check_limit(s, (size_t)out)) != 0) return rc;
    s->len += (size_t)out;
    s->total += (size_t)out;
    s->chars += take;
    text += take;
    n -= take;
  }
  return GI_SINK_OK;
}

int gi_sink_write_b64(gi_sink *s, const char *text, size_t len) {
  size_t i = 0;
  if (s->failed) return s->failed;
  while (i < len) {
    size_t pos;
    if (s->padding == 0) {
      size_t start = i;
      int rc;
      const unsigned char *t = (const unsigned char *)text;
      /* eight at a time: values are 0..63 and the misfits negative, so the
       * OR of eight is negative exactly when one of them does not belong */
      while (i + 8 <= len && (ALPHABET[t[i]] | ALPHABET[t[i + 1]] | ALPHABET[t[i + 2]] |
                              ALPHABET[t[i + 3]] | ALPHABET[t[i + 4]] | ALPHABET[t[i + 5]] |
                              ALPHABET[t[i + 6]] | ALPHABET[t[i + 7]]) >= 0)
        i += 8;
      while (i < len && ALPHABET[t[i]] >= 0) i++;
      if (i > start && (rc = decode_span(s, text + start, i - start)) != 0) return rc;
      if (i == len) break;
    }
    pos = s->chars + (size_t)s->padding;
    if (s->closed)
      return fail(s, GI_SINK_EBASE64, "base64 text continues after its padding at offset %zu", pos);
    if (text[i] != '=')
      return fail(s, GI_SINK_EBASE64, ALPHABET[(unsigned char)text[i]] >= 0
                  ? "base64 data after padding at offset %zu (0x%02x)"
                  : "invalid base64 character at offset %zu (0x%02x)",
                  pos, (unsigned char)text[i]);
    /* '=' fills only the last one or two places of the final quantum */
    if (pos % 4 < 2 || (s->padding == 1 && pos % 4 != 3))
      return fail(s, GI_SINK_EBASE64, "misplaced base64 padding at offset %zu", pos);
    s->padding++;
    if ((pos + 1) % 4 == 0) s->closed = 1;
    i++;
  }
  return GI_SINK_OK;
}

int gi_sink_write_raw(gi_sink *s, const char *bytes, size_t len) {
  int rc;
  if (s->failed) return s->failed;
  if ((rc = check_limit(s, len)) != 0) return rc;
  s->total += len;
  while (len > 0) {
    size_t take;
    if (s->is_file) {
      if (s->len == s->cap && (rc = flush_file(s)) != 0) return rc;
      take = s->cap - s->len;
      if (take > len) take = len;
    } else {
      if ((rc = reserve(s, len)) != 0) return rc;
      take = len;
    }
    memcpy(s->buf + s->len, bytes, take);
    s->len += take;
    bytes += take;
    len -= take;
  }
  return GI_SINK_OK;
}

int gi_sink_finish(gi_sink *s) {
  size_t total_chars;
  if (s->failed) return s->failed;
  total_chars = s->chars + (size_t)s->padding;
  if (total_chars % 4 != 0)
    return fail(s, GI_SINK_EBASE64, "base64 text of %zu characters is not a multiple of 4", total_chars);
  if (s->is_file) return flush_file(s);
  return GI_SINK_OK;
}

int gi_sink_commit(gi_sink *s) {
  int rc;
  if (s->failed) return s->failed;
  if (!s->is_file || s->committed) return GI_SINK_OK;
  if ((rc = flush_file(s)) != 0) return rc;
  if (close(s->fd) != 0) {
    s->fd = -1;
    return fail(s, GI_SINK_EIO, "cannot write %s: %s", s->path, strerror(errno));
  }
  s->fd = -1;
  if (rename(s->tmp, s->path) != 0)
    return fail(s, GI_SINK_EIO, "cannot save %s: %s", s->path, strerror(errno));
  s->committed = 1;
  return GI_SINK_OK;
}

void gi_sink_abort(gi_sink *s) {
  if (s == NULL || !s->is_file || s->committed) return;
  if (s->fd >= 0) {
    close(s->fd);
    s->fd = -1;
  }
  if (s->tmp) {
    unlink(s->tmp);
    free(s->tmp);
    s->tmp = NULL;
  }
}

void gi_sink_free(gi_sink *s) {
  if (s == NULL) return;
  gi_sink_abort(s);
  free(s->tmp);
  free(s->path);
  free(s->buf);
  free(s);
}

const char *gi_sink_message(const gi_sink *s) { return s->msg; }

const char *gi_sink_data(const gi_sink *s, size_t *len) {
  *len = s->is_file ? 0 : s->len;
  return s->is_file ? NULL : s->buf;
}

char *gi_sink_take(gi_sink *s, size_t *len) {
  char *p;
  if (s->is_file) {
    *len = 0;
    return NULL;
  }
  p = s->buf;
  *len = s->len;
  s->buf = NULL;
  s->len = s->cap = 0;
  return p;
}

const char *gi_sink_path(const gi_sink *s) { return s->path; }
size_t gi_sink_size(const gi_sink *s) { return s->total; }
