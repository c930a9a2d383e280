/* models: per-model rules of the Images API (see models.h). */
#include <stdlib.h>
#include <string.h>
#include "models.h"

static const gi_model MODELS[] = {
  /* name                    family          any_size fidelity transparent */
  {"gpt-image-1",            GI_MODEL_GPT,    0, 1, 1},
  {"gpt-image-1-mini",       GI_MODEL_GPT,    0, 0, 1},
  {"gpt-image-1.5",          GI_MODEL_GPT,    0, 1, 1},
  {"gpt-image-2",            GI_MODEL_GPT,    1, 1, 0},
  {"gpt-image-2-2026-04-21", GI_MODEL_GPT,    1, 1, 0},
  {"gpt-image-2.5-sunburst", GI_MODEL_GPT,    1, 1, 1},
  {"gpt-image-2.5-sunburst-2026-09-08", GI_MODEL_GPT, 1, 1, 1},
  {"gpt-image-2.5-flare",    GI_MODEL_GPT,    1, 1, 1},
  {"gpt-image-2.5-flare-2026-09-08", GI_MODEL_GPT, 1, 1, 1},
  {"gpt-image-2.6-sunburst", GI_MODEL_GPT,    1, 1, 1},
  {"gpt-image-2.6-flare",    GI_MODEL_GPT,    1, 1, 1},
  {"chatgpt-image-latest",   GI_MODEL_GPT,    0, 1, 1},
  {"dall-e-2",               GI_MODEL_DALLE2, 0, 0, 0},
  {"dall-e-3",               GI_MODEL_DALLE3, 0, 0, 0},
  {NULL, GI_MODEL_UNKNOWN, 0, 0, 0}
};

/* gpt-image-2 sizes of any shape */
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
  gi_model unknown = {"", GI_MODEL_UNKNOWN, 0, 0, 0};
  if (name == NULL) return unknown;
  for (i = 0; MODELS[i].name; i++)
    if (strcmp(MODELS[i].name, name) == 0) return MODELS[i];
  unknown.name = name;
  return unknown;
}

int gi_model_known(const gi_model *m) { return m->family != GI_MODEL_UNKNOWN; }

const char *gi_family_name(gi_family f) {
  switch (f) {
    case GI_MODEL_GPT: return "GPT image models";
    case GI_MODEL_DALLE2: return "dall-e-2";
    case GI_MODEL_DALLE3: return "dall-e-3";
    default: return "this model";
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
  const char *const *list;
  const char *p = size;
  long w, h;
  switch (m->family) {
    case GI_MODEL_GPT: list = GPT_SIZES; break;
    case GI_MODEL_DALLE2: list = DALLE2_SIZES; break;
    case GI_MODEL_DALLE3: list = DALLE3_SIZES; break;
    default: return;
  }
  if (in_list(size, list)) return;
  if (!m->any_size) gi_model_raise_choice(L, "size", size, m, list);
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

static const char *const GPT_QUALITY[] = {"low", "medium", "high", "auto", NULL};
static const char *const DALLE3_QUALITY[] = {"standard", "hd", NULL};
static const char *const DALLE2_QUALITY[] = {"standard", NULL};

void gi_model_check_quality(lua_State *L, const gi_model *m, const char *quality) {
  const char *const *list;
  switch (m->family) {
    case GI_MODEL_GPT: list = GPT_QUALITY; break;
    case GI_MODEL_DALLE2: list = DALLE2_QUALITY; break;
    case GI_MODEL_DALLE3: list = DALLE3_QUALITY; break;
    default: return;
  }
  if (!in_list(quality, list)) gi_model_raise_choice(L, "quality", quality, m, list);
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
  switch (m->family) {
    case GI_MODEL_GPT: return 16;
    case GI_MODEL_DALLE2: return 1;
    case GI_MODEL_DALLE3: return 0;
    default: return -1;
  }
}
