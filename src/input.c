/* input: input images, sniffed and measured from their headers (see input.h).
 *
 * Files are read with pread through a small window, so checking an image
 * costs a few reads whatever its size, and an io file's own position and
 * buffer are left as the caller had them.  The upload of an io file reads a
 * duplicate descriptor: closing the Lua file during the transfer cannot pull
 * the data out from under curl. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include "input.h"

#define WINDOW 4096
#define HEAD_BYTES 32
#define MAX_PNG_CHUNKS 100000
#define MAX_JPEG_STEPS 1000000
#define ERR_SIZE 512
#define PATH_LIMIT 4096

static unsigned long be32(const unsigned char *p) {
  return ((unsigned long)p[0] << 24) | ((unsigned long)p[1] << 16) | ((unsigned long)p[2] << 8) | p[3];
}
static unsigned long le32(const unsigned char *p) {
  return ((unsigned long)p[3] << 24) | ((unsigned long)p[2] << 16) | ((unsigned long)p[1] << 8) | p[0];
}
static unsigned long le24(const unsigned char *p) {
  return (unsigned long)p[0] | ((unsigned long)p[1] << 8) | ((unsigned long)p[2] << 16);
}
static unsigned le16(const unsigned char *p) { return (unsigned)p[0] | ((unsigned)p[1] << 8); }
static unsigned be16(const unsigned char *p) { return ((unsigned)p[0] << 8) | p[1]; }

/* ------------------------------------------------------------------ */
/* reading headers */

typedef struct reader {
  gi_input *in;
  unsigned char window[WINDOW];
  long long base; /* offset of window[0] */
  size_t len;     /* valid bytes in window */
  int error;      /* errno of a failed read, 0 when none */
} reader;

static long long pread_full(int fd, unsigned char *buf, size_t n, long long off) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = pread(fd, buf + got, n - got, (off_t)(off + (long long)got));
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (r == 0) break;
    got += (size_t)r;
  }
  return (long long)got;
}

/* Copies up to n (<= WINDOW) bytes at off into out; returns how many (fewer
 * at the end of the data or on a read error, which r->error tells). */
static size_t read_at(reader *r, long long off, unsigned char *out, size_t n) {
  gi_input *in = r->in;
  long long avail;
  if (off < 0 || off >= in->size || n > WINDOW) return 0;
  if ((long long)n > in->size - off) n = (size_t)(in->size - off);
  if (in->kind == GI_IN_BYTES) {
    memcpy(out, in->data + off, n);
    return n;
  }
  if (off < r->base || off + (long long)n > r->base + (long long)r->len) {
    long long want = in->size - off < WINDOW ? in->size - off : WINDOW;
    long long got = pread_full(in->fd, r->window, (size_t)want, in->start + off);
    if (got < 0) {
      r->error = errno ? errno : EIO;
      r->len = 0;
      return 0;
    }
    r->base = off;
    r->len = (size_t)got;
  }
  avail = r->base + (long long)r->len - off;
  if ((long long)n > avail) n = (size_t)avail;
  memcpy(out, r->window + (off - r->base), n);
  return n;
}

int gi_input_sniff(const unsigned char *h, size_t n, gi_image_type *type) {
  if (n >= 8 && memcmp(h, "\x89PNG\r\n\x1a\n", 8) == 0) *type = GI_IMG_PNG;
  else if (n >= 3 && h[0] == 0xFF && h[1] == 0xD8 && h[2] == 0xFF) *type = GI_IMG_JPEG;
  else if (n >= 12 && memcmp(h, "RIFF", 4) == 0 && memcmp(h + 8, "WEBP", 4) == 0) *type = GI_IMG_WEBP;
  else return 0;
  return 1;
}

/* Formats the common image types the API does not take, for messages. */
static const char *other_format(const unsigned char *h, size_t n) {
  if (n >= 4 && memcmp(h, "GIF8", 4) == 0) return "a GIF";
  if (n >= 2 && memcmp(h, "BM", 2) == 0) return "a BMP";
  if (n >= 4 && (memcmp(h, "II*\0", 4) == 0 || memcmp(h, "MM\0*", 4) == 0)) return "a TIFF";
  if (n >= 12 && memcmp(h + 4, "ftyp", 4) == 0) return "an AVIF or HEIC";
  return NULL;
}

