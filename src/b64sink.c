/* b64sink: strict base64 into memory or an atomically written file (see b64sink.h).
 *
 * Checking and decoding are one pass: a table gives each character's value
 * or -1, four lookups OR-ed together test a whole quantum with one branch,
 * and its three bytes go straight into the write buffer.  Strict: alphabet
 * only, '=' only as the last one or two characters, a length that is a
 * multiple of four at the end.  A quantum split between two pieces of text
 * waits in a small carry, so the text may be split at any byte.
 *
 * libb64 did this job first; it costs about 23 instructions per character
 * (a call per character) against about 4 here, and saving at the speed of
 * the wire needs the difference.  It stays the reference the fuzz harness
 * checks this decoder against.
 *
 * A file sink writes to ".<name>.<random>.part" beside the final path,
 * created with O_EXCL, in blocks of WRITE_BUFFER bytes; commit renames it
 * over the final path (the file it replaces freed off the thread, see
 * reaper.h), anything else unlinks it. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strdup, O_CLOEXEC, clock_gettime under -std=c99 too */
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include "b64sink.h"
#include "reaper.h"

/* 64 KiB: a write of a block is work inside a body piece, and a smaller
 * one keeps a piece close to what a poll budget can take (a 256 KiB write
 * into the page cache cost 0.3-0.5 ms); the syscalls it adds are about 1%
 * of saving an image */
#define WRITE_BUFFER (64u * 1024u)
#define MEMORY_FIRST_CAPACITY (64u * 1024u)
#define TEMP_NAME_ATTEMPTS 64

struct gi_sink {
  int is_file;
  int failed;            /* first error code, sticky */
  int committed;
  int kept;              /* gi_sink_keep: the temporary file stays */
  int finished;          /* gi_sink_finish succeeded: no more input */
  size_t limit;          /* most decoded bytes accepted, 0: none */
  size_t total;          /* bytes decoded or written so far */
  size_t chars;          /* alphabet characters accepted */
  size_t padding;        /* '=' accepted after them (0, 1 or 2) */
  uint32_t carry;         /* values of the characters of an unfinished quantum */
  unsigned carried;       /* how many (0-3) */
  char *buf;             /* memory: the bytes; file: the write buffer */
  size_t len, cap;
  int fd;
  char *path, *tmp;
  char msg[320];
};

static int fail(gi_sink *s, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(gi_sink *s, int code, const char *fmt, ...) {
  va_list ap;
  if (s->failed) return s->failed;
  va_start(ap, fmt);
  vsnprintf(s->msg, sizeof s->msg, fmt, ap);
  va_end(ap);
  s->failed = code;
  return code;
}

static gi_sink *sink_alloc(size_t limit) {
  gi_sink *s = (gi_sink *)calloc(1, sizeof *s);
  if (s == NULL) return NULL;
  s->limit = limit;
  s->fd = -1;
  return s;
}

gi_sink *gi_sink_new_memory(size_t limit) { return sink_alloc(limit); }

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  if (err == NULL || errlen == 0) return;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

static int is_directory(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* mkdir -p of dir (modified in place, restored before returning). An
 * existing folder is fine whatever mkdir says about it (EEXIST, or EACCES
 * and EROFS on some systems). */
static int make_folders(char *dir, char *err, size_t errlen) {
  char *p = dir;
  for (;;) {
    char saved;
    while (*p == '/') p++;
    if (*p == '\0') return 0;
    while (*p != '\0' && *p != '/') p++;
    saved = *p;
    *p = '\0';
    if (mkdir(dir, 0777) != 0 && errno != EEXIST && !is_directory(dir)) {
      set_err(err, errlen, "cannot create folder %s: %s", dir, strerror(errno));
      *p = saved;
      return -1;
    }
    *p = saved;
  }
}

/* Unpredictable enough that two processes saving to one folder do not keep
 * colliding; O_EXCL, not the name, is what makes the file ours. */
static uint32_t random_u32(void) {
  static uint32_t counter;
  uint32_t r = 0;
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    if (read(fd, &r, sizeof r) != (ssize_t)sizeof r) r = 0;
    close(fd);
  }
  if (r == 0) {
    struct timespec ts;
    uint64_t x;
    clock_gettime(CLOCK_REALTIME, &ts);
    x = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 16) ^
        (uint64_t)(uintptr_t)&counter ^ ((uint64_t)++counter * 0x9e3779b97f4a7c15ULL);
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    r = (uint32_t)x;
  }
  return r;
}

