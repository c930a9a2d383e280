/* imgtools: the Lua binding of the image tools (see imgtools.h).
 *
 * Whatever a call allocates in C (decoded pictures, the GIF decoder, an
 * encoded PNG, file sinks) is held by a scratch userdata whose __gc frees
 * it, so a raise anywhere in the call (a memory error in Lua itself)
 * leaks nothing; on the normal path the call frees it at once. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "imgtools.h"
#include "input.h"
#include "image.h"
#include "imgops.h"
#include "gif_codec.h"
#include "b64sink.h"
#include "errors.h"
#include "json.h"

#define SCRATCH_MT "gptimage.imgscratch"
#define MAX_INPUT_BYTES (256LL << 20)
#define PATH_LIMIT 4096
#define LABEL_SIZE 96
#define ERR_SIZE (GI_IMAGE_ERRLEN + LABEL_SIZE + 64)

/* ------------------------------------------------------------------ */
/* scratch */

typedef struct scratch {
  gi_rgba img[2];
  gi_gif *gif;
  unsigned char *png;
  gi_sink *sinks[2];
} scratch;

static void scratch_release(scratch *s) {
  int i;
  for (i = 0; i < 2; i++) gi_rgba_free(&s->img[i]);
  gi_gif_close(s->gif);
  s->gif = NULL;
  free(s->png);
  s->png = NULL;
  for (i = 0; i < 2; i++) {
    gi_sink_free(s->sinks[i]);
    s->sinks[i] = NULL;
  }
}

static int scratch_gc(lua_State *L) {
  scratch_release((scratch *)luaL_checkudata(L, 1, SCRATCH_MT));
  return 0;
}

static scratch *scratch_new(lua_State *L) {
  scratch *s = (scratch *)lua_newuserdata(L, sizeof *s);
  memset(s, 0, sizeof *s);
  luaL_getmetatable(L, SCRATCH_MT);
  lua_setmetatable(L, -2);
  return s;
}

/* ------------------------------------------------------------------ */
/* errors */

static int push_failure(lua_State *L, const char *kind, const char *message) {
  gi_error e;
  memset(&e, 0, sizeof e);
  e.kind = kind;
  e.message = message;
  e.retry_after = -1;
  lua_pushnil(L);
  gi_error_push(L, &e, NULL);
  return 2;
}

/* ------------------------------------------------------------------ */
/* inputs */

typedef struct source {
  const unsigned char *data;
  size_t len;
  char label[LABEL_SIZE];
} source;

static void path_label(source *src, const char *what, const char *path) {
  size_t len = strlen(path);
  if (len > 60) snprintf(src->label, sizeof src->label, "%s '...%s'", what, path + len - 57);
  else snprintf(src->label, sizeof src->label, "%s '%s'", what, path);
}

/* Reads size bytes at start of fd into a new userdata (pushed). 0, or -1 with errno. */
static int read_fd(lua_State *L, int fd, long long start, long long size, source *src) {
  unsigned char *buf = (unsigned char *)lua_newuserdata(L, size > 0 ? (size_t)size : 1);
  size_t got = 0;
  while ((long long)got < size) {
    ssize_t r = pread(fd, buf + got, (size_t)size - got, (off_t)(start + (long long)got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    if (r == 0) break;
    got += (size_t)r;
  }
  src->data = buf;
  src->len = got;
  return 0;
}

static int too_big(lua_State *L, const source *src, long long size) {
  char msg[ERR_SIZE];
  snprintf(msg, sizeof msg, "%s is %lld bytes, over the limit of %lld", src->label, size, MAX_INPUT_BYTES);
  return push_failure(L, "decode", msg);
}

/* Pushes the file's bytes (one value) and returns 0, or pushes nil, err and returns 2. */
static int load_path(lua_State *L, const char *path, size_t len, const char *what, source *src) {
  char msg[ERR_SIZE];
  struct stat st;
  int fd, rc, saved;
  path_label(src, what, path);
  if (len == 0) luaL_error(L, "%s: the path is empty", what);
  if (strlen(path) != len) luaL_error(L, "%s: a path must not contain NUL bytes", what);
  fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    snprintf(msg, sizeof msg, "cannot read %s: %s", src->label, strerror(errno));
    return push_failure(L, "io", msg);
  }
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    saved = S_ISREG(st.st_mode) ? errno : 0;
    close(fd);
    snprintf(msg, sizeof msg, "cannot read %s: %s", src->label, saved ? strerror(saved) : "not a regular file");
    return push_failure(L, "io", msg);
  }
  if ((long long)st.st_size > MAX_INPUT_BYTES) {
    close(fd);
    return too_big(L, src, (long long)st.st_size);
  }
  rc = read_fd(L, fd, 0, (long long)st.st_size, src);
  saved = errno;
  close(fd);
  if (rc != 0) {
    lua_pop(L, 1);
    snprintf(msg, sizeof msg, "cannot read %s: %s", src->label, strerror(saved));
    return push_failure(L, "io", msg);
  }
  return 0;
}