/* PNG: IHDR gives the size and colour type; a tRNS chunk before IDAT also
 * means transparency.  Chunk headers only: their data is skipped. */
static int measure_png(reader *r) {
  gi_input *in = r->in;
  unsigned char h[HEAD_BYTES];
  long long off;
  int chunks = 0, colour;
  if (read_at(r, 0, h, 29) < 29 || be32(h + 8) != 13 || memcmp(h + 12, "IHDR", 4) != 0) return -1;
  if (be32(h + 16) > 0x7FFFFFFFUL || be32(h + 20) > 0x7FFFFFFFUL) return -1;
  in->width = (long)be32(h + 16);
  in->height = (long)be32(h + 20);
  colour = h[25];
  if (h[24] == 0 || (colour != 0 && colour != 2 && colour != 3 && colour != 4 && colour != 6)) return -1;
  in->alpha = colour == 4 || colour == 6;
  off = 8 + 8 + 13 + 4;
  while (!in->alpha && chunks++ < MAX_PNG_CHUNKS) {
    unsigned long len;
    if (read_at(r, off, h, 8) < 8) return -1; /* cut before the image data */
    len = be32(h);
    if (len > 0x7FFFFFFFUL) return -1;
    if (memcmp(h + 4, "tRNS", 4) == 0) in->alpha = 1;
    if (memcmp(h + 4, "IDAT", 4) == 0 || memcmp(h + 4, "IEND", 4) == 0) break;
    off += 8 + (long long)len + 4;
  }
  return in->width > 0 && in->height > 0 ? 0 : -1;
}

/* JPEG: walk the segments to the first start-of-frame. */
static int measure_jpeg(reader *r) {
  gi_input *in = r->in;
  unsigned char h[16];
  long long off = 2;
  long steps = 0;
  while (steps++ < MAX_JPEG_STEPS) {
    unsigned marker;
    if (read_at(r, off, h, 4) < 4) return -1;
    if (h[0] != 0xFF) { /* stray bytes between segments: decoders skip them too */
      off += 1;
      continue;
    }
    marker = h[1];
    if (marker == 0xFF) { /* fill byte */
      off += 1;
      continue;
    }
    if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) { /* no length */
      off += 2;
      continue;
    }
    if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) {
      if (read_at(r, off, h, 9) < 9) return -1;
      in->height = (long)be16(h + 5);
      in->width = (long)be16(h + 7);
      return in->width > 0 && in->height > 0 ? 0 : -1;
    }
    if (marker == 0xD9 || marker == 0xDA) return -1; /* no frame header before the data */
    off += 2 + (long long)be16(h + 2);
  }
  return -1;
}

static int measure_webp(reader *r) {
  gi_input *in = r->in;
  unsigned char h[HEAD_BYTES];
  if (read_at(r, 0, h, 30) < 30) return -1;
  if (memcmp(h + 12, "VP8 ", 4) == 0) {
    if (h[23] != 0x9D || h[24] != 0x01 || h[25] != 0x2A) return -1;
    in->width = (long)(le16(h + 26) & 0x3FFF);
    in->height = (long)(le16(h + 28) & 0x3FFF);
  } else if (memcmp(h + 12, "VP8L", 4) == 0) {
    unsigned long bits = le32(h + 21);
    if (h[20] != 0x2F) return -1;
    in->width = (long)(bits & 0x3FFF) + 1;
    in->height = (long)((bits >> 14) & 0x3FFF) + 1;
    in->alpha = (int)((bits >> 28) & 1);
  } else if (memcmp(h + 12, "VP8X", 4) == 0) {
    in->alpha = (h[20] & 0x10) != 0;
    in->width = (long)le24(h + 24) + 1;
    in->height = (long)le24(h + 27) + 1;
  } else {
    return -1;
  }
  return in->width > 0 && in->height > 0 ? 0 : -1;
}

