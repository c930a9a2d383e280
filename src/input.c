/* input: input images, sniffed and measured from their headers (see input.h). */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include "input.h"

#define HEAD_BYTES 64

static unsigned long be32(const unsigned char *p) {
  return ((unsigned long)p[0] << 24) | ((unsigned long)p[1] << 16) | ((unsigned long)p[2] << 8) | p[3];
}
static unsigned long le32(const unsigned char *p) {
  return ((unsigned long)p[3] << 24) | ((unsigned long)p[2] << 16) | ((unsigned long)p[1] << 8) | p[0];
}
static unsigned le16(const unsigned char *p) { return (unsigned)p[0] | ((unsigned)p[1] << 8); }
static unsigned be16(const unsigned char *p) { return ((unsigned)p[0] << 8) | p[1]; }

/* Reads n bytes at offset off of the input into buf; returns how many. */
static size_t read_at(gi_input *in, double off, unsigned char *buf, size_t n) {
  if (off >= in->size) return 0;
  if (off + (double)n > in->size) n = (size_t)(in->size - off);
  if (in->kind == GI_IN_BYTES) {
    memcpy(buf, in->data + (size_t)off, n);
    return n;
  }
  if (fseek(in->file, in->start + (long)off, SEEK_SET) != 0) return 0;
  return fread(buf, 1, n, in->file);
}

static int sniff(const unsigned char *h, size_t n, gi_image_type *type) {
  if (n >= 8 && memcmp(h, "\x89PNG\r\n\x1a\n", 8) == 0) *type = GI_IMG_PNG;
  else if (n >= 3 && h[0] == 0xFF && h[1] == 0xD8 && h[2] == 0xFF) *type = GI_IMG_JPEG;
  else if (n >= 12 && memcmp(h, "RIFF", 4) == 0 && memcmp(h + 8, "WEBP", 4) == 0) *type = GI_IMG_WEBP;
  else return 0;
  return 1;
}

/* PNG: IHDR gives the size and colour type; a tRNS chunk before IDAT also
 * means transparency.  Chunk headers only: data is skipped with fseek. */
static int measure_png(gi_input *in) {
  unsigned char h[32];
  double off;
  int chunks = 0;
  if (read_at(in, 0, h, 29) < 29 || memcmp(h + 12, "IHDR", 4) != 0) return -1;
  in->width = (long)be32(h + 16);
  in->height = (long)be32(h + 20);
  in->alpha = h[25] == 4 || h[25] == 6;
  off = 8 + 8 + be32(h + 8) + 4;
  while (!in->alpha && chunks++ < 1000) {
    if (read_at(in, off, h, 8) < 8) return -1; /* truncated before IDAT */
    if (memcmp(h + 4, "tRNS", 4) == 0) in->alpha = 1;
    if (memcmp(h + 4, "IDAT", 4) == 0 || memcmp(h + 4, "IEND", 4) == 0) break;
    off += 8.0 + (double)be32(h) + 4.0;
  }
  return in->width > 0 && in->height > 0 ? 0 : -1;
}

/* JPEG: walk the segments to the first start-of-frame. */
static int measure_jpeg(gi_input *in) {
  unsigned char h[10];
  double off = 2;
  int steps = 0;
  while (steps++ < 100000) {
    unsigned marker;
    if (read_at(in, off, h, 4) < 4) return -1;
    if (h[0] != 0xFF) { /* stray bytes between segments: decoders skip them too */
      off += 1;
      continue;
    }
    marker = h[1];
    if (marker == 0xFF) { /* fill byte */
      off += 1;
      continue;
    }
    if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {
      off += 2;
      continue;
    }
    if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) {
      if (read_at(in, off, h, 9) < 9) return -1;
      in->height = (long)be16(h + 5);
      in->width = (long)be16(h + 7);
      return in->width > 0 && in->height > 0 ? 0 : -1;
    }
    if (marker == 0xD9 || marker == 0xDA) return -1; /* no frame header before the data */
    off += 2.0 + (double)be16(h + 2);
  }
  return -1;
}