gi_sink *gi_sink_new_file(const char *final_path, size_t limit, char *err, size_t errlen) {
  gi_sink *s;
  const char *base;
  size_t dirlen, tmplen;
  int attempt;
  if (final_path == NULL || final_path[0] == '\0') {
    set_err(err, errlen, "empty save path");
    return NULL;
  }
  base = strrchr(final_path, '/');
  base = base ? base + 1 : final_path;
  if (base[0] == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
    set_err(err, errlen, "save path %s names a folder, not a file", final_path);
    return NULL;
  }
  dirlen = (size_t)(base - final_path);
  s = sink_alloc(limit);
  tmplen = dirlen + strlen(base) + sizeof "..12345678.part";
  if (s == NULL || (s->path = strdup(final_path)) == NULL || (s->tmp = (char *)malloc(tmplen)) == NULL ||
      (s->buf = (char *)malloc(WRITE_BUFFER)) == NULL) {
    set_err(err, errlen, "out of memory");
    gi_sink_free(s);
    return NULL;
  }
  s->is_file = 1;
  s->cap = WRITE_BUFFER;
  if (dirlen > 0) {
    /* the folder part of the path, without its last '/' */
    memcpy(s->tmp, final_path, dirlen);
    s->tmp[dirlen] = '\0';
    if (make_folders(s->tmp, err, errlen) != 0) {
      gi_sink_free(s);
      return NULL;
    }
  }
  for (attempt = 0; attempt < TEMP_NAME_ATTEMPTS; attempt++) {
    snprintf(s->tmp, tmplen, "%.*s.%s.%08lx.part", (int)dirlen, final_path, base,
             (unsigned long)random_u32());
    s->fd = open(s->tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666);
    if (s->fd >= 0 || errno != EEXIST) break;
  }
  if (s->fd < 0) {
    set_err(err, errlen, "cannot create a temporary file beside %s: %s", final_path, strerror(errno));
    free(s->tmp);
    s->tmp = NULL; /* not ours: nothing to unlink */
    gi_sink_free(s);
    return NULL;
  }
  return s;
}

static int write_all(gi_sink *s, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(s->fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return fail(s, GI_SINK_EIO, "cannot write %s: %s", s->path, strerror(errno));
    }
    if (w == 0) return fail(s, GI_SINK_EIO, "cannot write %s: %s", s->path, strerror(ENOSPC));
    p += w;
    n -= (size_t)w;
  }
  return GI_SINK_OK;
}

static int flush_file(gi_sink *s) {
  int rc = write_all(s, s->buf, s->len);
  s->len = 0;
  return rc;
}

/* Memory sinks: room for need more bytes, capacity doubling. */
static int grow(gi_sink *s, size_t need) {
  size_t cap = s->cap ? s->cap : MEMORY_FIRST_CAPACITY;
  char *p;
  if (need > SIZE_MAX - s->len) return fail(s, GI_SINK_ENOMEM, "out of memory");
  while (cap - s->len < need) {
    if (cap > SIZE_MAX / 2) {
      cap = s->len + need;
      break;
    }
    cap *= 2;
  }
  p = (char *)realloc(s->buf, cap);
  if (p == NULL) return fail(s, GI_SINK_ENOMEM, "out of memory");
  s->buf = p;
  s->cap = cap;
  return GI_SINK_OK;
}

int gi_sink_reserve(gi_sink *s, size_t bytes) {
  char *p;
  if (s->is_file || s->failed) return GI_SINK_OK;
  if (s->limit != 0 && bytes > s->limit) bytes = s->limit;
  if (bytes <= s->cap) return GI_SINK_OK;
  /* only a hint: failing to get the room now fails nothing */
  p = (char *)realloc(s->buf, bytes);
  if (p == NULL) return GI_SINK_ENOMEM;
  s->buf = p;
  s->cap = bytes;
  return GI_SINK_OK;
}

