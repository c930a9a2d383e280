/* image: formats, limits and RGBA buffers; the dispatch to the codecs
 * (see image.h).  The one thing no library here reads, the size of an SVG
 * document, is read from the attributes of its root element. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "image.h"
#include "png_codec.h"
#include "gif_codec.h"
#include "jpeg_codec.h"
#include "webp_codec.h"

#define API_PIXELS ((uint64_t)3840 * 2160)
#define SVG_SCAN 65536 /* how far into a document its <svg> element may start */

gi_limits gi_limits_default(void) {
  gi_limits lim;
  lim.max_side = 16384;
  lim.max_pixels = API_PIXELS * 4;
  lim.max_frames = 4096;
  lim.max_work = API_PIXELS * 64;
  lim.max_sheet = API_PIXELS * 16;
  return lim;
}

int gi_check_size(uint32_t width, uint32_t height, const gi_limits *lim, const char *what, char *err, size_t errlen) {
  if (width == 0 || height == 0) {
    snprintf(err, errlen, "%s has no size", what);
    return -1;
  }
  if (width > lim->max_side || height > lim->max_side || (uint64_t)width * height > lim->max_pixels) {
    snprintf(err, errlen, "%s is %lux%lu, over the limit of %lu pixels a side and %llu pixels in all", what,
             (unsigned long)width, (unsigned long)height, (unsigned long)lim->max_side,
             (unsigned long long)lim->max_pixels);
    return -1;
  }
  return 0;
}

int gi_rgba_alloc(gi_rgba *img, uint32_t width, uint32_t height, const gi_limits *lim, char *err, size_t errlen) {
  memset(img, 0, sizeof *img);
  if (gi_check_size(width, height, lim, "the image", err, errlen) != 0) return -1;
  img->px = (unsigned char *)calloc((size_t)width * height, 4);
  if (img->px == NULL) {
    snprintf(err, errlen, "out of memory for a %lux%lu image", (unsigned long)width, (unsigned long)height);
    return -1;
  }
  img->width = width;
  img->height = height;
  return 0;
}

void gi_rgba_free(gi_rgba *img) {
  free(img->px);
  memset(img, 0, sizeof *img);
}

/* ------------------------------------------------------------------ */
/* SVG: the root element */

static int is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* Skips what may come before the root element; the offset of "<svg", or -1. */
static long svg_root(const unsigned char *p, size_t len) {
  size_t i = 0, end = len < SVG_SCAN ? len : SVG_SCAN;
  if (end >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) i = 3;
  while (i < end) {
    const char *close = NULL;
    if (is_space(p[i])) {
      i++;
      continue;
    }
    if (p[i] != '<' || i + 1 >= end) return -1;
    if (end - i >= 5 && memcmp(p + i, "<svg", 4) == 0 && (is_space(p[i + 4]) || p[i + 4] == '>' || p[i + 4] == '/'))
      return (long)i;
    if (end - i >= 2 && p[i + 1] == '?') close = "?>";
    else if (end - i >= 4 && memcmp(p + i, "<!--", 4) == 0) close = "-->";
    else if (end - i >= 2 && p[i + 1] == '!') close = ">";
    else return -1;
    {
      size_t n = strlen(close), j = i + 2;
      while (j + n <= end && memcmp(p + j, close, n) != 0) j++;
      if (j + n > end) return -1;
      i = j + n;
    }
  }
  return -1;
}

/* The value of attribute name in the tag at p (up to '>'), copied into out. */
static int svg_attr(const unsigned char *p, size_t len, const char *name, char *out, size_t outlen) {
  size_t i = 4, n = strlen(name);
  while (i < len && p[i] != '>') {
    size_t start, name_end, vstart;
    unsigned char quote;
    while (i < len && is_space(p[i])) i++;
    start = i;
    while (i < len && !is_space(p[i]) && p[i] != '=' && p[i] != '>') i++;
    name_end = i;
    if (i >= len || p[i] == '>') return 0;
    while (i < len && is_space(p[i])) i++;
    if (i >= len) return 0;
    if (p[i] != '=') {
      if (name_end == start) i++; /* a stray character: step over it */
      continue;
    }
    i++;
    while (i < len && is_space(p[i])) i++;
    if (i >= len || (p[i] != '"' && p[i] != '\'')) return 0;
    quote = p[i++];
    vstart = i;
    while (i < len && p[i] != quote) i++;
    if (i >= len) return 0;
    if (name_end - start == n && memcmp(p + start, name, n) == 0) {
      size_t vlen = i - vstart;
      if (vlen >= outlen) vlen = outlen - 1;
      memcpy(out, p + vstart, vlen);
      out[vlen] = '\0';
      return 1;
    }
    i++;
  }
  return 0;
}

/* A length in user units (a bare number or px); 0 for anything else (%, em). */
static uint32_t svg_length(const char *s) {
  char *end;
  double v = strtod(s, &end);
  while (is_space((unsigned char)*end)) end++;
  if (strcmp(end, "px") == 0) end += 2;
  while (is_space((unsigned char)*end)) end++;
  if (*end != '\0' || !(v > 0) || v > 1e7) return 0;
  return (uint32_t)(v + 0.5);
}

