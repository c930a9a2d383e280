/* request: options to a validated request body (see request.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "request.h"
#include "models.h"
#include "input.h"
#include "json.h"

#define MAX_EDIT_IMAGES 16
#define DALLE_IMAGE_LIMIT (4.0 * 1024 * 1024)
#define GPT_IMAGE_LIMIT (50.0 * 1024 * 1024)

static const char *const API_OPTIONS[] = {
  "prompt", "n", "size", "quality", "background", "output_format", "output_compression",
  "moderation", "style", "response_format", "user", "partial_images", "input_fidelity",
  "model", "image", "mask", "stream", NULL
};

const char *const gi_request_local_options[] = {
  "save", "on_partial", "on_done", "timeout", "max_retries", "extra", NULL
};

static const char *const OP_NAMES[] = {"generate", "edit", "variation"};

gi_op gi_request_checkop(lua_State *L, int idx) {
  const char *s = lua_tostring(L, idx);
  int i;
  if (lua_type(L, idx) == LUA_TSTRING)
    for (i = 0; i < 3; i++)
      if (strcmp(s, OP_NAMES[i]) == 0) return (gi_op)i;
  luaL_error(L, "unknown operation '%s' (use 'generate', 'edit', 'variation'%s)",
             s ? s : luaL_typename(L, idx), "");
  return GI_OP_GENERATE;
}

static size_t distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b), i, j, row[40];
  if (la >= 40 || lb >= 40) return 40;
  for (j = 0; j <= lb; j++) row[j] = j;
  for (i = 1; i <= la; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (j = 1; j <= lb; j++) {
      size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[lb];
}

static int known_option(const char *key) {
  int i;
  for (i = 0; API_OPTIONS[i]; i++)
    if (strcmp(key, API_OPTIONS[i]) == 0) return 1;
  for (i = 0; gi_request_local_options[i]; i++)
    if (strcmp(key, gi_request_local_options[i]) == 0) return 1;
  return 0;
}

static void check_keys(lua_State *L, int opts, gi_op op) {
  lua_pushnil(L);
  while (lua_next(L, opts)) {
    const char *key, *best = NULL;
    size_t best_d = 3;
    int i;
    if (lua_type(L, -2) != LUA_TSTRING)
      luaL_error(L, "option names must be strings, got %s", luaL_typename(L, -2));
    key = lua_tostring(L, -2);
    if (strcmp(key, "op") == 0) {
      if (lua_type(L, -1) != LUA_TSTRING || strcmp(lua_tostring(L, -1), OP_NAMES[op]) != 0)
        luaL_error(L, "option 'op' must be '%s' here", OP_NAMES[op]);
    } else if (!known_option(key)) {
      for (i = 0; API_OPTIONS[i]; i++) {
        size_t d = distance(key, API_OPTIONS[i]);
        if (d < best_d) best_d = d, best = API_OPTIONS[i];
      }
      for (i = 0; gi_request_local_options[i]; i++) {
        size_t d = distance(key, gi_request_local_options[i]);
        if (d < best_d) best_d = d, best = gi_request_local_options[i];
      }
      if (best) luaL_error(L, "unknown option '%s' (did you mean '%s'?)", key, best);
      luaL_error(L, "unknown option '%s'", key);
    }
    lua_pop(L, 1);
  }
}

/* typed getters: push nothing, return NULL/-1 when absent, raise on a wrong type */
static const char *opt_string(lua_State *L, int opts, const char *name) {
  const char *s;
  lua_getfield(L, opts, name);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return NULL;
  }
  if (lua_type(L, -1) != LUA_TSTRING)
    luaL_error(L, "option '%s' must be a string, got %s", name, luaL_typename(L, -1));
  s = lua_tostring(L, -1);
  lua_pop(L, 1); /* the options table keeps it alive */
  return s;
}

static int opt_integer(lua_State *L, int opts, const char *name, long *out) {
  lua_getfield(L, opts, name);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return 0;
  }
  if (!gi_isinteger(L, -1))
    luaL_error(L, "option '%s' must be an integer, got %s", name,
               lua_type(L, -1) == LUA_TNUMBER ? "a fraction" : luaL_typename(L, -1));
  *out = (long)lua_tointeger(L, -1);
  lua_pop(L, 1);
  return 1;
}