static int over_limit(gi_sink *s, size_t more) {
  return s->limit != 0 && (more > s->limit || s->total > s->limit - more);
}

static int limit_error(gi_sink *s) {
  return fail(s, GI_SINK_ELIMIT, "image larger than %zu bytes", s->limit);
}

/* Room for at least need more bytes at buf + len: a file sink flushes its
 * block, a memory sink grows. */
static int make_room(gi_sink *s, size_t need) {
  if (s->cap - s->len >= need) return GI_SINK_OK;
  if (s->is_file) return flush_file(s);
  return grow(s, need);
}

/* Counts n decoded bytes that are already at buf + len, unless they would
 * pass the limit: then they are dropped, so the size never exceeds it. */
static int accept_bytes(gi_sink *s, size_t n) {
  if (over_limit(s, n)) return limit_error(s);
  s->len += n;
  s->total += n;
  return GI_SINK_OK;
}

/* DECODE_n[c]: the value of character c already shifted to its place in a
 * quantum's 24 bits, or a high byte set for characters outside the
 * alphabet, so that OR-ing four lookups gives the quantum's bytes or shows
 * that one of them was not base64. */
#define B64_VALUE(c)                                                          \
  ((c) >= 'A' && (c) <= 'Z'   ? (c) - 'A'                                     \
   : (c) >= 'a' && (c) <= 'z' ? (c) - 'a' + 26                                \
   : (c) >= '0' && (c) <= '9' ? (c) - '0' + 52                                \
   : (c) == '+'               ? 62                                            \
   : (c) == '/'               ? 63                                            \
                              : -1)
#define B64_PLACED(c, shift) (B64_VALUE(c) < 0 ? 0xff000000u : (uint32_t)B64_VALUE(c) << (shift))
#define B64_ROW(s, b)                                                                                  \
  B64_PLACED(b, s), B64_PLACED(b + 1, s), B64_PLACED(b + 2, s), B64_PLACED(b + 3, s),                \
      B64_PLACED(b + 4, s), B64_PLACED(b + 5, s), B64_PLACED(b + 6, s), B64_PLACED(b + 7, s),         \
      B64_PLACED(b + 8, s), B64_PLACED(b + 9, s), B64_PLACED(b + 10, s), B64_PLACED(b + 11, s),       \
      B64_PLACED(b + 12, s), B64_PLACED(b + 13, s), B64_PLACED(b + 14, s), B64_PLACED(b + 15, s)
#define B64_TABLE(s)                                                                                   \
  {B64_ROW(s, 0),   B64_ROW(s, 16),  B64_ROW(s, 32),  B64_ROW(s, 48),  B64_ROW(s, 64),  B64_ROW(s, 80), \
   B64_ROW(s, 96),  B64_ROW(s, 112), B64_ROW(s, 128), B64_ROW(s, 144), B64_ROW(s, 160), B64_ROW(s, 176), \
   B64_ROW(s, 192), B64_ROW(s, 208), B64_ROW(s, 224), B64_ROW(s, 240)}
static const uint32_t DECODE_0[256] = B64_TABLE(18);
static const uint32_t DECODE_1[256] = B64_TABLE(12);
static const uint32_t DECODE_2[256] = B64_TABLE(6);
static const uint32_t DECODE_3[256] = B64_TABLE(0);

/* A character's value 0..63, or -1 outside the alphabet ('=' included). */
static int value_of(unsigned char c) {
  uint32_t v = DECODE_3[c];
  return v >> 24 ? -1 : (int)v;
}

/* Decodes whole quanta from the start of t[0..n) into the room there is,
 * stopping before the first character outside the alphabet.  Returns how
 * many characters it used (a multiple of 4). */
static size_t decode_quanta(gi_sink *s, const unsigned char *t, size_t n) {
  unsigned char *out = (unsigned char *)s->buf + s->len;
  size_t quanta = n / 4, room = (s->cap - s->len) / 3, i = 0, q;
  if (quanta > room) quanta = room;
  for (q = 0; q < quanta; q++, i += 4) {
    uint32_t v = DECODE_0[t[i]] | DECODE_1[t[i + 1]] | DECODE_2[t[i + 2]] | DECODE_3[t[i + 3]];
    if (v >> 24) break;
    out[0] = (unsigned char)(v >> 16);
    out[1] = (unsigned char)(v >> 8);
    out[2] = (unsigned char)v;
    out += 3;
  }
  return i;
}