/* An open io file, from its position to its end, its position unmoved. */
static int load_file(lua_State *L, FILE *f, const char *what, source *src) {
  char msg[ERR_SIZE];
  struct stat st;
  off_t start;
  snprintf(src->label, sizeof src->label, "%s (open file)", what);
  start = ftello(f);
  if (start < 0 || fflush(f) != 0 || fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    snprintf(msg, sizeof msg, "cannot read %s: %s", src->label,
             start < 0 ? "it cannot seek" : errno ? strerror(errno) : "not a regular file");
    return push_failure(L, "io", msg);
  }
  if ((long long)st.st_size - (long long)start > MAX_INPUT_BYTES)
    return too_big(L, src, (long long)st.st_size - (long long)start);
  if (read_fd(L, fileno(f), (long long)start,
              (long long)st.st_size > (long long)start ? (long long)st.st_size - (long long)start : 0, src) != 0) {
    int saved = errno;
    lua_pop(L, 1);
    snprintf(msg, sizeof msg, "cannot read %s: %s", src->label, strerror(saved));
    return push_failure(L, "io", msg);
  }
  return 0;
}

static void use_bytes(lua_State *L, int idx, const char *what, source *src) {
  src->data = (const unsigned char *)lua_tolstring(L, idx, &src->len);
  snprintf(src->label, sizeof src->label, "%s (bytes)", what);
  lua_pushvalue(L, idx);
}

/* Pushes one value that keeps src->data alive and returns 0; or pushes
 * nil, err and returns 2.  Raises on a value of the wrong type. */
static int load_input(lua_State *L, int idx, const char *what, source *src) {
  FILE *f;
  int closed = 0;
  idx = lua_absindex(L, idx);
  memset(src, 0, sizeof *src);
  if (lua_type(L, idx) == LUA_TSTRING) {
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    /* decided by content, as for the inputs of a request */
    if (gi_image_sniff((const unsigned char *)s, len) != GI_FMT_UNKNOWN) {
      use_bytes(L, idx, what, src);
      return 0;
    }
    if (strlen(s) != len || len > PATH_LIMIT) {
      char msg[ERR_SIZE];
      snprintf(msg, sizeof msg, "%s (bytes) is not a PNG, JPEG, WebP, GIF or SVG image (nor a path)", what);
      return push_failure(L, "decode", msg);
    }
    return load_path(L, s, len, what, src);
  }
  if (lua_type(L, idx) == LUA_TTABLE) {
    int rc;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
      const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
      if (strcmp(k, "data") && strcmp(k, "path") && strcmp(k, "filename") && strcmp(k, "type"))
        luaL_error(L, "%s: unknown field '%s' (a table input takes data or path, filename and type)", what, k);
      lua_pop(L, 1);
    }
    lua_getfield(L, idx, "data");
    lua_getfield(L, idx, "path");
    if (!lua_isnil(L, -2) && !lua_isnil(L, -1)) luaL_error(L, "%s: give either 'data' or 'path', not both", what);
    if (lua_type(L, -2) == LUA_TSTRING) {
      use_bytes(L, -2, what, src);
      lua_replace(L, -3);
      lua_pop(L, 1);
      return 0;
    }
    if (lua_type(L, -1) == LUA_TSTRING) {
      size_t len;
      const char *path = lua_tolstring(L, -1, &len);
      rc = load_path(L, path, len, what, src);
      if (rc) return rc; /* nil, err on top */
      lua_replace(L, -3);
      lua_pop(L, 1);
      return 0;
    }
    luaL_error(L, "%s: a table input needs 'data' (bytes) or 'path' as a string", what);
  }
  if ((f = gi_input_lua_file(L, idx, &closed)) != NULL || closed) {
    if (closed) luaL_error(L, "%s: the io file is closed", what);
    return load_file(L, f, what, src);
  }
  return luaL_error(L, "%s must be a path, a string of bytes, an open io file or a table {data=...}, got %s", what,
                    luaL_typename(L, idx));
}

