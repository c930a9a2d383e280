/* imgops: mask making and blitting (see imgops.h).  The resampler is the
 * separable one of most image libraries: per output position a window of
 * input samples with triangle weights, normalised; done along the axis
 * that keeps the intermediate plane smaller first. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "imgops.h"

/* PIL's L = R*299/1000 + G*587/1000 + B*114/1000 in 16-bit fixed point */
static unsigned char luminance(const unsigned char *p) {
  return (unsigned char)((p[0] * 19595u + p[1] * 38470u + p[2] * 7471u + 0x8000u) >> 16);
}

/* Weights of one axis: for output i, inputs first[i] .. first[i]+count[i]-1. */
typedef struct axis {
  uint32_t *first, *count;
  float *w;     /* out * ksize */
  size_t ksize;
} axis;

static void axis_free(axis *a) {
  free(a->first);
  free(a->count);
  free(a->w);
}

static int axis_make(axis *a, uint32_t in, uint32_t out) {
  double scale = (double)in / out, support = scale > 1.0 ? scale : 1.0;
  uint32_t i;
  memset(a, 0, sizeof *a);
  a->ksize = (size_t)ceil(support) * 2 + 1;
  a->first = (uint32_t *)malloc(sizeof *a->first * out);
  a->count = (uint32_t *)malloc(sizeof *a->count * out);
  a->w = (float *)malloc(sizeof *a->w * out * a->ksize);
  if (a->first == NULL || a->count == NULL || a->w == NULL) {
    axis_free(a);
    return -1;
  }
  for (i = 0; i < out; i++) {
    double center = (i + 0.5) * scale, total = 0;
    double lo = floor(center - support + 0.5), hi = floor(center + support + 0.5);
    uint32_t j, n;
    float *w = a->w + (size_t)i * a->ksize;
    if (lo < 0) lo = 0;
    if (hi > in) hi = in;
    n = (uint32_t)(hi - lo);
    if (n > a->ksize) n = (uint32_t)a->ksize;
    if (n == 0) { /* cannot happen for in, out >= 1; never divide by zero */
      n = 1;
      lo = lo >= in ? in - 1 : lo;
    }
    for (j = 0; j < n; j++) {
      double d = fabs((lo + j + 0.5 - center) / support);
      double k = d < 1.0 ? 1.0 - d : 0.0;
      w[j] = (float)k;
      total += k;
    }
    for (j = 0; j < n; j++) w[j] = total > 0 ? (float)(w[j] / total) : (float)(1.0 / n);
    a->first[i] = (uint32_t)lo;
    a->count[i] = n;
  }
  return 0;
}

static unsigned char clamp_byte(float v) {
  if (v <= 0.0f) return 0;
  if (v >= 255.0f) return 255;
  return (unsigned char)(v + 0.5f);
}

/* plane sw x sh -> dw x sh along x */
static void resample_x(const unsigned char *src, uint32_t sw, uint32_t sh, const axis *a, unsigned char *dst,
                       uint32_t dw) {
  uint32_t y, x, j;
  for (y = 0; y < sh; y++) {
    const unsigned char *row = src + (size_t)y * sw;
    for (x = 0; x < dw; x++) {
      const float *w = a->w + (size_t)x * a->ksize;
      const unsigned char *s = row + a->first[x];
      float v = 0;
      for (j = 0; j < a->count[x]; j++) v += w[j] * s[j];
      dst[(size_t)y * dw + x] = clamp_byte(v);
    }
  }
}

/* plane sw x sh -> sw x dh along y */
static void resample_y(const unsigned char *src, uint32_t sw, const axis *a, unsigned char *dst, uint32_t dh,
                       float *acc) {
  uint32_t y, x, j;
  for (y = 0; y < dh; y++) {
    const float *w = a->w + (size_t)y * a->ksize;
    for (x = 0; x < sw; x++) acc[x] = 0;
    for (j = 0; j < a->count[y]; j++) {
      const unsigned char *s = src + (size_t)(a->first[y] + j) * sw;
      float k = w[j];
      for (x = 0; x < sw; x++) acc[x] += k * s[x];
    }
    for (x = 0; x < sw; x++) dst[(size_t)y * sw + x] = clamp_byte(acc[x]);
  }
}

/* The luminance plane resized from sw x sh to dw x dh (a new buffer), or NULL. */
static unsigned char *resize_plane(const unsigned char *src, uint32_t sw, uint32_t sh, uint32_t dw, uint32_t dh) {
  axis ax, ay;
  unsigned char *mid = NULL, *out = NULL;
  float *acc = NULL;
  int x_first = (uint64_t)dw * sh <= (uint64_t)sw * dh;
  size_t mid_size = x_first ? (size_t)dw * sh : (size_t)sw * dh;
  if (axis_make(&ax, sw, dw) != 0) return NULL;
  if (axis_make(&ay, sh, dh) != 0) {
    axis_free(&ax);
    return NULL;
  }
  mid = (unsigned char *)malloc(mid_size ? mid_size : 1);
  out = (unsigned char *)malloc((size_t)dw * dh);
  acc = (float *)malloc(sizeof *acc * (x_first ? dw : sw));
  if (mid && out && acc) {
    if (x_first) {
      resample_x(src, sw, sh, &ax, mid, dw);
      resample_y(mid, dw, &ay, out, dh, acc);
    } else {
      resample_y(src, sw, &ay, mid, dh, acc);
      resample_x(mid, sw, dh, &ax, out, dw);
    }
  } else {
    free(out);
    out = NULL;
  }
  free(mid);
  free(acc);
  axis_free(&ax);
  axis_free(&ay);
  return out;
}

int gi_alpha_mask(const gi_rgba *in, uint32_t width, uint32_t height, int invert, const gi_limits *lim,
                  gi_rgba *out, char *err, size_t errlen) {
  size_t n = (size_t)in->width * in->height, i;
  unsigned char *plane, *sized;
  if (gi_check_size(width, height, lim, "the mask", err, errlen) != 0) return -1;
  plane = (unsigned char *)malloc(n ? n : 1);
  if (plane == NULL) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  for (i = 0; i < n; i++) plane[i] = luminance(in->px + i * 4);
  if (width != in->width || height != in->height) {
    sized = resize_plane(plane, in->width, in->height, width, height);
    free(plane);
    if (sized == NULL) {
      snprintf(err, errlen, "out of memory");
      return -1;
    }
    plane = sized;
  }
  if (gi_rgba_alloc(out, width, height, lim, err, errlen) != 0) {
    free(plane);
    return -1;
  }
  n = (size_t)width * height;
  for (i = 0; i < n; i++) {
    unsigned char v = invert ? (unsigned char)(255 - plane[i]) : plane[i];
    unsigned char *p = out->px + i * 4;
    p[0] = p[1] = p[2] = p[3] = v;
  }
  free(plane);
  return 0;
}

void gi_rgba_blit(gi_rgba *dst, uint32_t x, uint32_t y, const gi_rgba *src) {
  uint32_t row, w, h;
  if (x >= dst->width || y >= dst->height) return;
  w = src->width < dst->width - x ? src->width : dst->width - x;
  h = src->height < dst->height - y ? src->height : dst->height - y;
  for (row = 0; row < h; row++)
    memcpy(dst->px + ((size_t)(y + row) * dst->width + x) * 4, src->px + (size_t)row * src->width * 4, (size_t)w * 4);
}
