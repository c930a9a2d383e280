/* helpers: the C core's pure helpers that the Lua layer needs too, exported
 * so that each exists once (the Lua parts call these, never a copy):
 *
 *   gptimage.save_path(template, index, count [, format]) -> path
 *       the file name image `index` of `count` is saved under (savepath.c):
 *       "{i}" and "{ext}" replaced, else "-index" before the extension when
 *       count > 1; format is an output_format ("png" default, "jpeg" -> jpg);
 *       index 1..count, count at most 100000
 *   gptimage.extension(format) -> the file extension of an output_format
 *       ("jpeg" -> "jpg", nil -> "png"), as "{ext}" is replaced
 *   gptimage.edit_distance(a, b) -> n
 *       edits between two strings, a swap of neighbours counting as one
 *       (hint.c); math.huge when either is longer than 40 bytes
 *   gptimage.sniff(bytes) -> "png" | "jpeg" | "webp" | nil
 *       the image format from the first bytes (input.c)
 *   gptimage.fnv1a64(text [, hex]) -> hex
 *       FNV-1a 64 of text (fnv.h) as 16 lowercase hex digits; given the
 *       hex of what came before, the hash of the two run together, so a
 *       file can be hashed in pieces.  The request cache's hash.
 *
 * Contract: a wrong argument raises; the functions have no other failure.
 * Lua code that must know a file's name before the call (collision checks,
 * dependencies, Batch API output) asks save_path, never a copy of it. */
#ifndef GPTIMAGE_HELPERS_H
#define GPTIMAGE_HELPERS_H

#include "lua_compat.h"

/* Sets the functions above as fields of the table on top of the stack. */
void gi_helpers_open(lua_State *L);

#endif