static int measure_webp(gi_input *in) {
  unsigned char h[30];
  if (read_at(in, 0, h, 30) < 30) return -1;
  if (memcmp(h + 12, "VP8 ", 4) == 0) {
    in->width = (long)(le16(h + 26) & 0x3FFF);
    in->height = (long)(le16(h + 28) & 0x3FFF);
  } else if (memcmp(h + 12, "VP8L", 4) == 0) {
    unsigned long b = le32(h + 21);
    in->width = (long)(b & 0x3FFF) + 1;
    in->height = (long)((b >> 14) & 0x3FFF) + 1;
    in->alpha = (int)((b >> 28) & 1);
  } else if (memcmp(h + 12, "VP8X", 4) == 0) {
    in->alpha = (h[20] & 0x10) != 0;
    in->width = (long)(h[24] | (h[25] << 8) | (h[26] << 16)) + 1;
    in->height = (long)(h[27] | (h[28] << 8) | (h[29] << 16)) + 1;
  } else {
    return -1;
  }
  return in->width > 0 && in->height > 0 ? 0 : -1;
}

static const char *basename_of(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

/* Sniffs and measures; raises naming the input on anything wrong. */
static void examine(lua_State *L, gi_input *in) {
  unsigned char head[HEAD_BYTES];
  size_t n;
  int rc;
  if (in->size <= 0) luaL_error(L, "%s is empty", in->label);
  n = read_at(in, 0, head, sizeof head);
  if (!sniff(head, n, &in->type))
    luaL_error(L, "%s is not a PNG, JPEG or WebP image", in->label);
  switch (in->type) {
    case GI_IMG_PNG: in->mime = "image/png"; in->ext = "png"; rc = measure_png(in); break;
    case GI_IMG_JPEG: in->mime = "image/jpeg"; in->ext = "jpg"; rc = measure_jpeg(in); break;
    default: in->mime = "image/webp"; in->ext = "webp"; rc = measure_webp(in); break;
  }
  if (rc != 0) luaL_error(L, "%s is a truncated or damaged %s image", in->label, in->ext);
  if (in->kind == GI_IN_FILE && fseek(in->file, in->start, SEEK_SET) != 0)
    luaL_error(L, "%s: cannot seek: %s", in->label, strerror(errno));
}

static int looks_like_image(const char *s, size_t len) {
  gi_image_type t;
  return sniff((const unsigned char *)s, len, &t);
}

static void open_path(lua_State *L, gi_input *in, const char *path) {
  struct stat st;
  FILE *f;
  in->kind = GI_IN_PATH;
  in->path = path;
  snprintf(in->label, sizeof in->label, "image '%.40s'", basename_of(path));
  if (stat(path, &st) != 0) luaL_error(L, "cannot read image '%s': %s", path, strerror(errno));
  if (!S_ISREG(st.st_mode)) luaL_error(L, "cannot read image '%s': not a regular file", path);
  f = fopen(path, "rb");
  if (f == NULL) luaL_error(L, "cannot read image '%s': %s", path, strerror(errno));
  in->file = f;
  in->start = 0;
  in->size = (double)st.st_size;
  if (st.st_size == 0) {
    fclose(f);
    in->file = NULL;
    luaL_error(L, "image '%s' is empty", path);
  }
  snprintf(in->filename, sizeof in->filename, "%s", basename_of(path));
}

static int examine_protected(lua_State *L) {
  gi_input *in = (gi_input *)lua_touserdata(L, 1);
  examine(L, in);
  return 0;
}

void gi_input_read(lua_State *L, int idx, int keep_idx, const char *label, gi_input *in) {
  const char *filename = NULL, *type = NULL;
  idx = lua_absindex(L, idx);
  keep_idx = lua_absindex(L, keep_idx);
  memset(in, 0, sizeof *in);
  snprintf(in->label, sizeof in->label, "%s", label);
  if (lua_istable(L, idx)) {
    lua_getfield(L, idx, "filename");
    if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING)
      luaL_error(L, "%s: 'filename' must be a string", label);
    filename = lua_tostring(L, -1);
    lua_getfield(L, idx, "type");
    if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING)
      luaL_error(L, "%s: 'type' must be a string", label);
    type = lua_tostring(L, -1);
    lua_getfield(L, idx, "data");
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      lua_getfield(L, idx, "path");
      if (lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "%s: a table input needs 'data' (bytes) or 'path'", label);
      lua_pushvalue(L, -1);
      luaL_ref(L, keep_idx);
      open_path(L, in, lua_tostring(L, -1));
    } else {
      size_t len;
      if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "%s: 'data' must be a string of bytes", label);
      lua_pushvalue(L, -1);
      luaL_ref(L, keep_idx);
      in->kind = GI_IN_BYTES;
      in->data = lua_tolstring(L, -1, &len);
      in->size = (double)len;
      snprintf(in->label, sizeof in->label, "%s (bytes)", label);
    }
    lua_pop(L, 3);
  } else if (lua_type(L, idx) == LUA_TSTRING) {
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    lua_pushvalue(L, idx);
    luaL_ref(L, keep_idx);
    if (looks_like_image(s, len)) {
      in->kind = GI_IN_BYTES;
      in->data = s;
      in->size = (double)len;
      snprintf(in->label, sizeof in->label, "%s (bytes)", label);
    } else {
      if (memchr(s, '\0', len)) luaL_error(L, "%s: a path must not contain NUL bytes", label);
      open_path(L, in, s);
    }
  } else if (luaL_testudata(L, idx, "FILE*")) {
    FILE *f = *(FILE **)lua_touserdata(L, idx);
    long end;
    if (f == NULL) luaL_error(L, "%s: the file is closed", label);
    lua_pushvalue(L, idx);
    luaL_ref(L, keep_idx);
    in->kind = GI_IN_FILE;
    in->file = f;
    in->start = ftell(f);
    if (in->start < 0 || fseek(f, 0, SEEK_END) != 0 || (end = ftell(f)) < 0 ||
        fseek(f, in->start, SEEK_SET) != 0)
      luaL_error(L, "%s: the file cannot seek (pipes are not supported)", label);
    in->size = (double)(end - in->start);
  } else {
    luaL_error(L, "%s must be a path, a string of bytes, an open file or a table, got %s", label,
               luaL_typename(L, idx));
  }
  /* examine under pcall so an opened path is closed on error */
  lua_pushcfunction(L, examine_protected);
  lua_pushlightuserdata(L, in);
  if (lua_pcall(L, 1, 0, 0) != 0) {
    if (in->kind == GI_IN_PATH && in->file) fclose(in->file);
    in->file = NULL;
    lua_error(L);
  }
  if (in->kind == GI_IN_PATH) {
    fclose(in->file);
    in->file = NULL;
  }
  if (type && strcmp(type, "application/octet-stream") != 0 && strcmp(type, in->mime) != 0 &&
      !(strcmp(type, "image/jpg") == 0 && in->type == GI_IMG_JPEG))
    luaL_error(L, "%s: type '%s' does not match its bytes, which are %s", in->label, type, in->mime);
  if (filename) snprintf(in->filename, sizeof in->filename, "%s", filename);
  else if (in->filename[0] == '\0') snprintf(in->filename, sizeof in->filename, "image.%s", in->ext);
}

