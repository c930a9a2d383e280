/* imgops: the pixel work of the image tools on decoded RGBA (see image.h):
 * the API's edit mask from a black-and-white picture, and copying frames
 * into a sprite sheet.  Pure C, no Lua, no I/O. */
#ifndef GPTIMAGE_IMGOPS_H
#define GPTIMAGE_IMGOPS_H

#include "image.h"

/* The edit mask of `in`: every pixel's luminance L (ITU-R 601-2, as PIL's
 * convert("L") computes it; in's alpha is ignored) becomes the pixel
 * (L, L, L, L): white opaque (kept), black transparent (edited); invert
 * uses 255 - L.  When width x height differs from in's size the luminance
 * is resampled first (a triangle filter widened when shrinking, so a
 * smaller mask averages what it covers).  0, or -1 with err. */
int gi_alpha_mask(const gi_rgba *in, uint32_t width, uint32_t height, int invert, const gi_limits *lim,
                  gi_rgba *out, char *err, size_t errlen);

/* Copies src into dst with its top-left corner at (x, y); the part outside
 * dst is left out. */
void gi_rgba_blit(gi_rgba *dst, uint32_t x, uint32_t y, const gi_rgba *src);

#endif
