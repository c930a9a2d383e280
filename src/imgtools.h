/* imgtools: the Lua side of the image tools (gptimage.info, alpha_mask,
 * frames, spritesheet) and the conversion of an edit's black-and-white
 * mask.  A thin binding: the pixels are image.h's, imgops.h's and the
 * codecs'; this file reads inputs, checks options, pushes results and
 * writes files.
 *
 * Inputs come in the forms the calls take (a path, a string of bytes, an
 * open io file read from its position without moving it, or a table with
 * data or path).  Option mistakes raise; a file that cannot be read is
 * nil, err with kind "io", a bad or hostile file nil, err with kind
 * "decode" (see image.h for the limits). */
#ifndef GPTIMAGE_IMGTOOLS_H
#define GPTIMAGE_IMGTOOLS_H

#include <stdint.h>
#include "lua_compat.h"

/* Sets info, alpha_mask, frames and spritesheet on the table on top of the
 * stack. */
void gi_imgtools_register(lua_State *L);

/* Whether the value at idx is a black-and-white mask: a table with a bw field. */
int gi_imgtools_is_bw_mask(lua_State *L, int idx);
/* For an edit's mask given as { bw = input, invert = bool }: pushes the
 * PNG bytes of its alpha mask at width x height.  Raises, naming label, when
 * the table is malformed or the picture cannot be read or decoded (as the
 * other inputs of a request do). */
void gi_imgtools_push_bw_mask(lua_State *L, int idx, uint32_t width, uint32_t height, const char *label);

#endif