static int opt_boolean(lua_State *L, int opts, const char *name, int *out) {
  lua_getfield(L, opts, name);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return 0;
  }
  if (lua_type(L, -1) != LUA_TBOOLEAN)
    luaL_error(L, "option '%s' must be a boolean, got %s", name, luaL_typename(L, -1));
  *out = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return 1;
}

static void check_local_types(lua_State *L, int opts) {
  static const struct { const char *name; int type; } LOCAL[] = {
    {"save", LUA_TSTRING}, {"on_partial", LUA_TFUNCTION}, {"on_done", LUA_TFUNCTION},
    {"timeout", LUA_TNUMBER}, {"max_retries", LUA_TNUMBER}, {"extra", LUA_TTABLE}, {NULL, 0}
  };
  int i;
  for (i = 0; LOCAL[i].name; i++) {
    lua_getfield(L, opts, LOCAL[i].name);
    if (!lua_isnil(L, -1) && lua_type(L, -1) != LOCAL[i].type)
      luaL_error(L, "option '%s' must be a %s, got %s", LOCAL[i].name, lua_typename(L, LOCAL[i].type),
                 luaL_typename(L, -1));
    lua_pop(L, 1);
  }
}

/* code points of a UTF-8 string; -1 when it is not valid UTF-8 */
static long utf8_length(const char *s, size_t len) {
  size_t i = 0;
  long count = 0;
  while (i < len) {
    unsigned char c = (unsigned char)s[i];
    size_t extra, k;
    unsigned long cp;
    if (c < 0x80) extra = 0, cp = c;
    else if ((c & 0xE0) == 0xC0) extra = 1, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0) extra = 2, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0) extra = 3, cp = c & 0x07;
    else return -1;
    if (i + extra >= len + (extra == 0)) return -1;
    for (k = 1; k <= extra; k++) {
      unsigned char d = (unsigned char)s[i + k];
      if ((d & 0xC0) != 0x80) return -1;
      cp = (cp << 6) | (d & 0x3F);
    }
    if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return -1;
    i += extra + 1;
    count++;
  }
  return count;
}

static void only_for(lua_State *L, int present, const char *option, const gi_model *m, gi_family family,
                     const char *why) {
  if (!present || m->family == GI_MODEL_UNKNOWN || m->family == family) return;
  luaL_error(L, "option '%s' is only for %s, not %s%s", option, gi_family_name(family), m->name, why);
}

static void one_of(lua_State *L, const char *option, const char *value, const char *const *list) {
  const char *const *p;
  luaL_Buffer b;
  if (value == NULL) return;
  for (p = list; *p; p++)
    if (strcmp(value, *p) == 0) return;
  luaL_buffinit(L, &b);
  lua_pushfstring(L, "option '%s' = '%s' is not valid; use ", option, value);
  luaL_addvalue(&b);
  for (p = list; *p; p++) {
    luaL_addchar(&b, '\'');
    luaL_addstring(&b, *p);
    luaL_addchar(&b, '\'');
    if (p[1]) luaL_addstring(&b, p[2] ? ", " : " or ");
  }
  luaL_pushresult(&b);
  lua_error(L);
}

/* Is the value at idx a list of inputs (rather than one table input)? */
static int is_input_list(lua_State *L, int idx) {
  int list;
  idx = lua_absindex(L, idx);
  if (!lua_istable(L, idx)) return 0;
  lua_getfield(L, idx, "data");
  lua_getfield(L, idx, "path");
  list = lua_isnil(L, -1) && lua_isnil(L, -2);
  lua_pop(L, 2);
  return list;
}

static gi_input *new_input(lua_State *L, int keep) {
  gi_input *in = (gi_input *)lua_newuserdata(L, sizeof *in);
  memset(in, 0, sizeof *in);
  luaL_ref(L, keep); /* lives as long as the transfer that reads it */
  return in;
}

static void check_image_limits(lua_State *L, const gi_model *m, gi_input *in) {
  if (m->family == GI_MODEL_DALLE2) {
    if (in->type != GI_IMG_PNG) luaL_error(L, "%s must be a PNG for dall-e-2", in->label);
    if (in->width != in->height)
      luaL_error(L, "%s must be square for dall-e-2 (it is %dx%d)", in->label, (int)in->width, (int)in->height);
    if (in->size >= DALLE_IMAGE_LIMIT) luaL_error(L, "%s must be under 4 MB for dall-e-2", in->label);
  } else if (m->family == GI_MODEL_GPT && in->size >= GPT_IMAGE_LIMIT) {
    luaL_error(L, "%s must be under 50 MB", in->label);
  }
}