/* Sniffs and measures; 0, or -1 with a message naming the input in err. */
static int examine(gi_input *in, char *err, size_t errlen) {
  reader rd, *r = &rd;
  unsigned char head[HEAD_BYTES];
  size_t n;
  int rc;
  r->in = in;
  r->base = -1;
  r->len = 0;
  r->error = 0;
  if (in->size <= 0) {
    snprintf(err, errlen, "%s is empty", in->label);
    return -1;
  }
  n = read_at(r, 0, head, sizeof head);
  if (r->error) {
    snprintf(err, errlen, "cannot read %s: %s", in->label, strerror(r->error));
    return -1;
  }
  if (!gi_input_sniff(head, n, &in->type)) {
    const char *other = other_format(head, n);
    if (other) snprintf(err, errlen, "%s is %s; use a PNG, JPEG or WebP image", in->label, other);
    else snprintf(err, errlen, "%s is not a PNG, JPEG or WebP image", in->label);
    return -1;
  }
  switch (in->type) {
    case GI_IMG_PNG: in->mime = "image/png"; in->ext = "png"; rc = measure_png(r); break;
    case GI_IMG_JPEG: in->mime = "image/jpeg"; in->ext = "jpg"; rc = measure_jpeg(r); break;
    default: in->mime = "image/webp"; in->ext = "webp"; rc = measure_webp(r); break;
  }
  if (r->error) {
    snprintf(err, errlen, "cannot read %s: %s", in->label, strerror(r->error));
    return -1;
  }
  if (rc != 0) {
    snprintf(err, errlen, "%s is a truncated or damaged %s image", in->label,
             in->type == GI_IMG_PNG ? "PNG" : in->type == GI_IMG_JPEG ? "JPEG" : "WebP");
    return -1;
  }
  return 0;
}

/* ------------------------------------------------------------------ */
/* the forms an input comes in */

static const char *basename_of(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

/* "image 2 '/long/path/x.png'": long paths keep their end, where the name is */
static void path_label(gi_input *in, const char *label, const char *path) {
  size_t len = strlen(path);
  if (len > 60) snprintf(in->label, sizeof in->label, "%s '...%s'", label, path + len - 57);
  else snprintf(in->label, sizeof in->label, "%s '%s'", label, path);
}

static void open_path(lua_State *L, gi_input *in, const char *label, const char *path, size_t len) {
  struct stat st;
  int fd;
  in->kind = GI_IN_PATH;
  in->path = path;
  path_label(in, label, path);
  if (len == 0) luaL_error(L, "%s: the path is empty", label);
  if (strlen(path) != len) luaL_error(L, "%s: a path must not contain NUL bytes", label);
  /* O_NONBLOCK: opening a FIFO must not hang the caller */
  fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) luaL_error(L, "cannot read %s '%s': %s", label, path, strerror(errno));
  if (fstat(fd, &st) != 0) {
    int saved = errno;
    close(fd);
    luaL_error(L, "cannot read %s '%s': %s", label, path, strerror(saved));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    luaL_error(L, "cannot read %s '%s': not a regular file", label, path);
  }
  in->fd = fd;
  in->start = 0;
  in->size = (long long)st.st_size;
  snprintf(in->filename, sizeof in->filename, "%s", basename_of(path));
}

FILE *gi_input_lua_file(lua_State *L, int idx, int *closed) {
#if LUA_VERSION_NUM >= 502
  luaL_Stream *s = (luaL_Stream *)luaL_testudata(L, idx, LUA_FILEHANDLE);
  if (s == NULL) return NULL;
  *closed = s->closef == NULL || s->f == NULL;
  return *closed ? NULL : s->f;
#else
  FILE **s = (FILE **)luaL_testudata(L, idx, LUA_FILEHANDLE);
  if (s == NULL) return NULL;
  *closed = *s == NULL;
  return *s;
#endif
}

static void open_file(lua_State *L, gi_input *in, const char *label, FILE *f) {
  struct stat st;
  off_t start;
  in->kind = GI_IN_FILE;
  snprintf(in->label, sizeof in->label, "%s (open file)", label);
  start = ftello(f);
  if (start < 0) luaL_error(L, "%s cannot seek (pipes and terminals are not supported)", in->label);
  /* bytes written through the FILE but still in its buffer belong to the image */
  if (fflush(f) != 0) luaL_error(L, "cannot read %s: %s", in->label, strerror(errno));
  in->fd = fileno(f);
  if (in->fd < 0 || fstat(in->fd, &st) != 0) luaL_error(L, "cannot read %s: %s", in->label, strerror(errno));
  if (!S_ISREG(st.st_mode)) luaL_error(L, "cannot read %s: not a regular file", in->label);
  in->start = (long long)start;
  in->size = (long long)st.st_size > in->start ? (long long)st.st_size - in->start : 0;
}

