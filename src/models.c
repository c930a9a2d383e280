/* models: the models of the Images API (see models.h).
 *
 * Sources: the official SDK (npm openai 7.60.0, src/resources/images.ts)
 * and the API's deprecations page.  Where the SDK says "preview" or names no
 * model for a feature, the rows allow it: the API is the judge. */
#include <stdlib.h>
#include <string.h>
#include "models.h"

#define REPLACED_BY_2_6 "gpt-image-2.6-flare or gpt-image-2.6-sunburst"

/* what every GPT image model does */
#define GPT (GI_CAP_EDIT | GI_CAP_STREAM)
/* the 2.x family: any size, transparent backgrounds (preview on gpt-image-2) */
#define GPT2 (GPT | GI_CAP_ANY_SIZE | GI_CAP_TRANSPARENT)
/* 2.5 and 2.6: xhigh and max, markup, input_fidelity, GIF and SVG output */
#define GPT25 (GPT2 | GI_CAP_XHIGH | GI_CAP_MARKUP | GI_CAP_FIDELITY | GI_CAP_GIF | GI_CAP_SVG)
/* the 2.x prices, per million tokens: text in, image in, image out */
#define PRICES_2 5.0, 8.0, 30.0

/* gpt-image-1's published output tokens per image (and only gpt-image-1's) */
static const gi_tokens GPT_IMAGE_1_TOKENS[] = {
  {"low", 272, 408, 400},
  {"medium", 1056, 1584, 1568},
  {"high", 4160, 6240, 6208},
  {NULL, 0, 0, 0}
};

static const gi_image_price DALLE2_PRICES[] = {
  {NULL, "256x256", 0.016},
  {NULL, "512x512", 0.018},
  {NULL, "1024x1024", 0.020},
  {NULL, NULL, 0}
};

static const gi_image_price DALLE3_PRICES[] = {
  {"standard", "1024x1024", 0.040},
  {"standard", "1024x1792", 0.080},
  {"standard", "1792x1024", 0.080},
  {"hd", "1024x1024", 0.080},
  {"hd", "1024x1792", 0.120},
  {"hd", "1792x1024", 0.120},
  {NULL, NULL, 0}
};

static const gi_model MODELS[] = {
  /* current */
  {"gpt-image-2.6-flare", GI_MODEL_GPT, GI_ACTIVE, "2026-11-04", NULL, GPT25, PRICES_2, NULL, NULL},
  {"gpt-image-2.6-sunburst", GI_MODEL_GPT, GI_ACTIVE, "2026-11-04", NULL, GPT25, PRICES_2, NULL, NULL},
  {"gpt-image-2.5-flare", GI_MODEL_GPT, GI_ACTIVE, NULL, NULL, GPT25, PRICES_2, NULL, NULL},
  {"gpt-image-2.5-flare-2026-09-08", GI_MODEL_GPT, GI_ACTIVE, "2026-09-08", NULL, GPT25, PRICES_2, NULL, NULL},
  {"gpt-image-2.5-sunburst", GI_MODEL_GPT, GI_ACTIVE, NULL, NULL, GPT25, PRICES_2, NULL, NULL},
  {"gpt-image-2.5-sunburst-2026-09-08", GI_MODEL_GPT, GI_ACTIVE, "2026-09-08", NULL, GPT25, PRICES_2, NULL, NULL},
  /* input_fidelity: "for gpt-image-2, omit this parameter" */
  {"gpt-image-2", GI_MODEL_GPT, GI_ACTIVE, NULL, NULL, GPT2, PRICES_2, NULL, NULL},
  {"gpt-image-2-2026-04-21", GI_MODEL_GPT, GI_ACTIVE, "2026-04-21", NULL, GPT2, PRICES_2, NULL, NULL},
  /* shut down: still sent (Azure deployments and compatible servers keep them) */
  {"gpt-image-1.5", GI_MODEL_GPT, GI_SHUT_DOWN, "2026-12-01", REPLACED_BY_2_6,
   GPT | GI_CAP_TRANSPARENT | GI_CAP_FIDELITY, 0, 0, 0, NULL, NULL},
  {"gpt-image-1.5-2025-12-16", GI_MODEL_GPT, GI_SHUT_DOWN, "2026-12-01", REPLACED_BY_2_6,
   GPT | GI_CAP_TRANSPARENT | GI_CAP_FIDELITY, 0, 0, 0, NULL, NULL},
  {"gpt-image-1-mini", GI_MODEL_GPT, GI_SHUT_DOWN, "2026-12-01", REPLACED_BY_2_6,
   GPT | GI_CAP_TRANSPARENT | GI_CAP_FIDELITY_LOW, 2.0, 2.5, 8.0, NULL, NULL},
  {"chatgpt-image-latest", GI_MODEL_GPT, GI_SHUT_DOWN, "2026-12-01", REPLACED_BY_2_6,
   GPT | GI_CAP_TRANSPARENT | GI_CAP_FIDELITY, 0, 0, 0, NULL, NULL},
  {"gpt-image-1", GI_MODEL_GPT, GI_SHUT_DOWN, "2026-10-23", REPLACED_BY_2_6,
   GPT | GI_CAP_TRANSPARENT | GI_CAP_FIDELITY, 5.0, 10.0, 40.0, NULL, GPT_IMAGE_1_TOKENS},
  {"dall-e-3", GI_MODEL_DALLE3, GI_SHUT_DOWN, "2026-05-12", REPLACED_BY_2_6, 0, 0, 0, 0, DALLE3_PRICES, NULL},
  {"dall-e-2", GI_MODEL_DALLE2, GI_SHUT_DOWN, "2026-05-12", REPLACED_BY_2_6, GI_CAP_EDIT | GI_CAP_VARIATION,
   0, 0, 0, DALLE2_PRICES, NULL},
  {NULL, GI_MODEL_UNKNOWN, GI_ACTIVE, NULL, NULL, 0, 0, 0, 0, NULL, NULL}
};

