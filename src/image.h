/* image: the pixels and the facts of an image file, for the image tools
 * (gptimage.info, alpha_mask, frames, spritesheet).
 *
 * Pure C, no Lua, so the fuzzers drive it directly.  The codecs are
 * libspng (PNG), giflib (GIF), libjpeg (JPEG) and libwebp (WebP); this file
 * sniffs a format, dispatches to its codec and owns the RGBA buffer and the
 * limits every decoder checks before it allocates: a file that declares
 * more pixels than the limits allow is refused from its header, so a small
 * hostile file can never ask for unbounded memory or time.
 *
 * Contract: every function that can fail returns 0 (or a non-NULL object)
 * on success and -1 (or NULL) with one readable line in err (at most
 * errlen-1 bytes, never NULL-terminated short) on failure; nothing is left
 * allocated after a failure. */
#ifndef GPTIMAGE_IMAGE_H
#define GPTIMAGE_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#define GI_IMAGE_ERRLEN 256

typedef enum { GI_FMT_UNKNOWN = 0, GI_FMT_PNG, GI_FMT_JPEG, GI_FMT_WEBP, GI_FMT_GIF, GI_FMT_SVG } gi_format;

/* What a decoder accepts.  The defaults (gi_limits_default) are the API's
 * largest image, 3840x2160, times 4 for one picture; a GIF may have up to
 * 4096 frames, and composing all of them may touch at most 64 of those
 * pictures' worth of pixels; a sprite sheet may hold 16 of them. */
typedef struct gi_limits {
  uint32_t max_side;        /* width or height */
  uint64_t max_pixels;      /* width * height of one picture */
  unsigned max_frames;      /* GIF frames */
  uint64_t max_work;        /* GIF: frames * canvas pixels */
  uint64_t max_sheet;       /* sprite sheet pixels */
} gi_limits;

gi_limits gi_limits_default(void);

/* 8-bit RGBA, not premultiplied, rows top to bottom, no padding. */
typedef struct gi_rgba {
  uint32_t width, height;
  unsigned char *px; /* width * height * 4 bytes; NULL when empty */
} gi_rgba;

typedef struct gi_info {
  gi_format format;
  uint32_t width, height; /* 0 when the file does not say (an SVG without a size) */
  int alpha;              /* the file can hold transparency */
  unsigned frames;        /* 1 for still images */
} gi_info;

/* Zero-filled (transparent) pixels; refuses sizes over the limits. */
int gi_rgba_alloc(gi_rgba *img, uint32_t width, uint32_t height, const gi_limits *lim, char *err, size_t errlen);
void gi_rgba_free(gi_rgba *img);
/* 0 when width x height is within lim (one picture), else -1 with a message naming what. */
int gi_check_size(uint32_t width, uint32_t height, const gi_limits *lim, const char *what, char *err, size_t errlen);

/* The format from the first bytes (an SVG may start with a BOM, an XML
 * declaration, comments or a doctype before <svg). */
gi_format gi_image_sniff(const unsigned char *data, size_t len);
const char *gi_format_name(gi_format f); /* "png" "jpeg" "webp" "gif" "svg" "unknown" */

/* Facts from the headers alone (a GIF's blocks are walked, its pixels never
 * decompressed). */
int gi_image_info(const unsigned char *data, size_t len, const gi_limits *lim, gi_info *out, char *err,
                  size_t errlen);
/* The pixels: a GIF's first frame composed on its canvas; SVG is refused. */
int gi_image_decode(const unsigned char *data, size_t len, const gi_limits *lim, gi_rgba *out, char *err,
                    size_t errlen);

/* Encodes img as an 8-bit RGBA PNG in a malloc'd buffer the caller frees. */
int gi_image_encode_png(const gi_rgba *img, unsigned char **out, size_t *out_len, char *err, size_t errlen);

#endif
