/* buffer: gptimage.Buffer, bytes that C allocated, handed to Lua without
 * copying them into a Lua string.
 *
 * A job with `buffer = true` gives each image (and each partial image) as
 * `buffer` instead of `bytes`: hosts that hand the bytes on to native code
 * (LÖVE's Data through LuaJIT's FFI, a decoder thread) never pay for a Lua
 * string.  From Lua: #buf (size), buf:pointer() (a light userdata, valid
 * while buf is alive), buf:string([i [, j]]) (a copy, string.sub's
 * indices).  The memory is freed when the Buffer is collected, or at once
 * by buf:release() or a `<close>` variable going out of scope (Lua 5.4):
 * the collector does not count memory it did not allocate, so a pipeline
 * that holds many results, or LuaJIT's, may not collect them soon.  A
 * released Buffer is empty (#buf is 0). */
#ifndef GPTIMAGE_BUFFER_H
#define GPTIMAGE_BUFFER_H

#include <stddef.h>
#include "lua_compat.h"

#define GI_BUFFER_MT "gptimage.Buffer"

typedef struct gi_buffer {
  char *bytes;  /* malloc'd, owned; NULL when empty */
  size_t len;
} gi_buffer;

void gi_buffer_open(lua_State *L);
/* pushes an empty Buffer (raises only when Lua is out of memory, before
 * anything is owned); the caller then hands it bytes and len */
gi_buffer *gi_buffer_new(lua_State *L);

#endif
