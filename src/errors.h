/* errors: the error values of gptimage.
 *
 * A failure of the world is returned as nil plus a table with the fields of
 * DESIGN.md (kind, status, code, type, param, message, request_id,
 * retry_after) and the metatable gptimage.Error, whose __tostring gives one
 * readable line.  Every message passes through gi_redact first, so the API
 * key can never reach an error, whatever the server echoes back. */
#ifndef GPTIMAGE_ERRORS_H
#define GPTIMAGE_ERRORS_H

#include <stddef.h>
#include "lua_compat.h"

#define GI_ERROR_MT "gptimage.Error"

typedef struct gi_error {
  const char *kind;        /* "api" "http" "network" "timeout" "cancelled" "io" "decode" */
  long status;             /* HTTP status, 0 when none */
  const char *message;
  const char *code, *type, *param, *request_id; /* NULL when absent */
  double retry_after;      /* seconds; < 0 when absent */
} gi_error;

void gi_errors_open(lua_State *L);
/* Pushes a new error table; secret (may be NULL) is scrubbed from every string. */
void gi_error_push(lua_State *L, const gi_error *e, const char *secret);
/* Pushes s with every occurrence of secret replaced by a mask (and a tail
 * that is the start of it: texts cut short).  Secrets under 8 bytes are not
 * masked: they would mask ordinary words. */
void gi_redact_push(lua_State *L, const char *s, size_t len, const char *secret);
/* Whether gi_redact_push would change s. */
int gi_redact_needed(const char *s, size_t len, const char *secret);
/* Pushes a deep copy of the value at idx (tables keep their metatables) with
 * secret masked in every string, keys and values; other values as they are. */
void gi_redact_value(lua_State *L, int idx, const char *secret);

#endif