static size_t read_cb(char *buf, size_t size, size_t nitems, void *arg) {
  gi_input *in = (gi_input *)arg;
  size_t want = size * nitems, left = (size_t)in->size - in->pos, n;
  if (want > left) want = left;
  if (in->kind == GI_IN_BYTES) {
    memcpy(buf, in->data + in->pos, want);
    n = want;
  } else {
    n = fread(buf, 1, want, in->file);
    if (n < want && ferror(in->file)) return CURL_READFUNC_ABORT;
  }
  in->pos += n;
  return n;
}

static int seek_cb(void *arg, curl_off_t offset, int origin) {
  gi_input *in = (gi_input *)arg;
  if (origin != SEEK_SET || offset < 0 || (double)offset > in->size) return CURL_SEEKFUNC_FAIL;
  if (in->kind == GI_IN_FILE && fseek(in->file, in->start + (long)offset, SEEK_SET) != 0)
    return CURL_SEEKFUNC_FAIL;
  in->pos = (size_t)offset;
  return CURL_SEEKFUNC_OK;
}

void gi_input_add_part(lua_State *L, curl_mime *mime, const char *name, gi_input *in) {
  curl_mimepart *part = curl_mime_addpart(mime);
  CURLcode rc;
  if (part == NULL) luaL_error(L, "gptimage: out of memory");
  rc = curl_mime_name(part, name);
  if (in->kind == GI_IN_PATH) {
    rc |= curl_mime_filedata(part, in->path);
  } else {
    in->pos = 0;
    rc |= curl_mime_data_cb(part, (curl_off_t)in->size, read_cb, seek_cb, NULL, in);
  }
  rc |= curl_mime_filename(part, in->filename);
  rc |= curl_mime_type(part, in->mime);
  if (rc != CURLE_OK) luaL_error(L, "cannot add %s to the upload", in->label);
}