static void use_bytes(gi_input *in, const char *label, const char *data, size_t len) {
  in->kind = GI_IN_BYTES;
  in->data = data;
  in->size = (long long)len;
  snprintf(in->label, sizeof in->label, "%s (bytes)", label);
}

static int type_matches(const char *given, const gi_input *in) {
  size_t n = strcspn(given, ";");
  while (n > 0 && (given[n - 1] == ' ' || given[n - 1] == '\t')) n--;
  if (n == strlen(in->mime) && strncasecmp(given, in->mime, n) == 0) return 1;
  return in->type == GI_IMG_JPEG && n == 9 && strncasecmp(given, "image/jpg", 9) == 0;
}

static int is_octet_stream(const char *given) {
  size_t n = strcspn(given, ";");
  while (n > 0 && (given[n - 1] == ' ' || given[n - 1] == '\t')) n--;
  return n == 24 && strncasecmp(given, "application/octet-stream", 24) == 0;
}

static const char *table_string(lua_State *L, int idx, const char *field, const char *label, size_t *len) {
  const char *s = NULL;
  lua_getfield(L, idx, field);
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TSTRING)
      luaL_error(L, "%s: '%s' must be a string, got %s", label, field, luaL_typename(L, -1));
    s = lua_tolstring(L, -1, len);
  }
  lua_pop(L, 1); /* the table keeps it alive while the input is read */
  return s;
}

static void check_table_fields(lua_State *L, int idx, const char *label) {
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
    if (k == NULL || (strcmp(k, "data") && strcmp(k, "path") && strcmp(k, "filename") && strcmp(k, "type"))) {
      if (k) luaL_error(L, "%s: unknown field '%s' (a table input takes data or path, filename and type)", label, k);
      luaL_error(L, "%s: a table input takes data or path, filename and type, not a %s key", label,
                 luaL_typename(L, -2));
    }
    lua_pop(L, 1);
  }
}

/* ------------------------------------------------------------------ */
/* the API of this file */

gi_input *gi_input_new(lua_State *L, int keep_idx) {
  gi_input *in;
  keep_idx = lua_absindex(L, keep_idx);
  in = (gi_input *)lua_newuserdata(L, sizeof *in);
  memset(in, 0, sizeof *in);
  in->fd = -1;
  luaL_ref(L, keep_idx); /* lives as long as the transfer that reads it */
  return in;
}

/* Anchors the value at idx in the keep table (the form points into it). */
static void keep_value(lua_State *L, int idx, int keep_idx) {
  lua_pushvalue(L, idx);
  luaL_ref(L, keep_idx);
}

