/* request: turns one call's options into an API request.
 *
 * A variation on any model but dall-e-2 is built as an edit of the image
 * with a variation prompt (the variations endpoint is retired; rules.h).
 *
 * gi_request_build has the rules (rules.h) check every option against the
 * chosen model, raising a Lua error for caller bugs before anything touches
 * the network, reads the input images (checked by the rules too); then it
 * builds the body: JSON (generations, through cjson) or a curl_mime multipart
 * form (edits, variations) whose file parts stream from disk.  Lua strings
 * the form points into are stored in the table at keep_idx so they outlive
 * the transfer.  The struct lives inside the job userdata (zeroed), so a
 * raise half way leaves nothing that the job's __gc does not free. */
#ifndef GPTIMAGE_REQUEST_H
#define GPTIMAGE_REQUEST_H

#include <stddef.h>
#include "curlapi.h"
#include "lua_compat.h"
#include "rules.h"

typedef struct gi_request {
  gi_op op;
  const char *endpoint;   /* "images/generations", "images/edits", "images/variations" */
  char *model;            /* malloc'd, the model sent (or NULL when none is sent) */
  char *json;             /* malloc'd JSON body, or NULL */
  size_t json_len;
  curl_mime *mime;        /* multipart body, or NULL */
  int n;                  /* images asked for (1 when not given) */
  int stream;             /* stream = true was asked */
  int partial_images;     /* 0 when not given */
  int url_response;       /* response_format == "url" (dall-e) */
  char output_format[8];  /* "png" "jpeg" "webp": what the files will hold */
  char quality[16];       /* as sent, or "" : used by cost estimates */
  char size[24];          /* as sent, or "" */
  int *input_fds;         /* malloc'd: duplicates of the io files the form reads, closed by
                             gi_request_free (-1 entries are unused slots) */
  int input_fd_count;
} gi_request;

/* opts_idx: the options table.  default_model: the client's model (may be NULL).
 * easy: the handle the mime form is built for.  keep_idx: a table to anchor
 * Lua values in.  Raises on caller bugs; returns normally otherwise. */
void gi_request_build(lua_State *L, int opts_idx, gi_op op, const char *default_model,
                      CURL *easy, int keep_idx, gi_request *req);
void gi_request_free(gi_request *req);

/* gptimage.validate(op, opts [, model]) -> true, or raises with the reason:
 * every check of gi_request_build (the rules, and the input images read
 * from their headers) and nothing else; no curl handle, no
 * network.  model stands in for the client's model (default
 * gptimage.default_model). */
int gi_request_validate(lua_State *L);

/* "generate" -> GI_OP_GENERATE ...; raises on an unknown name. */
gi_op gi_request_checkop(lua_State *L, int idx);

#endif
