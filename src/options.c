/* options: the request fields of the Images API (see options.h).
 *
 * Source: the official SDK (npm openai 7.60.0, src/resources/images.ts). */
#include <string.h>
#include "options.h"

#define GPT GI_FAMS_GPT
#define DALLE GI_FAMS_DALLE
#define DALLE3 GI_FAM(GI_MODEL_DALLE3)
#define ALL GI_FAMS_ALL
#define GEN GI_ON_GENERATE
#define EDIT GI_ON_EDIT
#define VAR GI_ON_VARIATION
#define NO_RANGE 1, 0

static const gi_value QUALITY[] = {
  {"low", GPT, 0}, {"medium", GPT, 0}, {"high", GPT, 0},
  {"xhigh", GPT, GI_CAP_XHIGH}, {"max", GPT, GI_CAP_XHIGH}, {"auto", GPT, 0},
  {"standard", DALLE, 0}, {"hd", DALLE3, 0}, {NULL, 0, 0}
};
static const gi_value BACKGROUND[] = {
  {"transparent", GPT, GI_CAP_TRANSPARENT}, {"opaque", GPT, 0}, {"auto", GPT, 0}, {NULL, 0, 0}
};
static const gi_value OUTPUT_FORMAT[] = {
  {"png", GPT, 0}, {"jpeg", GPT, 0}, {"webp", GPT, 0},
  {"gif", GPT, GI_CAP_GIF}, {"svg", GPT, GI_CAP_SVG}, {NULL, 0, 0}
};
static const gi_value MODERATION[] = {{"low", GPT, 0}, {"auto", GPT, 0}, {NULL, 0, 0}};
static const gi_value STYLE[] = {{"vivid", DALLE3, 0}, {"natural", DALLE3, 0}, {NULL, 0, 0}};
static const gi_value RESPONSE_FORMAT[] = {{"url", DALLE, 0}, {"b64_json", DALLE, 0}, {NULL, 0, 0}};
static const gi_value INPUT_FIDELITY[] = {
  {"high", GPT, GI_CAP_FIDELITY}, {"low", GPT, GI_CAP_FIDELITY | GI_CAP_FIDELITY_LOW}, {NULL, 0, 0}
};
static const gi_value COMPLEXITY[] = {{"low", GPT, 0}, {"medium", GPT, 0}, {"high", GPT, 0}, {NULL, 0, 0}};