/* sizes of any shape */
#define ANY_SIZE_STEP 16
#define ANY_SIZE_MAX_EDGE 3840L
#define ANY_SIZE_MAX_PIXELS (3840L * 2160L)
#define ANY_SIZE_MAX_RATIO 3

const char *gi_model_default(void) {
  const char *env = getenv("GPTIMAGE_MODEL");
  return env != NULL && env[0] != '\0' ? env : GI_DEFAULT_MODEL;
}

gi_model gi_model_find(const char *name) {
  int i;
  gi_model unknown;
  memset(&unknown, 0, sizeof unknown);
  unknown.name = "";
  unknown.family = GI_MODEL_UNKNOWN;
  if (name == NULL) return unknown;
  for (i = 0; MODELS[i].name; i++)
    if (strcmp(MODELS[i].name, name) == 0) return MODELS[i];
  unknown.name = name;
  return unknown;
}

int gi_model_known(const gi_model *m) { return m->family != GI_MODEL_UNKNOWN; }

int gi_model_has(const gi_model *m, unsigned caps) { return (m->caps & caps) != 0; }

const gi_model *gi_model_at(int i) {
  if (i < 0 || i >= (int)(sizeof MODELS / sizeof MODELS[0]) - 1) return NULL;
  return &MODELS[i];
}

const char *gi_families_text(unsigned families) {
  switch (families) {
    case GI_FAMS_GPT: return "GPT image models";
    case GI_FAM(GI_MODEL_DALLE2): return "dall-e-2";
    case GI_FAM(GI_MODEL_DALLE3): return "dall-e-3";
    case GI_FAMS_DALLE: return "dall-e-2 and dall-e-3";
    default: return "some models";
  }
}

const char *gi_state_name(gi_state s) {
  switch (s) {
    case GI_DEPRECATED: return "deprecated";
    case GI_SHUT_DOWN: return "shut down";
    default: return "active";
  }
}

static int in_list(const char *value, const char *const *list) {
  for (; *list; list++)
    if (strcmp(value, *list) == 0) return 1;
  return 0;
}

