/* input: one input image of an edit or variation, whatever form the caller
 * gave it in (a path, a Lua string of bytes, an open io file, or a table),
 * with its type sniffed from the magic bytes and its dimensions read from
 * the headers alone: a file is never read whole. */
#ifndef GPTIMAGE_INPUT_H
#define GPTIMAGE_INPUT_H

#include <stdio.h>
#include <curl/curl.h>
#include "lua_compat.h"

typedef enum { GI_IMG_PNG, GI_IMG_JPEG, GI_IMG_WEBP } gi_image_type;

typedef struct gi_input {
  enum { GI_IN_PATH, GI_IN_BYTES, GI_IN_FILE } kind;
  const char *path;        /* GI_IN_PATH (a Lua string anchored by the caller) */
  const char *data;        /* GI_IN_BYTES */
  FILE *file;              /* GI_IN_FILE */
  long start;              /* GI_IN_FILE: where the image begins */
  size_t pos;              /* read position of the upload callbacks */
  double size;             /* bytes */
  gi_image_type type;
  const char *mime;        /* "image/png" ... */
  const char *ext;         /* "png" "jpg" "webp" */
  char filename[256];
  long width, height;      /* 0 when the headers do not tell */
  int alpha;               /* PNG with an alpha channel or tRNS */
  char label[64];          /* how messages name it: "image 2 (bytes)" */
} gi_input;

/* Reads the input at idx (raises with a clear message naming it). label
 * names it in messages.  Values the upload will point into are stored in
 * the table at keep_idx. */
void gi_input_read(lua_State *L, int idx, int keep_idx, const char *label, gi_input *in);
/* Adds the input as a part named `name` of the form. Raises on failure. */
void gi_input_add_part(lua_State *L, curl_mime *mime, const char *name, gi_input *in);

#endif