/* One alphabet character into the carried quantum; a completed quantum
 * becomes three bytes. */
static int carry_char(gi_sink *s, int value) {
  int rc;
  s->carry = s->carry << 6 | (uint32_t)value;
  s->chars++;
  if (++s->carried < 4) return GI_SINK_OK;
  s->carried = 0;
  if ((rc = make_room(s, 3)) != 0) return rc;
  s->buf[s->len] = (char)(s->carry >> 16);
  s->buf[s->len + 1] = (char)(s->carry >> 8);
  s->buf[s->len + 2] = (char)s->carry;
  s->carry = 0;
  return accept_bytes(s, 3);
}

/* The first '=' ends the text: the two or three characters carried are the
 * last one or two bytes. */
static int flush_partial_quantum(gi_sink *s) {
  int rc;
  size_t n = s->carried == 3 ? 2 : s->carried == 2 ? 1 : 0;
  if (n == 0) return GI_SINK_OK;
  if ((rc = make_room(s, 2)) != 0) return rc;
  if (s->carried == 3) {
    s->buf[s->len] = (char)(s->carry >> 10);
    s->buf[s->len + 1] = (char)(s->carry >> 2);
  } else {
    s->buf[s->len] = (char)(s->carry >> 4);
  }
  s->carried = 0;
  s->carry = 0;
  return accept_bytes(s, n);
}

static int bad_character(gi_sink *s, unsigned char c) {
  size_t offset = s->chars + s->padding;
  if (s->padding > 0 && value_of(c) >= 0)
    return fail(s, GI_SINK_EBASE64, "base64 text continues after its padding at offset %zu", offset);
  if (c >= 0x21 && c < 0x7f)
    return fail(s, GI_SINK_EBASE64, "invalid base64 character '%c' at offset %zu", c, offset);
  return fail(s, GI_SINK_EBASE64, "invalid base64 byte 0x%02x at offset %zu", c, offset);
}

/* Alphabet characters from t[i..len): whole quanta straight into the
 * buffer, the odd ones through the carry.  Returns where it stopped. */
static int decode_run(gi_sink *s, const unsigned char *t, size_t len, size_t *at) {
  size_t i = *at;
  int rc = GI_SINK_OK;
  for (;;) {
    size_t used;
    while (s->carried > 0 && i < len && value_of(t[i]) >= 0)
      if ((rc = carry_char(s, value_of(t[i++]))) != 0) goto out;
    if (s->carried > 0 || len - i < 4) break;
    /* leave room for a few quanta at least, so that each pass does work */
    if ((rc = make_room(s, s->is_file ? 3 : (len - i) / 4 * 3)) != 0) goto out;
    used = decode_quanta(s, t + i, len - i);
    if (used > 0) {
      if ((rc = accept_bytes(s, used / 4 * 3)) != 0) goto out;
      s->chars += used;
      i += used;
    } else if (s->cap - s->len >= 3) {
      break; /* a character outside the alphabet within the next four */
    }
  }
  while (i < len && value_of(t[i]) >= 0)
    if ((rc = carry_char(s, value_of(t[i++]))) != 0) break;
out:
  *at = i;
  return rc;
}

static int after_finish(gi_sink *s) {
  return fail(s, GI_SINK_EIO, "%s was written to after its end", s->is_file ? s->path : "an image in memory");
}

