/* webp_codec: WebP through libwebp (see image.h for the contract).  Still
 * images decode to RGBA; an animated WebP has info (its frame count from
 * libwebp's demuxer) but its pixels are refused. */
#ifndef GPTIMAGE_WEBP_CODEC_H
#define GPTIMAGE_WEBP_CODEC_H

#include "image.h"

int gi_webp_info(const unsigned char *data, size_t len, const gi_limits *lim, gi_info *out, char *err,
                 size_t errlen);
int gi_webp_decode(const unsigned char *data, size_t len, const gi_limits *lim, gi_rgba *out, char *err,
                   size_t errlen);

#endif