const gi_option gi_options[] = {
  {"image", GI_T_IMAGE, EDIT | VAR, ALL, 0, NULL, NO_RANGE, "PATH",
   "the input image(s): PNG, JPEG or WebP (up to 16 for GPT image models)"},
  {"mask", GI_T_IMAGE, EDIT, ALL, 0, NULL, NO_RANGE, "PATH",
   "a PNG whose transparent pixels mark where the first image may change"},
  {"markup", GI_T_IMAGE, EDIT, GPT, GI_CAP_MARKUP, NULL, NO_RANGE, "PATH",
   "a transparent PNG the size of the first image drawn over it to guide the edit (2.5 and newer; not with mask)"},
  {"prompt", GI_T_STRING, GEN | EDIT, ALL, 0, NULL, NO_RANGE, "TEXT", "the prompt"},
  {"model", GI_T_STRING, GEN | EDIT | VAR, ALL, 0, NULL, NO_RANGE, "MODEL", "the model"},
  {"n", GI_T_INTEGER, GEN | EDIT | VAR, ALL, 0, NULL, 1, 10, "N", "images per request (1-10; dall-e-3: 1)"},
  {"size", GI_T_STRING, GEN | EDIT | VAR, ALL, 0, NULL, NO_RANGE, "WxH",
   "auto, 1024x1024, 1536x1024, 1024x1536; 2.x: any WxH in multiples of 16, 1:3 to 3:1, at most 3840x2160"},
  {"quality", GI_T_STRING, GEN | EDIT, ALL, 0, QUALITY, NO_RANGE, "Q",
   "low, medium, high or auto; xhigh and max on 2.5 and newer (legacy dall-e: standard, hd)"},
  {"background", GI_T_STRING, GEN | EDIT, GPT, 0, BACKGROUND, NO_RANGE, "B",
   "transparent (png or webp), opaque or auto"},
  {"output_format", GI_T_STRING, GEN | EDIT, GPT, 0, OUTPUT_FORMAT, NO_RANGE, "F",
   "png, jpeg or webp; gif (animated) and svg on 2.5 and newer"},
  {"output_compression", GI_T_INTEGER, GEN | EDIT, GPT, 0, NULL, 0, 100, "0-100", "jpeg/webp compression"},
  {"moderation", GI_T_STRING, GEN, GPT, 0, MODERATION, NO_RANGE, "M", "low or auto"},
  {"style", GI_T_STRING, GEN, DALLE3, 0, STYLE, NO_RANGE, "S", "vivid or natural (legacy: dall-e-3)"},
  {"response_format", GI_T_STRING, GEN | EDIT | VAR, DALLE, 0, RESPONSE_FORMAT, NO_RANGE, "F",
   "url or b64_json (legacy: dall-e only)"},
  {"user", GI_T_STRING, GEN | EDIT | VAR, ALL, 0, NULL, NO_RANGE, "ID",
   "an end-user id (deprecated: use safety_identifier)"},
  {"safety_identifier", GI_T_STRING, GEN | EDIT, ALL, 0, NULL, NO_RANGE, "ID",
   "a stable, hashed end-user id for safety monitoring"},
  {"input_fidelity", GI_T_STRING, EDIT, GPT, GI_CAP_FIDELITY | GI_CAP_FIDELITY_LOW, INPUT_FIDELITY, NO_RANGE, "F",
   "low or high: how closely edits keep the inputs (not gpt-image-2)"},
  {"partial_images", GI_T_INTEGER, GEN | EDIT, GPT, GI_CAP_STREAM, NULL, 0, 3, "N",
   "0-3: stream the answer, reporting partial images"},
  {"stream", GI_T_BOOLEAN, GEN | EDIT, GPT, GI_CAP_STREAM, NULL, NO_RANGE, NULL, "stream the answer"},
  {"complexity", GI_T_STRING, GEN | EDIT, GPT, 0, COMPLEXITY, NO_RANGE, "C",
   "low, medium or high: how much the model plans the image"},
  {"frame_count", GI_T_INTEGER, GEN | EDIT, GPT, GI_CAP_GIF, NULL, 2, 16, "N",
   "frames of a gif (2-16, default 9)"},
  {"frame_duration_ms", GI_T_INTEGER, GEN | EDIT, GPT, GI_CAP_GIF, NULL, 0, -1, "MS",
   "delay per gif frame in milliseconds (default 200)"},
  {"svg", GI_T_TABLE, GEN | EDIT, GPT, GI_CAP_SVG, NULL, NO_RANGE, "JSON",
   "svg output: { model = author model, reasoning = { effort = ... } }"},
  {NULL, GI_T_STRING, 0, 0, 0, NULL, NO_RANGE, NULL, NULL}
};

const gi_option *gi_option_find(const char *name) {
  int i;
  for (i = 0; gi_options[i].name; i++)
    if (strcmp(gi_options[i].name, name) == 0) return &gi_options[i];
  return NULL;
}

static int takes(unsigned families, unsigned caps, const gi_model *m) {
  if (!gi_model_known(m)) return 1;
  return (families & GI_FAM(m->family)) && (caps == 0 || gi_model_has(m, caps));
}

int gi_option_takes(const gi_option *o, const gi_model *m) { return takes(o->families, o->caps, m); }

int gi_value_takes(const gi_value *v, const gi_model *m) { return takes(v->families, v->caps, m); }

const gi_value *gi_option_value(const gi_option *o, const char *value) {
  const gi_value *v;
  if (o->values == NULL) return NULL;
  for (v = o->values; v->value; v++)
    if (strcmp(v->value, value) == 0) return v;
  return NULL;
}