int gi_sink_write_b64(gi_sink *s, const char *text, size_t len) {
  const unsigned char *t = (const unsigned char *)text;
  size_t i = 0;
  int rc;
  if (s->failed) return s->failed;
  if (s->finished) return len ? after_finish(s) : GI_SINK_OK;
  while (i < len) {
    if (s->padding == 0) {
      if ((rc = decode_run(s, t, len, &i)) != 0) return rc;
      if (i == len) break;
    }
    if (t[i] != '=') return bad_character(s, t[i]);
    /* '=' may stand only for the third and fourth characters of the last
     * quantum, and a second one only right after the first */
    if ((s->chars + s->padding) % 4 < 2 || s->padding >= 2 || (s->chars % 4 == 3 && s->padding >= 1))
      return fail(s, GI_SINK_EBASE64, "misplaced base64 padding at offset %zu", s->chars + s->padding);
    if (s->padding == 0 && (rc = flush_partial_quantum(s)) != 0) return rc;
    s->padding++;
    i++;
  }
  return GI_SINK_OK;
}

int gi_sink_write_raw(gi_sink *s, const char *bytes, size_t len) {
  int rc;
  if (s->failed) return s->failed;
  if (s->finished) return after_finish(s);
  if (over_limit(s, len)) return limit_error(s);
  if (s->is_file) {
    if (len >= s->cap - s->len) {
      /* large pieces go straight out, after what is buffered */
      if ((rc = flush_file(s)) != 0) return rc;
      if (len >= s->cap) {
        if ((rc = write_all(s, bytes, len)) != 0) return rc;
        s->total += len;
        return GI_SINK_OK;
      }
    }
  } else if (len > s->cap - s->len && (rc = grow(s, len)) != 0) {
    return rc;
  }
  if (len > 0) memcpy(s->buf + s->len, bytes, len);
  s->len += len;
  s->total += len;
  return GI_SINK_OK;
}

int gi_sink_finish(gi_sink *s) {
  size_t count;
  if (s->failed) return s->failed;
  if (s->finished) return GI_SINK_OK;
  count = s->chars + s->padding;
  if (count % 4 != 0)
    return fail(s, GI_SINK_EBASE64, "base64 text ends after %zu characters, not a multiple of 4", count);
  if (s->is_file && s->fd >= 0) {
    int rc = flush_file(s);
    if (rc) return rc;
    /* a response of n images keeps n finished files open until it commits
     * them all: their write buffers are not needed any more */
    free(s->buf);
    s->buf = NULL;
    s->cap = 0;
  }
  s->finished = 1;
  return GI_SINK_OK;
}

int gi_sink_commit(gi_sink *s) {
  int rc, old;
  if (s->failed) return s->failed;
  if (!s->is_file || s->committed) return GI_SINK_OK;
  if ((rc = flush_file(s)) != 0) return rc;
  rc = close(s->fd);
  s->fd = -1;
  if (rc != 0) return fail(s, GI_SINK_EIO, "cannot write %s: %s", s->path, strerror(errno));
  /* the file being replaced is freed on another thread (reaper.h) */
  old = gi_reaper_hold(s->path);
  rc = rename(s->tmp, s->path) != 0 ? errno : 0;
  gi_reaper_release(old);
  if (rc != 0) return fail(s, GI_SINK_EIO, "cannot save %s: %s", s->path, strerror(rc));
  s->committed = 1;
  free(s->tmp);
  s->tmp = NULL;
  return GI_SINK_OK;
}

const char *gi_sink_keep(gi_sink *s) {
  if (s == NULL || !s->is_file || s->committed || s->failed || !s->finished || s->tmp == NULL) return NULL;
  if (s->kept) return s->tmp;
  if (s->fd >= 0) {
    int rc = close(s->fd);
    s->fd = -1;
    if (rc != 0) return NULL;
  }
  s->kept = 1;
  return s->tmp;
}

void gi_sink_abort(gi_sink *s) {
  if (s == NULL || !s->is_file || s->committed || s->kept) return;
  if (s->fd >= 0) {
    close(s->fd);
    s->fd = -1;
  }
  if (s->tmp) {
    unlink(s->tmp);
    free(s->tmp);
    s->tmp = NULL;
  }
  s->len = 0;
  if (!s->failed) fail(s, GI_SINK_EIO, "saving %s was abandoned", s->path);
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
  *len = 0;
  if (s->is_file) return NULL;
  p = s->buf;
  *len = s->len;
  s->buf = NULL;
  s->len = s->cap = 0;
  return p;
}

const char *gi_sink_path(const gi_sink *s) { return s->path; }
size_t gi_sink_size(const gi_sink *s) { return s->total; }
