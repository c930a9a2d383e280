/* request: options to a request body (see request.h).
 *
 * The rules (rules.c) check everything the caller gave first: names, types,
 * per-model values; then the input images are read from their headers and
 * checked by the rules too.  Only then are the JSON text or the multipart
 * form allocated, so a caller bug leaves nothing behind but what
 * gi_request_free releases anyway. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "request.h"
#include "rules.h"
#include "options.h"
#include "input.h"
#include "imgtools.h"
#include "json.h"

#define LABEL_SIZE 32

gi_op gi_request_checkop(lua_State *L, int idx) {
  int i;
  if (lua_type(L, idx) != LUA_TSTRING)
    luaL_error(L, "the operation must be a string ('generate', 'edit' or 'variation'), got %s",
               luaL_typename(L, idx));
  for (i = 0; i < 3; i++)
    if (strcmp(lua_tostring(L, idx), gi_rules_op_name((gi_op)i)) == 0) return (gi_op)i;
  luaL_error(L, "unknown operation '%s' (use 'generate', 'edit' or 'variation')", lua_tostring(L, idx));
  return GI_OP_GENERATE;
}

/* ------------------------------------------------------------------ */
/* input images */

typedef struct {
  gi_input **images;
  int count;
  int listed;     /* given as a list: parts named image[] */
  gi_input *mask;
  gi_input *markup;
} inputs;

static void read_inputs(lua_State *L, const gi_rules *r, int keep, inputs *out) {
  int image, count, i;
  memset(out, 0, sizeof *out);
  lua_getfield(L, r->snap, "image");
  image = lua_gettop(L);
  count = gi_rules_image_count(L, r, image, &out->listed);
  /* the array of pointers lives in Lua memory too, so a raise frees it */
  out->images = (gi_input **)lua_newuserdata(L, sizeof(gi_input *) * (size_t)count);
  for (i = 0; i < count; i++) {
    char label[LABEL_SIZE];
    gi_input *in = gi_input_new(L, keep);
    if (out->listed) {
      snprintf(label, sizeof label, "image %d", i + 1);
      lua_rawgeti(L, image, i + 1);
    } else {
      snprintf(label, sizeof label, "image");
      lua_pushvalue(L, image);
    }
    gi_input_read(L, -1, keep, label, in);
    lua_pop(L, 1);
    out->images[i] = in;
    out->count = i + 1;
    gi_rules_check_image(L, r, in);
  }
  /* keep the pointer array alive with the inputs */
  luaL_ref(L, keep);
  lua_pop(L, 1); /* image */
  if (r->op != GI_OP_EDIT) return;
  lua_getfield(L, r->snap, "mask");
  if (!lua_isnil(L, -1)) {
    /* { bw = picture }: made into the API's alpha mask at the first image's size */
    if (gi_imgtools_is_bw_mask(L, -1)) {
      gi_imgtools_push_bw_mask(L, -1, (uint32_t)out->images[0]->width, (uint32_t)out->images[0]->height, "mask");
      lua_replace(L, -2);
    }
    out->mask = gi_input_new(L, keep);
    gi_input_read(L, -1, keep, "mask", out->mask);
    gi_rules_check_overlay(L, r, out->mask, out->images[0], "mask");
  }
  lua_pop(L, 1);
  lua_getfield(L, r->snap, "markup");
  if (!lua_isnil(L, -1)) {
    out->markup = gi_input_new(L, keep);
    gi_input_read(L, -1, keep, "markup", out->markup);
    gi_rules_check_overlay(L, r, out->markup, out->images[0], "markup");
  }
  lua_pop(L, 1);
}

/* ------------------------------------------------------------------ */
/* the body */

/* Shortest decimal text that reads back as the same double, as
 * JavaScript's String(number) gives for the SDK's form fields. */
static void format_number(lua_State *L, int idx, char *buf, size_t size) {
  long long i;
  int digits;
  double d = (double)lua_tonumber(L, idx);
  if (gi_rules_integer(L, idx, &i) && d > -9.0e15 && d < 9.0e15) {
    snprintf(buf, size, "%lld", i);
    return;
  }
  for (digits = 15; digits <= 17; digits++) {
    snprintf(buf, size, "%.*g", digits, d);
    if (strtod(buf, NULL) == d) return;
  }
}