void gi_model_raise_choice(lua_State *L, const char *option, const char *value, const gi_model *m,
                           const char *const *allowed) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  lua_pushfstring(L, "option '%s' = '%s' is not valid for %s; use ", option, value, m->name);
  luaL_addvalue(&b);
  for (; *allowed; allowed++) {
    luaL_addchar(&b, '\'');
    luaL_addstring(&b, *allowed);
    luaL_addchar(&b, '\'');
    if (allowed[1]) luaL_addstring(&b, allowed[2] ? ", " : " or ");
  }
  luaL_pushresult(&b);
  lua_error(L);
}

static const char *const GPT_SIZES[] = {"1024x1024", "1536x1024", "1024x1536", "auto", NULL};
static const char *const DALLE2_SIZES[] = {"256x256", "512x512", "1024x1024", NULL};
static const char *const DALLE3_SIZES[] = {"1024x1024", "1792x1024", "1024x1792", NULL};

const char *const *gi_model_sizes(const gi_model *m) {
  switch (m->family) {
    case GI_MODEL_GPT: return GPT_SIZES;
    case GI_MODEL_DALLE2: return DALLE2_SIZES;
    case GI_MODEL_DALLE3: return DALLE3_SIZES;
    default: return NULL;
  }
}

/* Reads 1 to 6 decimal digits (no sign, no leading zero, no spaces) up to
 * stop; returns the value or -1. */
static long parse_edge(const char **p, char stop) {
  const char *s = *p;
  long v = 0;
  int digits = 0;
  if (*s < '1' || *s > '9') return -1;
  /* counting on past six digits, so that a long number is refused whole */
  for (; *s >= '0' && *s <= '9'; s++, digits++)
    if (digits < 6) v = v * 10 + (*s - '0');
  if (*s != stop || digits > 6) return -1;
  *p = s;
  return v;
}

void gi_model_check_size(lua_State *L, const gi_model *m, const char *size) {
  const char *const *list = gi_model_sizes(m);
  const char *p = size;
  long w, h;
  if (list == NULL || in_list(size, list)) return;
  if (!gi_model_has(m, GI_CAP_ANY_SIZE)) gi_model_raise_choice(L, "size", size, m, list);
  w = parse_edge(&p, 'x');
  if (w > 0) {
    p++;
    h = parse_edge(&p, '\0');
  } else {
    h = -1;
  }
  if (w <= 0 || h <= 0)
    luaL_error(L, "option 'size' = '%s' is not valid for %s; use 'auto', '1024x1024', '1536x1024', "
                  "'1024x1536' or any 'WIDTHxHEIGHT' in multiples of %d", size, m->name, ANY_SIZE_STEP);
  if (w % ANY_SIZE_STEP || h % ANY_SIZE_STEP)
    luaL_error(L, "option 'size' = '%s' is not valid for %s: width and height must be multiples of %d",
               size, m->name, ANY_SIZE_STEP);
  if (w > ANY_SIZE_MAX_RATIO * h || h > ANY_SIZE_MAX_RATIO * w)
    luaL_error(L, "option 'size' = '%s' is not valid for %s: the aspect ratio must be between 1:3 and 3:1",
               size, m->name);
  if (w > ANY_SIZE_MAX_EDGE || h > ANY_SIZE_MAX_EDGE)
    luaL_error(L, "option 'size' = '%s' is not valid for %s: the longest edge can be at most %d pixels",
               size, m->name, (int)ANY_SIZE_MAX_EDGE);
  if (w * h > ANY_SIZE_MAX_PIXELS)
    luaL_error(L, "option 'size' = '%s' is not valid for %s: at most 3840x2160 (%d) pixels in all",
               size, m->name, (int)ANY_SIZE_MAX_PIXELS);
}

long gi_model_prompt_limit(const gi_model *m) {
  switch (m->family) {
    case GI_MODEL_GPT: return 32000;
    case GI_MODEL_DALLE2: return 1000;
    case GI_MODEL_DALLE3: return 4000;
    default: return 0;
  }
}

int gi_model_max_edit_images(const gi_model *m) {
  if (!gi_model_known(m)) return -1;
  if (!gi_model_has(m, GI_CAP_EDIT)) return 0;
  return m->family == GI_MODEL_GPT ? 16 : 1;
}

