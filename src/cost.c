/* cost: prices and estimates (see cost.h).
 *
 * GPT image models bill tokens: text input, image input and image output at
 * a price per million.  dall-e bills a fixed price per image by size and
 * quality.  A model missing here has no known price, and cost is nil rather
 * than a guess. */
#include <string.h>
#include <math.h>
#include "cost.h"
#include "models.h"

typedef struct token_price {
  const char *model;
  double text_in, image_in, image_out; /* dollars per million tokens */
} token_price;

static double field_number(lua_State *L, int idx, const char *name, double dflt) {
  double v = dflt;
  if (idx == 0 || !lua_istable(L, idx)) return dflt;
  lua_getfield(L, idx, name);
  if (lua_type(L, -1) == LUA_TNUMBER) v = lua_tonumber(L, -1);
  lua_pop(L, 1);
  return v;
}

/* A token count from a response: absent is 0; anything but a whole number
 * from 0 to 10^12 (a string, NaN, inf, negative, fractional) clears *sane,
 * so that a hostile usage never turns into a cost. */
static double usage_tokens(lua_State *L, int idx, const char *name, int *sane) {
  double v = 0;
  lua_getfield(L, idx, name);
  if (!lua_isnil(L, -1)) {
    v = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : -1;
    if (!(v >= 0 && v <= 1e12) || v != (double)(long long)v) *sane = 0; /* in range: the cast is safe */
  }
  lua_pop(L, 1);
  return v;
}

/* Finds the token prices of model: the override table first. */
static int token_prices(lua_State *L, int prices_idx, const char *model, token_price *out) {
  gi_model m;
  if (prices_idx != 0 && lua_istable(L, prices_idx)) {
    lua_getfield(L, prices_idx, model);
    if (lua_istable(L, -1)) {
      int t = lua_gettop(L);
      out->text_in = field_number(L, t, "text_input", -1);
      out->image_in = field_number(L, t, "image_input", -1);
      out->image_out = field_number(L, t, "image_output", -1);
      lua_pop(L, 1);
      return out->text_in >= 0 && out->image_in >= 0 && out->image_out >= 0;
    }
    lua_pop(L, 1);
  }
  m = gi_model_find(model);
  if (!(m.text_in > 0 || m.image_in > 0 || m.image_out > 0)) return 0;
  out->model = m.name;
  out->text_in = m.text_in;
  out->image_in = m.image_in;
  out->image_out = m.image_out;
  return 1;
}

/* Per-image price of a dall-e model; the override is prices[model][quality.."/"..size]
 * or prices[model][size] or prices[model].image. */
static int image_price_of(lua_State *L, int prices_idx, const char *model, const char *quality,
                          const char *size, double *out) {
  int i;
  gi_model m;
  if (prices_idx != 0 && lua_istable(L, prices_idx)) {
    lua_getfield(L, prices_idx, model);
    if (lua_istable(L, -1)) {
      int t = lua_gettop(L), found = 0;
      lua_pushfstring(L, "%s/%s", quality ? quality : "standard", size ? size : "1024x1024");
      lua_gettable(L, t);
      if (lua_type(L, -1) != LUA_TNUMBER) {
        lua_pop(L, 1);
        lua_getfield(L, t, size ? size : "1024x1024");
      }
      if (lua_type(L, -1) != LUA_TNUMBER) {
        lua_pop(L, 1);
        lua_getfield(L, t, "image");
      }
      if (lua_type(L, -1) == LUA_TNUMBER) {
        *out = lua_tonumber(L, -1);
        found = 1;
      }
      lua_pop(L, 2);
      if (found) return 1;
    } else {
      lua_pop(L, 1);
    }
  }
  if (size == NULL || size[0] == '\0' || strcmp(size, "auto") == 0) size = "1024x1024";
  if (quality == NULL || quality[0] == '\0' || strcmp(quality, "auto") == 0) quality = "standard";
  m = gi_model_find(model);
  for (i = 0; m.per_image && m.per_image[i].size; i++) {
    const gi_image_price *p = &m.per_image[i];
    if (strcmp(p->size, size) == 0 &&
        (p->quality == NULL || strcmp(p->quality, quality) == 0)) {
      *out = p->dollars;
      return 1;
    }
  }
  return 0;
}

static int is_dalle(const char *model) {
  return strncmp(model, "dall-e-", 7) == 0;
}

void gi_cost_push(lua_State *L, int res_idx, const char *model, const char *size,
                  const char *quality, int prices_idx) {
  res_idx = lua_absindex(L, res_idx);
  if (prices_idx != 0) prices_idx = lua_absindex(L, prices_idx);
  if (model == NULL) {
    lua_pushnil(L);
    return;
  }
  if (is_dalle(model)) {
    double each;
    int count;
    if (!image_price_of(L, prices_idx, model, quality, size, &each)) {
      lua_pushnil(L);
      return;
    }
    lua_getfield(L, res_idx, "images");
    count = lua_istable(L, -1) ? (int)lua_rawlen(L, -1) : 0;
    lua_pop(L, 1);
    lua_pushnumber(L, each * count);
    return;
  }
  {
    token_price p;
    double text_in, image_in, out;
    int usage;
    lua_getfield(L, res_idx, "usage");
    usage = lua_gettop(L);
    if (!lua_istable(L, usage) || !token_prices(L, prices_idx, model, &p)) {
      lua_pop(L, 1);
      lua_pushnil(L);
      return;
    }
    double total;
    int sane = 1;
    out = usage_tokens(L, usage, "output_tokens", &sane);
    lua_getfield(L, usage, "input_tokens_details");
    if (lua_istable(L, -1)) {
      int d = lua_gettop(L);
      text_in = usage_tokens(L, d, "text_tokens", &sane);
      image_in = usage_tokens(L, d, "image_tokens", &sane);
    } else {
      text_in = usage_tokens(L, usage, "input_tokens", &sane);
      image_in = 0;
    }
    lua_pop(L, 2);
    total = (text_in * p.text_in + image_in * p.image_in + out * p.image_out) / 1e6;
    if (sane && total >= 0 && total < 1e9) lua_pushnumber(L, total);
    else lua_pushnil(L);
  }
}