static void text_part(lua_State *L, curl_mime *mime, const char *name, int idx) {
  curl_mimepart *part = curl_mime_addpart(mime);
  const char *text;
  size_t len;
  CURLcode rc;
  char num[64];
  if (part == NULL) luaL_error(L, "gptimage: out of memory");
  switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN:
      text = lua_toboolean(L, idx) ? "true" : "false";
      len = strlen(text);
      break;
    case LUA_TNUMBER:
      if (gi_isinteger(L, idx)) snprintf(num, sizeof num, "%lld", (long long)lua_tointeger(L, idx));
      else snprintf(num, sizeof num, "%.14g", (double)lua_tonumber(L, idx));
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
  rc = curl_mime_name(part, name);
  rc |= curl_mime_data(part, text, len); /* copied: small */
  if (rc != CURLE_OK) luaL_error(L, "cannot add field '%s' to the upload", name);
}

void gi_request_build(lua_State *L, int opts, gi_op op, const char *default_model, CURL *easy, int keep,
                      gi_request *req) {
  const char *model, *prompt, *size, *quality, *background, *output_format, *moderation, *style;
  const char *response_format, *user, *input_fidelity;
  long n = 1, compression = -1, partial = -1;
  int stream = 0, has_n, has_stream, has_partial, has_compression, top = lua_gettop(L), i, body;
  gi_model m;
  gi_input *images[MAX_EDIT_IMAGES + 1];
  gi_input *mask = NULL;
  int nimages = 0, image_list = 0;

  opts = lua_absindex(L, opts);
  keep = lua_absindex(L, keep);
  req->op = op;
  req->endpoint = op == GI_OP_GENERATE ? "images/generations" : op == GI_OP_EDIT ? "images/edits" : "images/variations";
  check_keys(L, opts, op);
  check_local_types(L, opts);

  model = opt_string(L, opts, "model");
  if (model == NULL) model = op == GI_OP_VARIATION ? "dall-e-2" : default_model;
  m = model ? gi_model_find(model) : gi_model_find("");
  prompt = opt_string(L, opts, "prompt");
  size = opt_string(L, opts, "size");
  quality = opt_string(L, opts, "quality");
  background = opt_string(L, opts, "background");
  output_format = opt_string(L, opts, "output_format");
  moderation = opt_string(L, opts, "moderation");
  style = opt_string(L, opts, "style");
  response_format = opt_string(L, opts, "response_format");
  user = opt_string(L, opts, "user");
  input_fidelity = opt_string(L, opts, "input_fidelity");
  has_n = opt_integer(L, opts, "n", &n);
  has_compression = opt_integer(L, opts, "output_compression", &compression);
  has_partial = opt_integer(L, opts, "partial_images", &partial);
  has_stream = opt_boolean(L, opts, "stream", &stream);
  (void)user;

  /* what each operation takes */
  if (op == GI_OP_VARIATION) {
    if (prompt) luaL_error(L, "option 'prompt' is not used by variation");
    if (m.family == GI_MODEL_GPT || m.family == GI_MODEL_DALLE3)
      luaL_error(L, "variation is only for dall-e-2, not %s", m.name);
    if (has_stream || has_partial) luaL_error(L, "variation cannot stream");
  } else {
    size_t plen;
    long chars, limit = gi_model_prompt_limit(&m);
    if (prompt == NULL) luaL_error(L, "option 'prompt' is required");
    lua_getfield(L, opts, "prompt");
    lua_tolstring(L, -1, &plen);
    lua_pop(L, 1);
    chars = utf8_length(prompt, plen);
    if (chars < 0) luaL_error(L, "option 'prompt' is not valid UTF-8");
    if (limit && chars > limit)
      luaL_error(L, "option 'prompt' is %d characters; %s takes at most %d", (int)chars, m.name, (int)limit);
  }
  if (op != GI_OP_EDIT) {
    lua_getfield(L, opts, "mask");
    if (!lua_isnil(L, -1)) luaL_error(L, "option 'mask' is only for edit");
    lua_pop(L, 1);
    if (input_fidelity) luaL_error(L, "option 'input_fidelity' is only for edit");
  }
  lua_getfield(L, opts, "image");
  if (op == GI_OP_GENERATE && !lua_isnil(L, -1))
    luaL_error(L, "option 'image' is for edit and variation; generate takes only a prompt");
  if (op != GI_OP_GENERATE && lua_isnil(L, -1)) luaL_error(L, "option 'image' is required");
  lua_pop(L, 1);

  /* per model */
  if (has_n && (n < 1 || n > 10)) luaL_error(L, "option 'n' must be between 1 and 10, got %d", (int)n);
  if (has_n && n != 1 && m.family == GI_MODEL_DALLE3) luaL_error(L, "option 'n' must be 1 for dall-e-3");
  if (size) gi_model_check_size(L, &m, size);
  if (quality) gi_model_check_quality(L, &m, quality);
  only_for(L, style != NULL, "style", &m, GI_MODEL_DALLE3, "");
  if (style) {
    static const char *const STYLES[] = {"vivid", "natural", NULL};
    one_of(L, "style", style, STYLES);
  }
  if (response_format && m.family == GI_MODEL_GPT)
    luaL_error(L, "option 'response_format' is only for dall-e-2 and dall-e-3; %s always returns b64_json", m.name);
  if (response_format) {
    static const char *const FORMATS[] = {"url", "b64_json", NULL};
    one_of(L, "response_format", response_format, FORMATS);
  }
  {
    static const char *const GPT_ONLY[] = {"output_format", "background", "moderation", "partial_images",
                                           "stream", "output_compression", "input_fidelity", NULL};
    const int present[] = {output_format != NULL, background != NULL, moderation != NULL, has_partial,
                           has_stream, has_compression, input_fidelity != NULL};
    for (i = 0; GPT_ONLY[i]; i++)
      if (present[i] && (m.family == GI_MODEL_DALLE2 || m.family == GI_MODEL_DALLE3))
        luaL_error(L, "option '%s' is only for GPT image models, not %s", GPT_ONLY[i], m.name);
  }
  if (output_format) {
    static const char *const OUT[] = {"png", "jpeg", "webp", NULL};
    one_of(L, "output_format", output_format, OUT);
  }
  if (moderation) {
    static const char *const MOD[] = {"low", "auto", NULL};
    one_of(L, "moderation", moderation, MOD);
  }
  if (background) {
    static const char *const BG[] = {"transparent", "opaque", "auto", NULL};
    one_of(L, "background", background, BG);
    if (strcmp(background, "transparent") == 0) {
      if (!m.transparent) luaL_error(L, "%s does not support background = 'transparent'", m.name);
      if (output_format && strcmp(output_format, "jpeg") == 0)
        luaL_error(L, "background = 'transparent' needs output_format 'png' or 'webp'");
    }
  }
  if (has_compression && (compression < 0 || compression > 100))
    luaL_error(L, "option 'output_compression' must be between 0 and 100, got %d", (int)compression);
  if (has_partial && (partial < 0 || partial > 3))
    luaL_error(L, "option 'partial_images' must be between 0 and 3, got %d", (int)partial);
  if (input_fidelity) {
    static const char *const FID[] = {"high", "low", NULL};
    one_of(L, "input_fidelity", input_fidelity, FID);
    if (!m.input_fidelity) luaL_error(L, "%s does not support input_fidelity", m.name);
  }

  /* inputs: examined before anything is built */
  if (op != GI_OP_GENERATE) {
    lua_getfield(L, opts, "image");
    image_list = is_input_list(L, -1);
    if (image_list) {
      int count = (int)lua_rawlen(L, -1);
      if (count < 1) luaL_error(L, "option 'image' is an empty list");
      if (op == GI_OP_VARIATION || m.family == GI_MODEL_DALLE2) {
        if (count != 1) luaL_error(L, "%s takes exactly one image", op == GI_OP_VARIATION ? "variation" : m.name);
      } else if (count > MAX_EDIT_IMAGES) {
        luaL_error(L, "edit takes at most %d images, got %d", MAX_EDIT_IMAGES, count);
      }
      for (i = 1; i <= count; i++) {
        char label[32];
        snprintf(label, sizeof label, "image %d", i);
        lua_rawgeti(L, -1, i);
        images[nimages] = new_input(L, keep);
        gi_input_read(L, -1, keep, label, images[nimages]);
        check_image_limits(L, &m, images[nimages]);
        nimages++;
        lua_pop(L, 1);
      }
    } else {
      images[0] = new_input(L, keep);
      gi_input_read(L, -1, keep, "image", images[0]);
      check_image_limits(L, &m, images[0]);
      nimages = 1;
    }
    lua_pop(L, 1);
    if (op == GI_OP_VARIATION) {
      if (images[0]->type != GI_IMG_PNG) luaL_error(L, "%s must be a PNG for variation", images[0]->label);
      if (images[0]->width != images[0]->height) luaL_error(L, "%s must be square for variation", images[0]->label);
      if (images[0]->size >= DALLE_IMAGE_LIMIT) luaL_error(L, "%s must be under 4 MB for variation", images[0]->label);
    }
    lua_getfield(L, opts, "mask");
    if (!lua_isnil(L, -1)) {
      mask = new_input(L, keep);
      gi_input_read(L, -1, keep, "mask", mask);
      if (mask->type != GI_IMG_PNG) luaL_error(L, "the mask must be a PNG");
      if (!mask->alpha) luaL_error(L, "the mask must have an alpha channel (transparent where to edit)");
      if (mask->size >= DALLE_IMAGE_LIMIT) luaL_error(L, "the mask must be under 4 MB");
      if (mask->width != images[0]->width || mask->height != images[0]->height)
        luaL_error(L, "the mask is %dx%d but the first image is %dx%d: they must be the same size",
                   (int)mask->width, (int)mask->height, (int)images[0]->width, (int)images[0]->height);
    }
    lua_pop(L, 1);
  }

  /* what the job needs to know */
  req->n = (int)n;
  req->stream = stream;
  req->partial_images = partial > 0 ? (int)partial : 0;
  req->url_response = response_format && strcmp(response_format, "url") == 0;
  snprintf(req->output_format, sizeof req->output_format, "%s", output_format ? output_format : "png");
  snprintf(req->quality, sizeof req->quality, "%s", quality ? quality : "");
  snprintf(req->size, sizeof req->size, "%s", size ? size : "");
  if (model) {
    req->model = strdup(model);
    if (req->model == NULL) luaL_error(L, "gptimage: out of memory");
  }
  if (easy == NULL) {
    lua_settop(L, top);
    return;
  }

  /* the body: every API field given, then extra */
  lua_newtable(L);
  body = lua_gettop(L);
  for (i = 0; API_OPTIONS[i]; i++) {
    if (strcmp(API_OPTIONS[i], "image") == 0 || strcmp(API_OPTIONS[i], "mask") == 0) continue;
    lua_getfield(L, opts, API_OPTIONS[i]);
    lua_setfield(L, body, API_OPTIONS[i]);
  }
  if (model) {
    lua_pushstring(L, model);
    lua_setfield(L, body, "model");
  }
  lua_getfield(L, opts, "extra");
  if (lua_istable(L, -1)) {
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "option 'extra' must map field names to values");
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_settable(L, body);
    }
  }
  lua_pop(L, 1);

  if (op == GI_OP_GENERATE) {
    size_t len;
    const char *json;
    gi_json_encode(L, body);
    json = lua_tolstring(L, -1, &len);
    req->json = (char *)malloc(len + 1);
    if (req->json == NULL) luaL_error(L, "gptimage: out of memory");
    memcpy(req->json, json, len + 1);
    req->json_len = len;
  } else {
    req->mime = curl_mime_init(easy);
    if (req->mime == NULL) luaL_error(L, "gptimage: out of memory");
    for (i = 0; i < nimages; i++) gi_input_add_part(L, req->mime, image_list ? "image[]" : "image", images[i]);
    if (mask) gi_input_add_part(L, req->mime, "mask", mask);
    lua_pushnil(L);
    while (lua_next(L, body)) {
      if (lua_type(L, -1) == LUA_TTABLE) luaL_error(L, "field '%s' cannot be sent in a form", lua_tostring(L, -2));
      text_part(L, req->mime, lua_tostring(L, -2), lua_gettop(L));
      lua_pop(L, 1);
    }
  }
  lua_settop(L, top);
}

void gi_request_free(gi_request *req) {
  free(req->json);
  req->json = NULL;
  req->json_len = 0;
  free(req->model);
  req->model = NULL;
  if (req->mime) curl_mime_free(req->mime);
  req->mime = NULL;
}
