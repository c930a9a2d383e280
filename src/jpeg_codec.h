/* jpeg_codec: JPEG through libjpeg (see image.h for the contract).  Any
 * colour space libjpeg converts to RGB (greyscale, YCbCr, RGB) decodes to
 * opaque RGBA; CMYK is refused. */
#ifndef GPTIMAGE_JPEG_CODEC_H
#define GPTIMAGE_JPEG_CODEC_H

#include "image.h"

int gi_jpeg_info(const unsigned char *data, size_t len, const gi_limits *lim, gi_info *out, char *err,
                 size_t errlen);
int gi_jpeg_decode(const unsigned char *data, size_t len, const gi_limits *lim, gi_rgba *out, char *err,
                   size_t errlen);

#endif