static int decode_failure(lua_State *L, const source *src, const char *err) {
  char msg[ERR_SIZE];
  snprintf(msg, sizeof msg, "%s: %s", src->label, err);
  return push_failure(L, "decode", msg);
}

/* ------------------------------------------------------------------ */
/* options */

static void check_fields(lua_State *L, int idx, const char *fn, const char *const *names) {
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
    int i, ok = 0;
    for (i = 0; k && names[i]; i++)
      if (strcmp(k, names[i]) == 0) ok = 1;
    if (!ok) luaL_error(L, "%s: unknown option '%s'", fn, k ? k : luaL_typename(L, -2));
    lua_pop(L, 1);
  }
}

/* opts[name] as a whole number in [lo, hi], or dflt when absent */
static long opt_integer(lua_State *L, int idx, const char *fn, const char *name, long dflt, long lo, long hi) {
  long v = dflt;
  lua_getfield(L, idx, name);
  if (!lua_isnil(L, -1)) {
    double d;
    if (lua_type(L, -1) != LUA_TNUMBER || !gi_isinteger(L, -1))
      luaL_error(L, "%s: option '%s' must be a whole number, got %s", fn, name, luaL_typename(L, -1));
    d = (double)lua_tonumber(L, -1);
    if (d < lo || d > hi) luaL_error(L, "%s: option '%s' must be %d to %d", fn, name, (int)lo, (int)hi);
    v = (long)d;
  }
  lua_pop(L, 1);
  return v;
}

static const char *opt_string(lua_State *L, int idx, const char *fn, const char *name) {
  const char *s = NULL;
  lua_getfield(L, idx, name);
  if (!lua_isnil(L, -1)) {
    size_t len;
    if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "%s: option '%s' must be a string", fn, name);
    s = lua_tolstring(L, -1, &len);
    if (len == 0 || strlen(s) != len) luaL_error(L, "%s: option '%s' must be a non-empty path without NUL bytes", fn, name);
  }
  lua_pop(L, 1); /* the options table keeps it */
  return s;
}

static int opt_boolean(lua_State *L, int idx, const char *fn, const char *name) {
  int v = 0;
  lua_getfield(L, idx, name);
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TBOOLEAN) luaL_error(L, "%s: option '%s' must be a boolean", fn, name);
    v = lua_toboolean(L, -1);
  }
  lua_pop(L, 1);
  return v;
}

/* ------------------------------------------------------------------ */
/* files */

/* Writes every buffer to a temporary file beside its path, then renames
 * them all; nothing is left on failure.  0, or pushes nil, err and returns 2. */
