/* models: per-model rules of the Images API (see models.h). */
#include <stdlib.h>
#include <string.h>
#include "models.h"

static const gi_model MODELS[] = {
  {"gpt-image-1", GI_MODEL_GPT, 0, 1, 1},
  {"gpt-image-1-mini", GI_MODEL_GPT, 0, 0, 1},
  {"gpt-image-1.5", GI_MODEL_GPT, 0, 1, 1},
  {"gpt-image-2", GI_MODEL_GPT, 1, 1, 0},
  {"gpt-image-2-2026-04-21", GI_MODEL_GPT, 1, 1, 0},
  {"chatgpt-image-latest", GI_MODEL_GPT, 0, 1, 1},
  {"dall-e-2", GI_MODEL_DALLE2, 0, 0, 0},
  {"dall-e-3", GI_MODEL_DALLE3, 0, 0, 0},
  {NULL, GI_MODEL_UNKNOWN, 0, 0, 0}
};

gi_model gi_model_find(const char *name) {
  int i;
  gi_model unknown = {NULL, GI_MODEL_UNKNOWN, 1, 1, 1};
  for (i = 0; MODELS[i].name; i++)
    if (strcmp(MODELS[i].name, name) == 0) return MODELS[i];
  unknown.name = name;
  return unknown;
}

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

static void raise_choice(lua_State *L, const char *option, const char *value, const gi_model *m,
                         const char *const *list) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  lua_pushfstring(L, "option '%s' = '%s' is not valid for %s; use ", option, value, m->name);
  luaL_addvalue(&b);
  for (; *list; list++) {
    luaL_addchar(&b, '\'');
    luaL_addstring(&b, *list);
    luaL_addchar(&b, '\'');
    if (list[1]) luaL_addstring(&b, list[2] ? ", " : " or ");
  }
  luaL_pushresult(&b);
  lua_error(L);
}

static const char *const GPT_SIZES[] = {"1024x1024", "1536x1024", "1024x1536", "auto", NULL};
static const char *const DALLE2_SIZES[] = {"256x256", "512x512", "1024x1024", NULL};
static const char *const DALLE3_SIZES[] = {"1024x1024", "1792x1024", "1024x1792", NULL};

void gi_model_check_size(lua_State *L, const gi_model *m, const char *size) {
  const char *const *list = NULL;
  switch (m->family) {
    case GI_MODEL_GPT: list = GPT_SIZES; break;
    case GI_MODEL_DALLE2: list = DALLE2_SIZES; break;
    case GI_MODEL_DALLE3: list = DALLE3_SIZES; break;
    default: return;
  }
  if (in_list(size, list)) return;
  if (m->any_size) {
    char *end;
    long w = strtol(size, &end, 10), h;
    if (end != size && *end == 'x') {
      const char *hs = end + 1;
      h = strtol(hs, &end, 10);
      if (end != hs && *end == '\0' && w > 0 && h > 0) {
        if (w % 16 || h % 16)
          luaL_error(L, "option 'size' = '%s' for %s: width and height must be multiples of 16", size, m->name);
        if (w > 3 * h || h > 3 * w)
          luaL_error(L, "option 'size' = '%s' for %s: the aspect ratio must be between 1:3 and 3:1", size, m->name);
        if (w > 3840 || h > 3840 || w * h > 3840L * 2160L)
          luaL_error(L, "option 'size' = '%s' for %s: at most 3840x2160 pixels", size, m->name);
        return;
      }
    }
    luaL_error(L, "option 'size' = '%s' is not valid for %s; use 'auto', 1024x1024, 1536x1024, 1024x1536 "
                  "or any WIDTHxHEIGHT in multiples of 16", size, m->name);
  }
  raise_choice(L, "size", size, m, list);
}

static const char *const GPT_QUALITY[] = {"low", "medium", "high", "auto", NULL};
static const char *const DALLE3_QUALITY[] = {"standard", "hd", NULL};
static const char *const DALLE2_QUALITY[] = {"standard", NULL};

void gi_model_check_quality(lua_State *L, const gi_model *m, const char *quality) {
  const char *const *list = NULL;
  switch (m->family) {
    case GI_MODEL_GPT: list = GPT_QUALITY; break;
    case GI_MODEL_DALLE2: list = DALLE2_QUALITY; break;
    case GI_MODEL_DALLE3: list = DALLE3_QUALITY; break;
    default: return;
  }
  if (!in_list(quality, list)) raise_choice(L, "quality", quality, m, list);
}

long gi_model_prompt_limit(const gi_model *m) {
  switch (m->family) {
    case GI_MODEL_GPT: return 32000;
    case GI_MODEL_DALLE2: return 1000;
    case GI_MODEL_DALLE3: return 4000;
    default: return 0;
  }
}
