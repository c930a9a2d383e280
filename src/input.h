/* input: one input image of an edit or variation, whatever form the caller
 * gave it in (a path, a Lua string of bytes, an open io file, or a table),
 * with its type sniffed from the magic bytes and its dimensions read from
 * the headers alone: a file is never read whole. */
#ifndef GPTIMAGE_INPUT_H
#define GPTIMAGE_INPUT_H

#include <stdio.h>
#include "curlapi.h"
#include "lua_compat.h"

typedef enum { GI_IMG_PNG, GI_IMG_JPEG, GI_IMG_WEBP } gi_image_type;

typedef struct gi_input {
  enum { GI_IN_PATH, GI_IN_BYTES, GI_IN_FILE } kind;
  const char *path;        /* GI_IN_PATH (a Lua string anchored in the keep table) */
  const char *data;        /* GI_IN_BYTES (likewise anchored) */
  int fd;                  /* read by the header checks, and for GI_IN_FILE by the upload
                              (then a duplicate the request owns); -1 when none */
  long long start;         /* GI_IN_FILE: where the image begins in the file */
  long long pos;           /* read position of the upload callbacks */
  long long size;          /* bytes */
  gi_image_type type;
  const char *mime;        /* "image/png" "image/jpeg" "image/webp" */
  const char *ext;         /* "png" "jpg" "webp" */
  char filename[256];
  long width, height;
  int alpha;               /* an alpha channel: PNG colour type 4 or 6, a tRNS chunk, WebP alpha */
  char label[96];          /* how messages name it: "image 2 (bytes)", "mask 'm.png'" */
} gi_input;

/* The type of an image from its first bytes (n of them): 1 and *type, or 0
 * when they are not a PNG, JPEG or WebP. */
/* The FILE of a Lua io file object at idx, or NULL: not an io file, or a
 * closed one (then *closed is 1). */
FILE *gi_input_lua_file(lua_State *L, int idx, int *closed);

int gi_input_sniff(const unsigned char *h, size_t n, gi_image_type *type);
/* A zeroed input whose memory is anchored in the table at keep_idx, so the
 * upload callbacks can point at it until the job ends. */
gi_input *gi_input_new(lua_State *L, int keep_idx);
/* Reads the input at idx (raises with a clear message naming it; opens
 * nothing that outlives the call).  label is how messages name it ("image",
 * "image 2", "mask").  Values the upload will point into are stored in the
 * table at keep_idx. */
void gi_input_read(lua_State *L, int idx, int keep_idx, const char *label, gi_input *in);
/* Adds the input as a part named `name` of the form.  An io file is read
 * through a duplicate descriptor stored in *owned_fd (set to -1 otherwise)
 * before anything can fail, for the caller to close when the form is freed.
 * Raises on failure. */
void gi_input_add_part(lua_State *L, curl_mime *mime, const char *name, gi_input *in, int *owned_fd);

#endif