static void add_text_part(lua_State *L, curl_mime *mime, const char *name, int idx) {
  curl_mimepart *part;
  const char *text;
  size_t len;
  char num[40];
  CURLcode rc;
  switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN:
      text = lua_toboolean(L, idx) ? "true" : "false";
      len = strlen(text);
      break;
    case LUA_TNUMBER:
      format_number(L, idx, num, sizeof num);
      text = num;
      len = strlen(num);
      break;
    case LUA_TSTRING:
      text = lua_tolstring(L, idx, &len);
      break;
    default:
      luaL_error(L, "field '%s' cannot be sent as form text (a %s)", name, luaL_typename(L, idx));
      return;
  }
  part = curl_mime_addpart(mime);
  if (part == NULL) luaL_error(L, "gptimage: out of memory");
  rc = curl_mime_name(part, name);
  if (rc == CURLE_OK) rc = curl_mime_data(part, text, len); /* copied: small */
  if (rc != CURLE_OK) luaL_error(L, "cannot add field '%s' to the upload: %s", name, curl_easy_strerror(rc));
}

/* A value as form fields; a table (svg) as name[key] fields in key order,
 * nested as deep as it goes (svg[reasoning][effort]), as the SDK sends it. */
static void add_form_value(lua_State *L, curl_mime *mime, const char *name, int idx, int depth) {
  const char *keys[16];
  int i, j, n = 0;
  if (!lua_istable(L, idx)) {
    add_text_part(L, mime, name, idx);
    return;
  }
  if (depth > 8) luaL_error(L, "field '%s' is nested too deep", name);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "field '%s' has a key that is not a string", name);
    if (n == 16) luaL_error(L, "field '%s' has too many keys", name);
    keys[n++] = lua_tostring(L, -1); /* anchored by the table */
  }
  /* sorted, so that the same table always makes the same form */
  for (i = 1; i < n; i++)
    for (j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
      const char *t = keys[j];
      keys[j] = keys[j - 1];
      keys[j - 1] = t;
    }
  for (i = 0; i < n; i++) {
    lua_pushfstring(L, "%s[%s]", name, keys[i]);
    lua_getfield(L, idx, keys[i]);
    add_form_value(L, mime, lua_tostring(L, -2), lua_gettop(L), depth + 1);
    lua_pop(L, 2);
  }
}

/* A slot in req->input_fds for the next io file's descriptor. */
static int *reserve_fd_slot(lua_State *L, gi_request *req) {
  int *grown = (int *)realloc(req->input_fds, sizeof(int) * (size_t)(req->input_fd_count + 1));
  if (grown == NULL) luaL_error(L, "gptimage: out of memory");
  req->input_fds = grown;
  grown[req->input_fd_count] = -1;
  return &grown[req->input_fd_count++];
}

static void build_json(lua_State *L, int snap, const char *model, gi_request *req) {
  int body, i;
  size_t len;
  const char *json;
  lua_newtable(L);
  body = lua_gettop(L);
  for (i = 0; gi_options[i].name; i++) {
    if (gi_options[i].kind == GI_T_IMAGE) continue;
    lua_getfield(L, snap, gi_options[i].name);
    lua_setfield(L, body, gi_options[i].name);
  }
  if (model) {
    lua_pushstring(L, model);
    lua_setfield(L, body, "model");
  }
  lua_getfield(L, snap, "extra");
  if (lua_istable(L, -1)) {
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, body);
    }
  }
  lua_pop(L, 1);
  gi_json_encode(L, body);
  json = lua_tolstring(L, -1, &len);
  req->json = (char *)malloc(len + 1);
  if (req->json == NULL) luaL_error(L, "gptimage: out of memory");
  memcpy(req->json, json, len + 1);
  req->json_len = len;
  lua_settop(L, body - 1);
}