void gi_option_raise_value(lua_State *L, const gi_option *o, const char *value, const gi_model *m) {
  const char *allowed[16];
  int count = 0;
  const gi_value *v;
  for (v = o->values; v && v->value && count < 15; v++)
    if (gi_value_takes(v, m)) allowed[count++] = v->value;
  allowed[count] = NULL;
  if (count == 0) luaL_error(L, "option '%s' = '%s' is not supported by %s", o->name, value, m->name);
  gi_model_raise_choice(L, o->name, value, m, allowed);
}

/* ------------------------------------------------------------------ */
/* gptimage.options */

static const char *const KIND_NAMES[] = {"string", "integer", "boolean", "image", "function", "number", "table"};
static const char *const ENDPOINTS[] = {"generate", "edit", "variation"};

static void push_option(lua_State *L, const gi_option *o) {
  int i, n;
  const gi_value *v;
  lua_newtable(L);
  lua_pushstring(L, o->name);
  lua_setfield(L, -2, "name");
  lua_pushstring(L, KIND_NAMES[o->kind]);
  lua_setfield(L, -2, "type");
  lua_newtable(L);
  for (i = 0, n = 0; i < 3; i++)
    if (o->on & (1 << i)) {
      lua_pushstring(L, ENDPOINTS[i]);
      lua_rawseti(L, -2, ++n);
    }
  lua_setfield(L, -2, "endpoints");
  if (o->values) {
    lua_newtable(L);
    for (v = o->values, n = 0; v->value; v++) {
      lua_pushstring(L, v->value);
      lua_rawseti(L, -2, ++n);
    }
    lua_setfield(L, -2, "values");
  }
  if (strcmp(o->name, "size") == 0) {
    /* the standard sizes, for completion; the 2.x family takes any WxH too */
    static const char *const SIZES[] = {"auto", "1024x1024", "1536x1024", "1024x1536", "256x256", "512x512",
                                        "1792x1024", "1024x1792", NULL};
    lua_newtable(L);
    for (i = 0; SIZES[i]; i++) {
      lua_pushstring(L, SIZES[i]);
      lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "values");
  }
  if (o->min <= o->max || o->max < 0) {
    lua_pushinteger(L, (lua_Integer)o->min);
    lua_setfield(L, -2, "min");
    if (o->max >= 0) {
      lua_pushinteger(L, (lua_Integer)o->max);
      lua_setfield(L, -2, "max");
    }
  }
  /* the known models that take it */
  lua_newtable(L);
  for (i = 0, n = 0; gi_model_at(i); i++)
    if (gi_option_takes(o, gi_model_at(i))) {
      lua_pushstring(L, gi_model_at(i)->name);
      lua_rawseti(L, -2, ++n);
    }
  lua_setfield(L, -2, "models");
  if (o->meta) {
    lua_pushstring(L, o->meta);
    lua_setfield(L, -2, "meta");
  }
  lua_pushstring(L, o->help);
  lua_setfield(L, -2, "help");
}

void gi_options_push(lua_State *L) {
  int i;
  lua_newtable(L);
  for (i = 0; gi_options[i].name; i++) {
    push_option(L, &gi_options[i]);
    lua_pushvalue(L, -1);
    lua_rawseti(L, -3, i + 1);
    lua_setfield(L, -2, gi_options[i].name);
  }
}

void gi_options_add_model_values(lua_State *L, int idx) {
  int i, j, n;
  const gi_value *v;
  idx = lua_absindex(L, idx);
  for (i = 0; gi_model_at(i); i++) {
    const gi_model *m = gi_model_at(i);
    lua_rawgeti(L, idx, i + 1);
    lua_newtable(L); /* values */
    for (j = 0; gi_options[j].name; j++) {
      const gi_option *o = &gi_options[j];
      if (o->values == NULL || !gi_option_takes(o, m)) continue;
      lua_newtable(L);
      for (v = o->values, n = 0; v->value; v++)
        if (gi_value_takes(v, m)) {
          lua_pushstring(L, v->value);
          lua_rawseti(L, -2, ++n);
        }
      lua_setfield(L, -2, o->name);
    }
    lua_setfield(L, -2, "values");
    lua_pop(L, 1);
  }
}
