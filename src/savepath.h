/* savepath: the file name of the i-th image of a call from its `save`
 * option: "{i}" and "{ext}" are replaced; without "{i}", a call of more than
 * one image gets "-1", "-2"... before the extension.  Names come from the
 * caller's template only, never from anything the server sent. */
#ifndef GPTIMAGE_SAVEPATH_H
#define GPTIMAGE_SAVEPATH_H

#include <stddef.h>

/* Writes the path of image `index` (1-based) of `count` into out; returns 0,
 * or -1 when it does not fit in outlen. ext: "png", "jpg", "webp". */
int gi_savepath(const char *tmpl, unsigned index, unsigned count, const char *ext,
                char *out, size_t outlen);
/* The file extension for an output_format ("jpeg" -> "jpg"). */
const char *gi_savepath_ext(const char *output_format);

#endif