static int save_all(lua_State *L, scratch *s, int n, const char *const *paths, const unsigned char *const *bufs,
                    const size_t *lens) {
  char err[ERR_SIZE], msg[ERR_SIZE + PATH_LIMIT];
  int i, rc = GI_SINK_OK;
  for (i = 0; i < n && rc == GI_SINK_OK; i++) {
    s->sinks[i] = gi_sink_new_file(paths[i], 0, err, sizeof err);
    if (s->sinks[i] == NULL) {
      snprintf(msg, sizeof msg, "%s", err);
      scratch_release(s);
      return push_failure(L, "io", msg);
    }
    rc = gi_sink_write_raw(s->sinks[i], (const char *)bufs[i], lens[i]);
    if (rc == GI_SINK_OK) rc = gi_sink_finish(s->sinks[i]);
    if (rc != GI_SINK_OK) snprintf(msg, sizeof msg, "%s", gi_sink_message(s->sinks[i]));
  }
  for (i = 0; i < n && rc == GI_SINK_OK; i++) {
    rc = gi_sink_commit(s->sinks[i]);
    if (rc != GI_SINK_OK) snprintf(msg, sizeof msg, "%s", gi_sink_message(s->sinks[i]));
  }
  if (rc != GI_SINK_OK) {
    scratch_release(s);
    return push_failure(L, "io", msg);
  }
  return 0;
}

/* ------------------------------------------------------------------ */
/* gptimage.info */

static int l_info(lua_State *L) {
  source src;
  gi_info info;
  gi_limits lim = gi_limits_default();
  char err[GI_IMAGE_ERRLEN];
  int rc;
  luaL_checkany(L, 1);
  rc = load_input(L, 1, "image", &src);
  if (rc) return rc;
  if (gi_image_info(src.data, src.len, &lim, &info, err, sizeof err) != 0) return decode_failure(L, &src, err);
  lua_createtable(L, 0, 5);
  lua_pushstring(L, gi_format_name(info.format));
  lua_setfield(L, -2, "format");
  if (info.width > 0) {
    lua_pushinteger(L, (lua_Integer)info.width);
    lua_setfield(L, -2, "width");
    lua_pushinteger(L, (lua_Integer)info.height);
    lua_setfield(L, -2, "height");
  }
  lua_pushboolean(L, info.alpha);
  lua_setfield(L, -2, "alpha");
  lua_pushinteger(L, (lua_Integer)info.frames);
  lua_setfield(L, -2, "frames");
  return 1;
}

/* ------------------------------------------------------------------ */
/* gptimage.alpha_mask */

/* The PNG of the mask of src in s->png; 0, or a message in err. */
static int make_mask(scratch *s, const source *src, uint32_t width, uint32_t height, int invert, char *err,
                     size_t errlen, size_t *png_len) {
  gi_limits lim = gi_limits_default();
  if (gi_image_decode(src->data, src->len, &lim, &s->img[0], err, errlen) != 0) return -1;
  if (width == 0) {
    width = s->img[0].width;
    height = s->img[0].height;
  }
  if (gi_alpha_mask(&s->img[0], width, height, invert, &lim, &s->img[1], err, errlen) != 0) return -1;
  gi_rgba_free(&s->img[0]);
  return gi_image_encode_png(&s->img[1], &s->png, png_len, err, errlen);
}

static void parse_size(lua_State *L, const char *fn, const char *size, uint32_t *w, uint32_t *h) {
  gi_limits lim = gi_limits_default();
  unsigned long a, b;
  char tail;
  if (sscanf(size, "%lux%lu%c", &a, &b, &tail) != 2 || a == 0 || b == 0 || a > lim.max_side || b > lim.max_side ||
      (unsigned long long)a * b > lim.max_pixels || size[0] < '0' || size[0] > '9')
    luaL_error(L, "%s: option 'size' must be \"WxH\" within %dx%d pixels, got '%s'", fn, (int)lim.max_side,
               (int)lim.max_side, size);
  *w = (uint32_t)a;
  *h = (uint32_t)b;
}