int gi_cost_lua(lua_State *L) {
  const char *model = luaL_checkstring(L, 1), *size, *quality;
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_getfield(L, 2, "size");
  size = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
  lua_getfield(L, 2, "quality");
  quality = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
  gi_cost_push(L, 2, model, size, quality, 0);
  return 1;
}

static const char *opt_string(lua_State *L, int idx, const char *name, const char *dflt) {
  const char *s;
  lua_getfield(L, idx, name);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return dflt;
  }
  if (lua_type(L, -1) != LUA_TSTRING)
    luaL_error(L, "estimate: '%s' must be a string", name);
  s = lua_tostring(L, -1);
  lua_pop(L, 1);
  return s;
}

int gi_cost_estimate(lua_State *L) {
  const char *model, *quality, *size, *prompt;
  lua_Integer n = 1;
  double dollars;
  luaL_checktype(L, 1, LUA_TTABLE);
  model = opt_string(L, 1, "model", gi_model_default());
  quality = opt_string(L, 1, "quality", NULL);
  size = opt_string(L, 1, "size", NULL);
  prompt = opt_string(L, 1, "prompt", "");
  lua_getfield(L, 1, "n");
  if (!lua_isnil(L, -1)) {
    if (!gi_isinteger(L, -1) || lua_tointeger(L, -1) < 1)
      return luaL_error(L, "estimate: 'n' must be a positive integer");
    n = lua_tointeger(L, -1);
  }
  lua_pop(L, 1);
  lua_newtable(L); /* details */
  if (is_dalle(model)) {
    double each;
    if (!image_price_of(L, 0, model, quality, size, &each)) {
      lua_pushnil(L);
      lua_pushvalue(L, -2);
      return 2;
    }
    dollars = each * (double)n;
    if (quality == NULL && strcmp(model, "dall-e-3") == 0) quality = "standard";
  } else {
    token_price p;
    const gi_tokens *row = NULL;
    gi_model m = gi_model_find(model);
    int i;
    double per_image = -1, observed;
    double text_tokens = ceil((double)strlen(prompt) / 4.0);
    if (!token_prices(L, 0, model, &p)) {
      lua_pushfstring(L, "no price is known for %s", model);
      lua_setfield(L, -2, "unknown");
      lua_pushnil(L);
      lua_insert(L, -2);
      return 2;
    }
    if (quality == NULL || strcmp(quality, "auto") == 0) quality = "medium";
    for (i = 0; m.tokens && m.tokens[i].quality; i++)
      if (strcmp(m.tokens[i].quality, quality) == 0) row = &m.tokens[i];
    if (row && (size == NULL || strcmp(size, "auto") == 0 || strcmp(size, "1024x1024") == 0))
      per_image = row->square;
    else if (row && strcmp(size, "1024x1536") == 0)
      per_image = row->portrait;
    else if (row && strcmp(size, "1536x1024") == 0)
      per_image = row->landscape;
    /* no published figure: the caller's own observation (sidecar records) */
    lua_getfield(L, 1, "output_tokens");
    observed = lua_type(L, -1) == LUA_TNUMBER ? (double)lua_tonumber(L, -1) : -1;
    lua_pop(L, 1);
    if (per_image < 0 && observed >= 0) {
      per_image = observed;
      lua_pushliteral(L, "observed");
    } else {
      lua_pushliteral(L, "table");
    }
    lua_setfield(L, -2, "source");
    if (per_image < 0) {
      lua_pushfstring(L, "no published output-token table for %s at quality '%s' and size '%s', and no "
                         "observed output tokens", model, quality, size ? size : "auto");
      lua_setfield(L, -2, "unknown");
      lua_pushnil(L);
      lua_insert(L, -2);
      return 2;
    }
    lua_pushnumber(L, per_image * (double)n);
    lua_setfield(L, -2, "output_tokens");
    lua_pushnumber(L, text_tokens);
    lua_setfield(L, -2, "text_tokens");
    dollars = (text_tokens * p.text_in + per_image * (double)n * p.image_out) / 1e6;
  }
  /* what the estimate assumed, for callers to say so */
  lua_pushstring(L, model);
  lua_setfield(L, -2, "model");
  if (quality != NULL) {
    lua_pushstring(L, quality);
    lua_setfield(L, -2, "quality");
  }
  lua_pushstring(L, size == NULL || strcmp(size, "auto") == 0 ? "1024x1024" : size);
  lua_setfield(L, -2, "size");
  lua_pushinteger(L, n);
  lua_setfield(L, -2, "n");
  lua_pushnumber(L, dollars);
  lua_setfield(L, -2, "cost");
  lua_pushnumber(L, dollars);
  lua_insert(L, -2);
  return 2;
}
