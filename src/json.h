/* json: the bridge to lua-cjson.  The module keeps its own cjson instance
 * (cjson.new()), so a caller's cjson settings never change what is sent. */
#ifndef GPTIMAGE_JSON_H
#define GPTIMAGE_JSON_H

#include <stddef.h>
#include "lua_compat.h"

/* Loads cjson into the registry; called once from luaopen_gptimage. Raises
 * with a clear message when lua-cjson is not installed. */
void gi_json_open(lua_State *L);
/* Encodes the value at idx and pushes the JSON text; raises on values JSON
 * cannot hold (functions, NaN, sparse arrays). */
void gi_json_encode(lua_State *L, int idx);
/* Decodes text: pushes the value and returns 1, or pushes an error message
 * and returns 0.  Never raises: an interrupt (Ctrl-C in the interpreter)
 * that fires inside it is remembered, and the text decoded again. */
int gi_json_decode(lua_State *L, const char *text, size_t len);
/* Whether an interrupt was swallowed by a decode since the last call; the
 * caller raises "interrupted!" once its state is consistent. */
int gi_json_take_interrupt(lua_State *L);

#endif