/* ------------------------------------------------------------------ */
/* gptimage.models */

static void push_list(lua_State *L, const char *const *list) {
  int i;
  lua_newtable(L);
  for (i = 0; list[i]; i++) {
    lua_pushstring(L, list[i]);
    lua_rawseti(L, -2, i + 1);
  }
}

static void set_bool(lua_State *L, const char *key, int v) {
  lua_pushboolean(L, v != 0);
  lua_setfield(L, -2, key);
}

static void push_prices(lua_State *L, const gi_model *m) {
  int i;
  lua_newtable(L);
  if (m->per_image) {
    lua_newtable(L);
    for (i = 0; m->per_image[i].size; i++) {
      if (m->per_image[i].quality) lua_pushfstring(L, "%s/%s", m->per_image[i].quality, m->per_image[i].size);
      else lua_pushstring(L, m->per_image[i].size);
      lua_pushnumber(L, m->per_image[i].dollars);
      lua_rawset(L, -3);
    }
    lua_setfield(L, -2, "per_image");
    return;
  }
  lua_pushnumber(L, m->text_in);
  lua_setfield(L, -2, "text_input");
  lua_pushnumber(L, m->image_in);
  lua_setfield(L, -2, "image_input");
  lua_pushnumber(L, m->image_out);
  lua_setfield(L, -2, "image_output");
}

static void push_model(lua_State *L, const gi_model *m) {
  static const char *const FAMILY[] = {"gpt", "dall-e-2", "dall-e-3"};
  static const char *const ANY_SIZE[] = {"any WIDTHxHEIGHT: multiples of 16, aspect 1:3 to 3:1, at most 3840x2160",
                                         NULL};
  lua_newtable(L);
  lua_pushstring(L, m->name);
  lua_setfield(L, -2, "name");
  lua_pushstring(L, FAMILY[m->family]);
  lua_setfield(L, -2, "family");
  lua_pushstring(L, gi_state_name(m->state));
  lua_setfield(L, -2, "state");
  if (m->date) {
    lua_pushstring(L, m->date);
    lua_setfield(L, -2, m->state == GI_SHUT_DOWN ? "shutdown" : "released");
  }
  if (m->replacement) {
    lua_pushstring(L, m->replacement);
    lua_setfield(L, -2, "replacement");
  }
  push_list(L, gi_model_sizes(m));
  lua_setfield(L, -2, "sizes");
  if (gi_model_has(m, GI_CAP_ANY_SIZE)) {
    lua_pushstring(L, ANY_SIZE[0]);
    lua_setfield(L, -2, "any_size");
  }
  set_bool(L, "edit", gi_model_has(m, GI_CAP_EDIT));
  set_bool(L, "variation", gi_model_has(m, GI_CAP_VARIATION));
  set_bool(L, "streaming", gi_model_has(m, GI_CAP_STREAM));
  set_bool(L, "transparent", gi_model_has(m, GI_CAP_TRANSPARENT));
  set_bool(L, "markup", gi_model_has(m, GI_CAP_MARKUP));
  set_bool(L, "gif", gi_model_has(m, GI_CAP_GIF));
  set_bool(L, "svg", gi_model_has(m, GI_CAP_SVG));
  lua_pushinteger(L, (lua_Integer)gi_model_prompt_limit(m));
  lua_setfield(L, -2, "prompt_limit");
  lua_pushinteger(L, (lua_Integer)gi_model_max_edit_images(m));
  lua_setfield(L, -2, "max_images");
  if (m->per_image || m->text_in > 0 || m->image_out > 0) {
    push_prices(L, m);
    lua_setfield(L, -2, "prices");
  }
  set_bool(L, "token_table", m->tokens != NULL);
}

void gi_models_push(lua_State *L) {
  int i;
  lua_newtable(L);
  for (i = 0; MODELS[i].name; i++) {
    push_model(L, &MODELS[i]);
    lua_pushvalue(L, -1);
    lua_rawseti(L, -3, i + 1);
    lua_setfield(L, -2, MODELS[i].name);
  }
}
