/* png_codec: PNG decoding and encoding through libspng (see png_codec.h).
 * libspng checks every chunk's CRC and length and the zlib stream; this
 * file adds the size limits and caps on chunk sizes (libspng caps their
 * count itself), so a
 * file of a few bytes cannot make it allocate more than the limits allow. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spng.h>
#include <zlib.h>
#include "png_codec.h"

/* ancillary chunks are skipped, not kept: a cap on what a file may make
 * libspng hold (text, ICC profiles) */
#define CHUNK_SIZE_LIMIT (4u << 20)
#define CHUNK_CACHE_LIMIT (16u << 20)

static int fail(char *err, size_t errlen, const char *what, int rc) {
  snprintf(err, errlen, "damaged PNG: %s (%s)", what, spng_strerror(rc));
  return -1;
}

/* A decoder context over data with the limits set and the header read. */
static spng_ctx *open_decoder(const unsigned char *data, size_t len, const gi_limits *lim, struct spng_ihdr *ihdr,
                              char *err, size_t errlen) {
  spng_ctx *ctx = spng_ctx_new(0);
  int rc;
  if (ctx == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  rc = spng_set_image_limits(ctx, lim->max_side, lim->max_side);
  if (rc == 0) rc = spng_set_chunk_limits(ctx, CHUNK_SIZE_LIMIT, CHUNK_CACHE_LIMIT);
  /* a damaged ancillary chunk is dropped, as browsers do; a damaged
   * critical one (IHDR, PLTE, IDAT) fails */
  if (rc == 0) rc = spng_set_crc_action(ctx, SPNG_CRC_ERROR, SPNG_CRC_DISCARD);
  if (rc == 0) rc = spng_set_png_buffer(ctx, data, len);
  if (rc != 0) {
    spng_ctx_free(ctx);
    snprintf(err, errlen, "cannot set up the PNG decoder (%s)", spng_strerror(rc));
    return NULL;
  }
  rc = spng_get_ihdr(ctx, ihdr);
  if (rc != 0) {
    spng_ctx_free(ctx);
    if (rc == SPNG_EWIDTH || rc == SPNG_EHEIGHT || rc == SPNG_EUSER_WIDTH || rc == SPNG_EUSER_HEIGHT)
      snprintf(err, errlen, "the PNG's size is over the limit of %lu pixels a side", (unsigned long)lim->max_side);
    else
      fail(err, errlen, "bad header", rc);
    return NULL;
  }
  if (gi_check_size(ihdr->width, ihdr->height, lim, "the PNG", err, errlen) != 0) {
    spng_ctx_free(ctx);
    return NULL;
  }
  return ctx;
}

int gi_png_info(const unsigned char *data, size_t len, const gi_limits *lim, gi_info *out, char *err, size_t errlen) {
  struct spng_ihdr ihdr;
  struct spng_trns trns;
  spng_ctx *ctx = open_decoder(data, len, lim, &ihdr, err, errlen);
  if (ctx == NULL) return -1;
  memset(out, 0, sizeof *out);
  out->format = GI_FMT_PNG;
  out->width = ihdr.width;
  out->height = ihdr.height;
  out->frames = 1;
  out->alpha = ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE_ALPHA || ihdr.color_type == SPNG_COLOR_TYPE_TRUECOLOR_ALPHA;
  /* tRNS comes before IDAT: reading it reads the chunks before the data only */
  if (!out->alpha && spng_get_trns(ctx, &trns) == 0) out->alpha = 1;
  spng_ctx_free(ctx);
  return 0;
}

int gi_png_decode(const unsigned char *data, size_t len, const gi_limits *lim, gi_rgba *out, char *err,
                  size_t errlen) {
  struct spng_ihdr ihdr;
  size_t need = 0;
  int rc;
  spng_ctx *ctx = open_decoder(data, len, lim, &ihdr, err, errlen);
  memset(out, 0, sizeof *out);
  if (ctx == NULL) return -1;
  rc = spng_decoded_image_size(ctx, SPNG_FMT_RGBA8, &need);
  if (rc != 0) {
    spng_ctx_free(ctx);
    return fail(err, errlen, "bad header", rc);
  }
  if (gi_rgba_alloc(out, ihdr.width, ihdr.height, lim, err, errlen) != 0) {
    spng_ctx_free(ctx);
    return -1;
  }
  if (need != (size_t)ihdr.width * ihdr.height * 4) { /* cannot happen for RGBA8; never write past px */
    spng_ctx_free(ctx);
    gi_rgba_free(out);
    snprintf(err, errlen, "damaged PNG: unexpected image size");
    return -1;
  }
  rc = spng_decode_image(ctx, out->px, need, SPNG_FMT_RGBA8, SPNG_DECODE_TRNS);
  spng_ctx_free(ctx);
  if (rc != 0) {
    gi_rgba_free(out);
    return fail(err, errlen, rc == SPNG_EOF ? "cut short" : "bad image data", rc);
  }
  return 0;
}

int gi_png_encode(const gi_rgba *img, unsigned char **out, size_t *out_len, char *err, size_t errlen) {
  struct spng_ihdr ihdr;
  spng_ctx *ctx;
  void *buf;
  size_t len = 0;
  int rc;
  *out = NULL;
  *out_len = 0;
  ctx = spng_ctx_new(SPNG_CTX_ENCODER);
  if (ctx == NULL) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  memset(&ihdr, 0, sizeof ihdr);
  ihdr.width = img->width;
  ihdr.height = img->height;
  ihdr.bit_depth = 8;
  ihdr.color_type = SPNG_COLOR_TYPE_TRUECOLOR_ALPHA;
  rc = spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1);
  /* the filter of each row chosen from sub and up only, and zlib's default
   * strategy: on masks and sprite sheets as small as libspng's defaults (all
   * five filters, Z_FILTERED) or smaller, in half the time (bench/imagetools.py) */
  if (rc == 0) rc = spng_set_option(ctx, SPNG_FILTER_CHOICE, SPNG_FILTER_CHOICE_SUB | SPNG_FILTER_CHOICE_UP);
  if (rc == 0) rc = spng_set_option(ctx, SPNG_IMG_COMPRESSION_STRATEGY, Z_DEFAULT_STRATEGY);
  if (rc == 0) rc = spng_set_ihdr(ctx, &ihdr);
  if (rc == 0)
    rc = spng_encode_image(ctx, img->px, (size_t)img->width * img->height * 4, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE);
  if (rc != 0) {
    spng_ctx_free(ctx);
    snprintf(err, errlen, "cannot encode the PNG (%s)", spng_strerror(rc));
    return -1;
  }
  buf = spng_get_png_buffer(ctx, &len, &rc);
  spng_ctx_free(ctx);
  if (buf == NULL || rc != 0) {
    free(buf);
    snprintf(err, errlen, "cannot encode the PNG (%s)", spng_strerror(rc ? rc : SPNG_EMEM));
    return -1;
  }
  *out = (unsigned char *)buf;
  *out_len = len;
  return 0;
}