static void build_form(lua_State *L, int snap, const char *model, CURL *easy, inputs *in, gi_request *req) {
  int i;
  req->mime = curl_mime_init(easy);
  if (req->mime == NULL) luaL_error(L, "gptimage: out of memory");
  for (i = 0; i < in->count; i++)
    gi_input_add_part(L, req->mime, in->listed ? "image[]" : "image", in->images[i], reserve_fd_slot(L, req));
  if (in->mask) gi_input_add_part(L, req->mime, "mask", in->mask, reserve_fd_slot(L, req));
  if (in->markup) gi_input_add_part(L, req->mime, "markup", in->markup, reserve_fd_slot(L, req));
  for (i = 0; gi_options[i].name; i++) {
    const char *name = gi_options[i].name;
    if (gi_options[i].kind == GI_T_IMAGE || strcmp(name, "model") == 0) continue;
    lua_getfield(L, snap, name);
    if (!lua_isnil(L, -1)) add_form_value(L, req->mime, name, lua_gettop(L), 0);
    lua_pop(L, 1);
  }
  if (model) {
    lua_pushstring(L, model);
    add_text_part(L, req->mime, "model", lua_gettop(L));
    lua_pop(L, 1);
  }
  lua_getfield(L, snap, "extra");
  if (lua_istable(L, -1)) {
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      add_text_part(L, req->mime, lua_tostring(L, -2), lua_gettop(L));
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
}

static void copy_field(char *dst, size_t size, const char *value, const char *fallback) {
  if (value && strlen(value) < size) snprintf(dst, size, "%s", value);
  else snprintf(dst, size, "%s", fallback);
}

void gi_request_build(lua_State *L, int opts, gi_op op, const char *default_model, CURL *easy, int keep,
                      gi_request *req) {
  int top = lua_gettop(L);
  gi_rules r;
  inputs in;

  opts = lua_absindex(L, opts);
  keep = lua_absindex(L, keep);
  gi_rules_check(L, opts, op, default_model, &r);
  req->op = r.op;
  req->endpoint = r.op == GI_OP_GENERATE ? "images/generations"
                  : r.op == GI_OP_EDIT   ? "images/edits"
                                         : "images/variations";
  memset(&in, 0, sizeof in);
  if (r.op != GI_OP_GENERATE) read_inputs(L, &r, keep, &in);

  /* what the job needs to know */
  req->n = r.n.given ? (int)r.n.value : 1;
  req->stream = r.stream;
  req->partial_images = r.partial.given ? (int)r.partial.value : 0;
  req->url_response = r.response_format && strcmp(r.response_format, "url") == 0;
  copy_field(req->output_format, sizeof req->output_format,
             r.m.family == GI_MODEL_GPT || !gi_model_known(&r.m) ? r.output_format : NULL, "png");
  copy_field(req->quality, sizeof req->quality, r.quality, "");
  copy_field(req->size, sizeof req->size, r.size, "");
  if (r.model) {
    req->model = strdup(r.model);
    if (req->model == NULL) luaL_error(L, "gptimage: out of memory");
  }
  if (easy != NULL) {
    if (r.op == GI_OP_GENERATE) build_json(L, r.snap, r.model, req);
    else build_form(L, r.snap, r.model, easy, &in, req);
  }
  lua_settop(L, top);
}

int gi_request_validate(lua_State *L) {
  gi_request req;
  gi_op op = gi_request_checkop(L, 1);
  const char *model = luaL_optstring(L, 3, gi_model_default());
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 3);
  lua_newtable(L); /* keeps what the inputs anchor */
  memset(&req, 0, sizeof req);
  /* without a handle nothing is allocated until the checks are done, and
   * only the model name after them */
  gi_request_build(L, 2, op, model, NULL, 4, &req);
  gi_request_free(&req);
  lua_pushboolean(L, 1);
  return 1;
}

void gi_request_free(gi_request *req) {
  int i;
  free(req->json);
  req->json = NULL;
  req->json_len = 0;
  free(req->model);
  req->model = NULL;
  if (req->mime) curl_mime_free(req->mime);
  req->mime = NULL;
  /* after the form: nothing reads these descriptors any more */
  for (i = 0; i < req->input_fd_count; i++)
    if (req->input_fds[i] >= 0) close(req->input_fds[i]);
  free(req->input_fds);
  req->input_fds = NULL;
  req->input_fd_count = 0;
}