static const char *const MASK_OPTIONS[] = {"invert", "size", "like", "save", NULL};

static int l_alpha_mask(lua_State *L) {
  static const char FN[] = "gptimage.alpha_mask";
  source src, like;
  scratch *s;
  const char *size = NULL, *save = NULL;
  uint32_t width = 0, height = 0;
  int invert = 0, rc;
  size_t png_len;
  char err[GI_IMAGE_ERRLEN];
  luaL_checkany(L, 1);
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    check_fields(L, 2, FN, MASK_OPTIONS);
    invert = opt_boolean(L, 2, FN, "invert");
    size = opt_string(L, 2, FN, "size");
    save = opt_string(L, 2, FN, "save");
    lua_getfield(L, 2, "like");
    if (size && !lua_isnil(L, -1)) luaL_error(L, "%s: give either 'size' or 'like', not both", FN);
    if (size) parse_size(L, FN, size, &width, &height);
    if (!lua_isnil(L, -1)) {
      gi_info info;
      gi_limits lim = gi_limits_default();
      rc = load_input(L, -1, "like", &like);
      if (rc) return rc;
      if (gi_image_info(like.data, like.len, &lim, &info, err, sizeof err) != 0) return decode_failure(L, &like, err);
      if (info.width == 0) return decode_failure(L, &like, "it does not say its size");
      width = info.width;
      height = info.height;
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  lua_settop(L, 2);
  rc = load_input(L, 1, "image", &src);
  if (rc) return rc;
  s = scratch_new(L);
  if (make_mask(s, &src, width, height, invert, err, sizeof err, &png_len) != 0) {
    scratch_release(s);
    return decode_failure(L, &src, err);
  }
  if (save) {
    const unsigned char *bufs[1];
    bufs[0] = s->png;
    rc = save_all(L, s, 1, &save, bufs, &png_len);
    if (rc) return rc;
    lua_pushstring(L, save);
  } else {
    lua_pushlstring(L, (const char *)s->png, png_len);
  }
  scratch_release(s);
  return 1;
}

int gi_imgtools_is_bw_mask(lua_State *L, int idx) {
  int bw;
  if (lua_type(L, idx) != LUA_TTABLE) return 0;
  lua_getfield(L, idx, "bw");
  bw = !lua_isnil(L, -1);
  lua_pop(L, 1);
  return bw;
}

void gi_imgtools_push_bw_mask(lua_State *L, int idx, uint32_t width, uint32_t height, const char *label) {
  static const char *const BW_FIELDS[] = {"bw", "invert", NULL};
  source src;
  scratch *s;
  size_t png_len;
  char err[GI_IMAGE_ERRLEN];
  int invert;
  idx = lua_absindex(L, idx);
  check_fields(L, idx, label, BW_FIELDS);
  invert = opt_boolean(L, idx, label, "invert");
  lua_getfield(L, idx, "bw");
  if (load_input(L, -1, label, &src) != 0) {
    lua_getfield(L, -1, "message");
    luaL_error(L, "%s", lua_isstring(L, -1) ? lua_tostring(L, -1) : "cannot read the mask");
  }
  s = scratch_new(L);
  if (make_mask(s, &src, width, height, invert, err, sizeof err, &png_len) != 0) {
    scratch_release(s);
    luaL_error(L, "%s: %s", src.label, err);
  }
  lua_pushlstring(L, (const char *)s->png, png_len);
  scratch_release(s);
  lua_replace(L, -4); /* over the bw value; the anchor and scratch go */
  lua_pop(L, 2);
}

/* ------------------------------------------------------------------ */
/* gptimage.frames */

/* Opens src as a GIF in s->gif; 0, or pushes nil, err and returns 2. */
static int open_gif(lua_State *L, scratch *s, const source *src, const gi_limits *lim) {
  char err[GI_IMAGE_ERRLEN];
  gi_format f = gi_image_sniff(src->data, src->len);
  if (f != GI_FMT_GIF) {
    snprintf(err, sizeof err, "not a GIF (it is %s)", f == GI_FMT_UNKNOWN ? "no image format known here"
                                                                         : gi_format_name(f));
    return decode_failure(L, src, err);
  }
  s->gif = gi_gif_open(src->data, src->len, lim, err, sizeof err);
  if (s->gif == NULL) return decode_failure(L, src, err);
  return 0;
}

static int l_frames(lua_State *L) {
  source src;
  scratch *s;
  gi_limits lim = gi_limits_default();
  char err[GI_IMAGE_ERRLEN];
  int rc, n = 0;
  luaL_checkany(L, 1);
  lua_settop(L, 1);
  rc = load_input(L, 1, "gif", &src);
  if (rc) return rc;
  s = scratch_new(L);
  rc = open_gif(L, s, &src, &lim);
  if (rc) {
    scratch_release(s);
    return rc;
  }
  lua_createtable(L, 16, 2);
  lua_pushinteger(L, (lua_Integer)gi_gif_width(s->gif));
  lua_setfield(L, -2, "width");
  lua_pushinteger(L, (lua_Integer)gi_gif_height(s->gif));
  lua_setfield(L, -2, "height");
  for (;;) {
    const gi_rgba *canvas;
    unsigned duration;
    size_t png_len;
    rc = gi_gif_next(s->gif, &canvas, &duration, err, sizeof err);
    if (rc == 0) break;
    if (rc < 0 || gi_image_encode_png(canvas, &s->png, &png_len, err, sizeof err) != 0) {
      scratch_release(s);
      return decode_failure(L, &src, err);
    }
    lua_createtable(L, 0, 2);
    lua_pushlstring(L, (const char *)s->png, png_len);
    free(s->png);
    s->png = NULL;
    lua_setfield(L, -2, "bytes");
    lua_pushinteger(L, (lua_Integer)duration);
    lua_setfield(L, -2, "duration_ms");
    lua_rawseti(L, -2, ++n);
  }
  scratch_release(s);
  return 1;
}

/* ------------------------------------------------------------------ */
/* gptimage.spritesheet */

typedef struct sheet_layout {
  uint32_t count, columns, rows, padding, fw, fh, width, height;
} sheet_layout;

/* where frame i (0-based) goes */
static uint32_t cell_x(const sheet_layout *l, uint32_t i) { return l->padding + (i % l->columns) * (l->fw + l->padding); }
static uint32_t cell_y(const sheet_layout *l, uint32_t i) { return l->padding + (i / l->columns) * (l->fh + l->padding); }

static int plan_sheet(sheet_layout *l, const gi_limits *lim, char *err, size_t errlen) {
  uint64_t w, h;
  if (l->columns == 0 || l->columns > l->count) l->columns = l->count;
  l->rows = (l->count + l->columns - 1) / l->columns;
  w = (uint64_t)l->columns * l->fw + (uint64_t)(l->columns + 1) * l->padding;
  h = (uint64_t)l->rows * l->fh + (uint64_t)(l->rows + 1) * l->padding;
  if (w > 0x7FFFFFFF || h > 0x7FFFFFFF || w * h > lim->max_sheet) {
    snprintf(err, errlen, "a %llux%llu sheet is over the limit of %llu pixels", (unsigned long long)w,
             (unsigned long long)h, (unsigned long long)lim->max_sheet);
    return -1;
  }
  l->width = (uint32_t)w;
  l->height = (uint32_t)h;
  return 0;
}

/* "out/walk.png" -> "out/walk.json"; the extension is the part after the last dot of the name */
static void atlas_path(lua_State *L, const char *save) {
  const char *slash = strrchr(save, '/'), *dot = strrchr(save, '.');
  if (dot && (slash == NULL || dot > slash + 1)) lua_pushlstring(L, save, (size_t)(dot - save));
  else lua_pushstring(L, save);
  lua_pushliteral(L, ".json");
  lua_concat(L, 2);
}

static void set_int(lua_State *L, const char *k, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}

static void push_rect(lua_State *L, const char *kx, lua_Integer x, const char *ky, lua_Integer y, lua_Integer w,
                      lua_Integer h) {
  lua_createtable(L, 0, 4);
  if (kx) set_int(L, kx, x);
  if (ky) set_int(L, ky, y);
  set_int(L, "w", w);
  set_int(L, "h", h);
}

/* The atlas the result's frames describe, in the JSON array format that
 * Aseprite writes and TexturePacker, Phaser, PixiJS and LOVE loaders read;
 * pushes its text.  frames is the index of the result's frames list. */
static void push_atlas_json(lua_State *L, const sheet_layout *l, int frames, const char *save) {
  const char *slash = strrchr(save, '/'), *image = slash ? slash + 1 : save;
  const char *dot = strrchr(image, '.');
  uint32_t i;
  lua_createtable(L, 0, 2);
  lua_createtable(L, (int)l->count, 0);
  for (i = 0; i < l->count; i++) {
    lua_createtable(L, 0, 7);
    lua_pushlstring(L, image, dot && dot > image ? (size_t)(dot - image) : strlen(image));
    lua_pushfstring(L, " %d", (int)i);
    lua_concat(L, 2);
    lua_setfield(L, -2, "filename");
    push_rect(L, "x", cell_x(l, i), "y", cell_y(l, i), l->fw, l->fh);
    lua_setfield(L, -2, "frame");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "rotated");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "trimmed");
    push_rect(L, "x", 0, "y", 0, l->fw, l->fh);
    lua_setfield(L, -2, "spriteSourceSize");
    push_rect(L, NULL, 0, NULL, 0, l->fw, l->fh);
    lua_setfield(L, -2, "sourceSize");
    lua_rawgeti(L, frames, (int)i + 1);
    lua_getfield(L, -1, "duration_ms");
    lua_setfield(L, -3, "duration");
    lua_pop(L, 1);
    lua_rawseti(L, -2, (int)i + 1);
  }
  lua_setfield(L, -2, "frames");
  lua_createtable(L, 0, 6);
  lua_pushliteral(L, "gptimage");
  lua_setfield(L, -2, "app");
  lua_pushstring(L, image);
  lua_setfield(L, -2, "image");
  lua_pushliteral(L, "RGBA8888");
  lua_setfield(L, -2, "format");
  push_rect(L, NULL, 0, NULL, 0, l->width, l->height);
  lua_setfield(L, -2, "size");
  lua_pushliteral(L, "1");
  lua_setfield(L, -2, "scale");
  lua_setfield(L, -2, "meta");
  gi_json_encode(L, -1);
  lua_remove(L, -2);
}