static int svg_info(const unsigned char *data, size_t len, gi_info *out, char *err, size_t errlen) {
  char value[128];
  long at = svg_root(data, len);
  const unsigned char *tag;
  size_t tlen;
  if (at < 0) {
    snprintf(err, errlen, "damaged SVG: no <svg> element");
    return -1;
  }
  tag = data + at;
  tlen = len - (size_t)at;
  memset(out, 0, sizeof *out);
  out->format = GI_FMT_SVG;
  out->alpha = 1; /* an SVG's canvas is transparent where nothing is drawn */
  out->frames = 1;
  if (svg_attr(tag, tlen, "width", value, sizeof value)) out->width = svg_length(value);
  if (svg_attr(tag, tlen, "height", value, sizeof value)) out->height = svg_length(value);
  if ((out->width == 0 || out->height == 0) && svg_attr(tag, tlen, "viewBox", value, sizeof value)) {
    double box[4];
    char *p = value, *end;
    int i;
    for (i = 0; i < 4; i++) {
      while (is_space((unsigned char)*p) || *p == ',') p++;
      box[i] = strtod(p, &end);
      if (end == p) break;
      p = end;
    }
    if (i == 4 && box[2] > 0 && box[3] > 0 && box[2] <= 1e7 && box[3] <= 1e7) {
      out->width = (uint32_t)(box[2] + 0.5);
      out->height = (uint32_t)(box[3] + 0.5);
    }
  }
  if (out->width == 0 || out->height == 0) out->width = out->height = 0;
  return 0;
}

/* ------------------------------------------------------------------ */
/* dispatch */

gi_format gi_image_sniff(const unsigned char *p, size_t n) {
  if (n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) return GI_FMT_PNG;
  if (n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF) return GI_FMT_JPEG;
  if (n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0) return GI_FMT_WEBP;
  if (n >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0)) return GI_FMT_GIF;
  if (svg_root(p, n) >= 0) return GI_FMT_SVG;
  return GI_FMT_UNKNOWN;
}

const char *gi_format_name(gi_format f) {
  switch (f) {
    case GI_FMT_PNG: return "png";
    case GI_FMT_JPEG: return "jpeg";
    case GI_FMT_WEBP: return "webp";
    case GI_FMT_GIF: return "gif";
    case GI_FMT_SVG: return "svg";
    default: return "unknown";
  }
}

static int unknown(char *err, size_t errlen) {
  snprintf(err, errlen, "not a PNG, JPEG, WebP, GIF or SVG image");
  return -1;
}

int gi_image_info(const unsigned char *data, size_t len, const gi_limits *lim, gi_info *out, char *err,
                  size_t errlen) {
  memset(out, 0, sizeof *out);
  switch (gi_image_sniff(data, len)) {
    case GI_FMT_PNG: return gi_png_info(data, len, lim, out, err, errlen);
    case GI_FMT_JPEG: return gi_jpeg_info(data, len, lim, out, err, errlen);
    case GI_FMT_WEBP: return gi_webp_info(data, len, lim, out, err, errlen);
    case GI_FMT_GIF: return gi_gif_info(data, len, lim, out, err, errlen);
    case GI_FMT_SVG: return svg_info(data, len, out, err, errlen);
    default: return unknown(err, errlen);
  }
}

/* A GIF's first frame, copied out of the decoder's canvas. */
static int gif_first_frame(const unsigned char *data, size_t len, const gi_limits *lim, gi_rgba *out, char *err,
                           size_t errlen) {
  const gi_rgba *canvas = NULL;
  unsigned duration;
  gi_gif *g = gi_gif_open(data, len, lim, err, errlen);
  int rc;
  if (g == NULL) return -1;
  rc = gi_gif_next(g, &canvas, &duration, err, errlen);
  if (rc == 0) snprintf(err, errlen, "damaged GIF: no frames");
  if (rc != 1 || gi_rgba_alloc(out, canvas->width, canvas->height, lim, err, errlen) != 0) {
    gi_gif_close(g);
    return -1;
  }
  memcpy(out->px, canvas->px, (size_t)canvas->width * canvas->height * 4);
  gi_gif_close(g);
  return 0;
}

int gi_image_decode(const unsigned char *data, size_t len, const gi_limits *lim, gi_rgba *out, char *err,
                    size_t errlen) {
  memset(out, 0, sizeof *out);
  switch (gi_image_sniff(data, len)) {
    case GI_FMT_PNG: return gi_png_decode(data, len, lim, out, err, errlen);
    case GI_FMT_JPEG: return gi_jpeg_decode(data, len, lim, out, err, errlen);
    case GI_FMT_WEBP: return gi_webp_decode(data, len, lim, out, err, errlen);
    case GI_FMT_GIF: return gif_first_frame(data, len, lim, out, err, errlen);
    case GI_FMT_SVG:
      snprintf(err, errlen, "an SVG has no pixels to read; render it to PNG first");
      return -1;
    default: return unknown(err, errlen);
  }
}

int gi_image_encode_png(const gi_rgba *img, unsigned char **out, size_t *out_len, char *err, size_t errlen) {
  return gi_png_encode(img, out, out_len, err, errlen);
}
