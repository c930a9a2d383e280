/* png_codec: PNG through libspng (see image.h for the contract: 0 or -1
 * with a message in err, limits checked from the IHDR before any pixel
 * buffer is allocated). */
#ifndef GPTIMAGE_PNG_CODEC_H
#define GPTIMAGE_PNG_CODEC_H

#include "image.h"

int gi_png_info(const unsigned char *data, size_t len, const gi_limits *lim, gi_info *out, char *err, size_t errlen);
/* Any colour type and depth to 8-bit RGBA, tRNS applied. */
int gi_png_decode(const unsigned char *data, size_t len, const gi_limits *lim, gi_rgba *out, char *err,
                  size_t errlen);
/* 8-bit RGBA PNG; *out is malloc'd (the caller frees it). */
int gi_png_encode(const gi_rgba *img, unsigned char **out, size_t *out_len, char *err, size_t errlen);

#endif