static const char *const SHEET_OPTIONS[] = {"columns", "padding", "save", NULL};

static int l_spritesheet(lua_State *L) {
  static const char FN[] = "gptimage.spritesheet";
  source src;
  scratch *s;
  gi_limits lim = gi_limits_default(), sheet_lim;
  gi_info info;
  sheet_layout l;
  const char *save = NULL;
  char err[GI_IMAGE_ERRLEN];
  size_t png_len;
  int rc, result, frames;
  uint32_t i;
  luaL_checkany(L, 1);
  memset(&l, 0, sizeof l);
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    check_fields(L, 2, FN, SHEET_OPTIONS);
    l.columns = (uint32_t)opt_integer(L, 2, FN, "columns", 0, 1, 65535);
    l.padding = (uint32_t)opt_integer(L, 2, FN, "padding", 0, 0, 4096);
    save = opt_string(L, 2, FN, "save");
  }
  lua_settop(L, 2);
  rc = load_input(L, 1, "gif", &src);
  if (rc) return rc;
  s = scratch_new(L);
  rc = open_gif(L, s, &src, &lim);
  if (rc) {
    scratch_release(s);
    return rc;
  }
  /* the frame count first (blocks only), so the sheet is allocated once */
  if (gi_gif_info(src.data, src.len, &lim, &info, err, sizeof err) != 0) {
    scratch_release(s);
    return decode_failure(L, &src, err);
  }
  l.count = info.frames;
  l.fw = info.width;
  l.fh = info.height;
  sheet_lim = lim;
  sheet_lim.max_side = 0x7FFFFFFF;
  sheet_lim.max_pixels = lim.max_sheet;
  if (plan_sheet(&l, &lim, err, sizeof err) != 0 ||
      gi_rgba_alloc(&s->img[0], l.width, l.height, &sheet_lim, err, sizeof err) != 0) {
    scratch_release(s);
    return decode_failure(L, &src, err);
  }
  lua_createtable(L, 0, 8);
  result = lua_gettop(L);
  lua_createtable(L, (int)l.count, 0);
  frames = lua_gettop(L);
  for (i = 0;; i++) {
    const gi_rgba *canvas;
    unsigned duration;
    rc = gi_gif_next(s->gif, &canvas, &duration, err, sizeof err);
    if (rc == 0 && i == l.count) break;
    if (rc == 0 || (rc > 0 && i >= l.count)) snprintf(err, sizeof err, "damaged GIF: its frames cannot be counted");
    if (rc <= 0 || i >= l.count) {
      scratch_release(s);
      return decode_failure(L, &src, err);
    }
    gi_rgba_blit(&s->img[0], cell_x(&l, i), cell_y(&l, i), canvas);
    lua_createtable(L, 0, 5);
    set_int(L, "x", cell_x(&l, i));
    set_int(L, "y", cell_y(&l, i));
    set_int(L, "w", l.fw);
    set_int(L, "h", l.fh);
    set_int(L, "duration_ms", duration);
    lua_rawseti(L, frames, (int)i + 1);
  }
  lua_setfield(L, result, "frames");
  lua_getfield(L, result, "frames");
  frames = lua_gettop(L);
  if (gi_image_encode_png(&s->img[0], &s->png, &png_len, err, sizeof err) != 0) {
    scratch_release(s);
    return decode_failure(L, &src, err);
  }
  gi_rgba_free(&s->img[0]);
  if (save) {
    const char *paths[2];
    const unsigned char *bufs[2];
    size_t lens[2];
    atlas_path(L, save);
    push_atlas_json(L, &l, frames, save);
    paths[0] = save;
    paths[1] = lua_tostring(L, -2);
    bufs[0] = s->png;
    bufs[1] = (const unsigned char *)lua_tolstring(L, -1, &lens[1]);
    lens[0] = png_len;
    rc = save_all(L, s, 2, paths, bufs, lens);
    if (rc) return rc;
    lua_pop(L, 1);
    lua_setfield(L, result, "atlas");
    lua_pushstring(L, save);
    lua_setfield(L, result, "path");
  } else {
    lua_pushlstring(L, (const char *)s->png, png_len);
    lua_setfield(L, result, "bytes");
  }
  scratch_release(s);
  lua_settop(L, result);
  set_int(L, "width", l.width);
  set_int(L, "height", l.height);
  set_int(L, "frame_width", l.fw);
  set_int(L, "frame_height", l.fh);
  set_int(L, "columns", l.columns);
  set_int(L, "rows", l.rows);
  set_int(L, "padding", l.padding);
  return 1;
}

/* ------------------------------------------------------------------ */

static const luaL_Reg FUNCTIONS[] = {
  {"info", l_info},
  {"alpha_mask", l_alpha_mask},
  {"frames", l_frames},
  {"spritesheet", l_spritesheet},
  {NULL, NULL}
};

void gi_imgtools_register(lua_State *L) {
  if (luaL_newmetatable(L, SCRATCH_MT)) {
    lua_pushcfunction(L, scratch_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  luaL_setfuncs(L, FUNCTIONS, 0);
}