void gi_input_read(lua_State *L, int idx, int keep_idx, const char *label, gi_input *in) {
  const char *filename = NULL, *type = NULL;
  size_t filename_len = 0, len;
  char err[ERR_SIZE];
  int closed = 0;
  FILE *f;
  idx = lua_absindex(L, idx);
  keep_idx = lua_absindex(L, keep_idx);
  memset(in, 0, sizeof *in);
  in->fd = -1;
  snprintf(in->label, sizeof in->label, "%s", label);

  if (lua_type(L, idx) == LUA_TTABLE) {
    const char *data, *path;
    size_t path_len = 0;
    check_table_fields(L, idx, label);
    filename = table_string(L, idx, "filename", label, &filename_len);
    type = table_string(L, idx, "type", label, &len);
    data = table_string(L, idx, "data", label, &len);
    path = table_string(L, idx, "path", label, &path_len);
    if (filename && (filename_len == 0 || filename_len >= sizeof in->filename || strlen(filename) != filename_len))
      luaL_error(L, "%s: 'filename' must be 1 to %d bytes without NUL bytes", label, (int)sizeof in->filename - 1);
    if (data && path) luaL_error(L, "%s: give either 'data' or 'path', not both", label);
    if (data == NULL && path == NULL) luaL_error(L, "%s: a table input needs 'data' (bytes) or 'path'", label);
    if (data) {
      lua_getfield(L, idx, "data");
      keep_value(L, -1, keep_idx);
      lua_pop(L, 1);
      use_bytes(in, label, data, len);
    } else {
      lua_getfield(L, idx, "path");
      keep_value(L, -1, keep_idx);
      lua_pop(L, 1);
      open_path(L, in, label, path, path_len);
    }
  } else if (lua_type(L, idx) == LUA_TSTRING) {
    const char *s = lua_tolstring(L, idx, &len);
    gi_image_type ignored;
    keep_value(L, idx, keep_idx);
    /* decided by content: a string that starts like an image is its bytes */
    if (gi_input_sniff((const unsigned char *)s, len, &ignored)) {
      use_bytes(in, label, s, len);
    } else {
      const char *other = other_format((const unsigned char *)s, len);
      if (other) luaL_error(L, "%s (bytes) is %s; use a PNG, JPEG or WebP image", label, other);
      if (strlen(s) != len || len > PATH_LIMIT)
        luaL_error(L, "%s (bytes) is not a PNG, JPEG or WebP image (nor a path)", label);
      open_path(L, in, label, s, len);
    }
  } else if ((f = gi_input_lua_file(L, idx, &closed)) != NULL || closed) {
    if (closed) luaL_error(L, "%s: the io file is closed", label);
    keep_value(L, idx, keep_idx);
    open_file(L, in, label, f);
  } else {
    luaL_error(L, "%s must be a path, a string of bytes, an open io file or a table {data=..., filename=..., "
                  "type=}, got %s", label, luaL_typename(L, idx));
  }

  if (examine(in, err, sizeof err) != 0) {
    if (in->kind == GI_IN_PATH) close(in->fd);
    in->fd = -1;
    luaL_error(L, "%s", err);
  }
  if (in->kind == GI_IN_PATH) {
    close(in->fd); /* curl opens the path itself for the upload */
    in->fd = -1;
  }
  if (type && !is_octet_stream(type) && !type_matches(type, in))
    luaL_error(L, "%s: type '%s' does not match its bytes, which are %s", in->label, type, in->mime);
  if (filename) snprintf(in->filename, sizeof in->filename, "%s", filename);
  else if (in->filename[0] == '\0') snprintf(in->filename, sizeof in->filename, "image.%s", in->ext);
}

static size_t read_cb(char *buf, size_t size, size_t nitems, void *arg) {
  gi_input *in = (gi_input *)arg;
  size_t want = size * nitems;
  long long left = in->size - in->pos;
  if (left <= 0) return 0;
  if ((long long)want > left) want = (size_t)left;
  if (in->kind == GI_IN_BYTES) {
    memcpy(buf, in->data + in->pos, want);
  } else {
    long long got = pread_full(in->fd, (unsigned char *)buf, want, in->start + in->pos);
    /* a file that shrank under the upload cannot be sent as measured */
    if (got <= 0) return CURL_READFUNC_ABORT;
    want = (size_t)got;
  }
  in->pos += (long long)want;
  return want;
}

static int seek_cb(void *arg, curl_off_t offset, int origin) {
  gi_input *in = (gi_input *)arg;
  if (origin != SEEK_SET || offset < 0 || (long long)offset > in->size) return CURL_SEEKFUNC_FAIL;
  in->pos = (long long)offset;
  return CURL_SEEKFUNC_OK;
}

void gi_input_add_part(lua_State *L, curl_mime *mime, const char *name, gi_input *in, int *owned_fd) {
  curl_mimepart *part;
  CURLcode rc;
  *owned_fd = -1;
  if (in->kind == GI_IN_FILE) {
    int fd = fcntl(in->fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) luaL_error(L, "cannot read %s: %s", in->label, strerror(errno));
    *owned_fd = fd;
    in->fd = fd;
  }
  part = curl_mime_addpart(mime);
  if (part == NULL) luaL_error(L, "gptimage: out of memory");
  rc = curl_mime_name(part, name);
  if (rc == CURLE_OK) {
    if (in->kind == GI_IN_PATH) {
      rc = curl_mime_filedata(part, in->path);
    } else {
      in->pos = 0;
      rc = curl_mime_data_cb(part, (curl_off_t)in->size, read_cb, seek_cb, NULL, in);
    }
  }
  if (rc == CURLE_OK) rc = curl_mime_filename(part, in->filename);
  if (rc == CURLE_OK) rc = curl_mime_type(part, in->mime);
  if (rc != CURLE_OK) luaL_error(L, "cannot add %s to the upload: %s", in->label, curl_easy_strerror(rc));
}
