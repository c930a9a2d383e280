/* rules: the checks a call's options pass before a request is built (see
 * rules.h for the contract).
 *
 * Owns: option names (with the closest known name for a typo), types, the
 * options the job reads itself (save, timeout, max_retries ...), extra,
 * the model and whether it does the operation, the prompt (UTF-8, length),
 * each value against the model's row of the API table, the rules one
 * option makes for another (output format, mask, markup, svg), and the
 * rules for input images as read (format, shape, size, count).  Nothing
 * here allocates outside Lua, so a raise leaves nothing behind. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rules.h"
#include "hint.h"
#include "input.h"
#include "json.h"
#include "models.h"
#include "options.h"

#define DALLE_IMAGE_LIMIT (4LL * 1024 * 1024)
#define GPT_IMAGE_LIMIT (50LL * 1024 * 1024)
#define MAX_TIMEOUT_SECONDS 1e9
#define MAX_RETRIES_LIMIT 1000000

#define T_STRING GI_T_STRING
#define T_INTEGER GI_T_INTEGER
#define T_BOOLEAN GI_T_BOOLEAN
#define T_IMAGE GI_T_IMAGE
#define T_FUNCTION GI_T_FUNCTION
#define T_NUMBER GI_T_NUMBER
#define T_TABLE GI_T_TABLE
typedef gi_kind value_kind;
#define API_OPTIONS gi_options

/* What a variation asks of a GPT image model, as an edit, when the call
 * gives no prompt of its own (README: "variation"). */
const char gi_rules_variation_prompt[] =
    "Make a variation of this image: keep its subject, composition and style, and vary the details.";

/* read by the job code itself; their types are checked here */
static const char *const LOCAL_OPTIONS[] = {
  "save", "on_partial", "on_done", "timeout", "max_retries", "extra", "buffer", NULL
};
static const value_kind LOCAL_KINDS[] = {T_STRING, T_FUNCTION, T_FUNCTION, T_NUMBER, T_INTEGER, T_TABLE, T_BOOLEAN};

static const char *const OP_NAMES[] = {"generate", "edit", "variation"};

const char *gi_rules_op_name(gi_op op) { return OP_NAMES[op]; }
/* ------------------------------------------------------------------ */
/* option names */

static int api_index(const char *key) {
  int i;
  for (i = 0; API_OPTIONS[i].name; i++)
    if (strcmp(key, API_OPTIONS[i].name) == 0) return i;
  return -1;
}

static int local_index(const char *key) {
  int i;
  for (i = 0; LOCAL_OPTIONS[i]; i++)
    if (strcmp(key, LOCAL_OPTIONS[i]) == 0) return i;
  return -1;
}

/* The known name closest to key, when it is close enough to be a typo. */
static const char *closest_option(const char *key) {
  gi_hint hint;
  int i;
  gi_hint_init(&hint, key);
  for (i = 0; API_OPTIONS[i].name; i++) gi_hint_consider(&hint, API_OPTIONS[i].name);
  for (i = 0; LOCAL_OPTIONS[i]; i++) gi_hint_consider(&hint, LOCAL_OPTIONS[i]);
  return gi_hint_best(&hint);
}

/* "generate and edit", "edit" ... */
static void push_op_list(lua_State *L, int ops) {
  const char *names[3];
  int count = 0, i;
  for (i = 0; i < 3; i++)
    if (ops & (1 << i)) names[count++] = OP_NAMES[i];
  if (count == 1) lua_pushstring(L, names[0]);
  else if (count == 2) lua_pushfstring(L, "%s and %s", names[0], names[1]);
  else lua_pushfstring(L, "%s, %s and %s", names[0], names[1], names[2]);
}

/* Copies the options into a fresh table (pushed; returns its index) after
 * checking every name.  Reading the copy touches no metamethod and no value
 * the caller can change or free while the request is being built. */
static int snapshot_options(lua_State *L, int opts, gi_op asked, gi_op op) {
  int snap;
  lua_newtable(L);
  snap = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, opts)) {
    const char *key, *hint;
    int api;
    if (lua_type(L, -2) != LUA_TSTRING)
      luaL_error(L, "option names must be strings, got a %s key", luaL_typename(L, -2));
    key = lua_tostring(L, -2);
    if (strcmp(key, "op") == 0) {
      /* batch entries carry their operation */
      if (lua_type(L, -1) != LUA_TSTRING || strcmp(lua_tostring(L, -1), OP_NAMES[asked]) != 0)
        luaL_error(L, "option 'op' must be '%s' in a %s call", OP_NAMES[asked], OP_NAMES[asked]);
      lua_pop(L, 1);
      continue;
    }
    api = api_index(key);
    if (api < 0 && local_index(key) < 0) {
      hint = closest_option(key);
      if (hint) luaL_error(L, "unknown option '%s' (did you mean '%s'?)", key, hint);
      luaL_error(L, "unknown option '%s'", key);
    }
    if (api >= 0 && !(API_OPTIONS[api].on & (1 << op))) {
      push_op_list(L, API_OPTIONS[api].on);
      luaL_error(L, "option '%s' is only for %s, not %s%s", key, lua_tostring(L, -1), OP_NAMES[asked],
                 asked != op ? " (a variation is an edit on GPT image models)" : "");
    }
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, snap);
  }
  return snap;
}

/* ------------------------------------------------------------------ */
/* types */

static void number_text(double d, char *buf, size_t size) {
  if (d != d) snprintf(buf, size, "nan");
  else if (d > 1e308 || d < -1e308) snprintf(buf, size, "%sinf", d < 0 ? "-" : "");
  else snprintf(buf, size, "%.14g", d);
}

/* huge ones are clamped: still integers for every check that follows */
int gi_rules_integer(lua_State *L, int idx, long long *out) {
  double d;
#if LUA_VERSION_NUM >= 503
  if (lua_isinteger(L, idx)) {
    *out = (long long)lua_tointeger(L, idx);
    return 1;
  }
#endif
  d = (double)lua_tonumber(L, idx);
  if (d != d) return 0;
  if (d > 9.0e15 || d < -9.0e15) {
    if (d > 1e308 || d < -1e308) return 0;
    *out = d > 0 ? 9000000000000000LL : -9000000000000000LL;
    return 1;
  }
  if (d != (double)(long long)d) return 0;
  *out = (long long)d;
  return 1;
}

static const char *kind_name(value_kind k) {
  switch (k) {
    case T_STRING: return "a string";
    case T_INTEGER: return "an integer";
    case T_BOOLEAN: return "a boolean";
    case T_FUNCTION: return "a function";
    case T_NUMBER: return "a number";
    case T_TABLE: return "a table";
    default: return "an image";
  }
}

static int is_io_file(lua_State *L, int idx) {
  return lua_type(L, idx) == LUA_TUSERDATA && luaL_testudata(L, idx, LUA_FILEHANDLE) != NULL;
}

static void check_type(lua_State *L, const char *name, value_kind kind, int idx) {
  int t = lua_type(L, idx), ok;
  long long ignored;
  char got[48];
  switch (kind) {
    case T_STRING: ok = t == LUA_TSTRING; break;
    case T_BOOLEAN: ok = t == LUA_TBOOLEAN; break;
    case T_FUNCTION: ok = t == LUA_TFUNCTION; break;
    case T_TABLE: ok = t == LUA_TTABLE; break;
    case T_NUMBER: ok = t == LUA_TNUMBER; break;
    case T_INTEGER: ok = t == LUA_TNUMBER && gi_rules_integer(L, idx, &ignored); break;
    default: ok = t == LUA_TSTRING || t == LUA_TTABLE || is_io_file(L, idx); break;
  }
  if (ok) return;
  if (kind == T_IMAGE)
    luaL_error(L, "option '%s' must be a path, a string of bytes, an open io file, a table "
                  "{data=..., filename=..., type=} or a list of those, got %s", name, luaL_typename(L, idx));
  if (t == LUA_TNUMBER && kind == T_INTEGER) number_text((double)lua_tonumber(L, idx), got, sizeof got);
  else snprintf(got, sizeof got, "%s", luaL_typename(L, idx));
  luaL_error(L, "option '%s' must be %s, got %s", name, kind_name(kind), got);
}

static void check_types(lua_State *L, int snap) {
  int i;
  for (i = 0; API_OPTIONS[i].name; i++) {
    lua_getfield(L, snap, API_OPTIONS[i].name);
    if (!lua_isnil(L, -1)) check_type(L, API_OPTIONS[i].name, API_OPTIONS[i].kind, -1);
    lua_pop(L, 1);
  }
  for (i = 0; LOCAL_OPTIONS[i]; i++) {
    lua_getfield(L, snap, LOCAL_OPTIONS[i]);
    if (!lua_isnil(L, -1)) check_type(L, LOCAL_OPTIONS[i], LOCAL_KINDS[i], -1);
    lua_pop(L, 1);
  }
}

/* typed getters on the snapshot (types already checked); push nothing */
static const char *get_string(lua_State *L, int snap, const char *name, size_t *len) {
  const char *s;
  lua_getfield(L, snap, name);
  s = lua_isnil(L, -1) ? NULL : lua_tolstring(L, -1, len);
  lua_pop(L, 1); /* the snapshot keeps it alive */
  return s;
}

static void get_integer(lua_State *L, int snap, const char *name, gi_rules_int *o) {
  memset(o, 0, sizeof *o);
  lua_getfield(L, snap, name);
  if (!lua_isnil(L, -1)) {
    o->given = 1;
    gi_rules_integer(L, -1, &o->value);
#if LUA_VERSION_NUM >= 503
    if (lua_isinteger(L, -1)) snprintf(o->text, sizeof o->text, "%lld", o->value);
    else
#endif
      number_text((double)lua_tonumber(L, -1), o->text, sizeof o->text);
  }
  lua_pop(L, 1);
}

static int get_boolean(lua_State *L, int snap, const char *name, int *given) {
  int v;
  lua_getfield(L, snap, name);
  *given = !lua_isnil(L, -1);
  v = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

/* ------------------------------------------------------------------ */
/* local options and extra */

static void check_local_values(lua_State *L, int snap) {
  size_t len = 0;
  const char *save = get_string(L, snap, "save", &len);
  gi_rules_int retries;
  if (save && len == 0) luaL_error(L, "option 'save' must not be empty");
  if (save && strlen(save) != len) luaL_error(L, "option 'save' must not contain NUL bytes");
  lua_getfield(L, snap, "timeout");
  if (!lua_isnil(L, -1)) {
    double t = (double)lua_tonumber(L, -1);
    char text[32];
    number_text(t, text, sizeof text);
    if (!(t > 0) || !(t <= MAX_TIMEOUT_SECONDS))
      luaL_error(L, "option 'timeout' must be a positive number of seconds (at most 1e9), got %s", text);
  }
  lua_pop(L, 1);
  get_integer(L, snap, "max_retries", &retries);
  if (retries.given && (retries.value < 0 || retries.value > MAX_RETRIES_LIMIT))
    luaL_error(L, "option 'max_retries' must be an integer from 0 to %d, got %s", MAX_RETRIES_LIMIT,
               retries.text);
}

static int encode_protected(lua_State *L) {
  gi_json_encode(L, 1);
  return 1;
}

/* extra: field names the module does not know yet.  A field that is an
 * option of its own must be given as that option, so its checks apply and
 * the job knows what it asked for. */
static void check_extra(lua_State *L, int snap, gi_op op) {
  int extra;
  lua_getfield(L, snap, "extra");
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return;
  }
  extra = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, extra)) {
    const char *key;
    int t = lua_type(L, -1);
    long long ignored;
    if (lua_type(L, -2) != LUA_TSTRING)
      luaL_error(L, "option 'extra' must map field names (strings) to values, got a %s key", luaL_typename(L, -2));
    key = lua_tostring(L, -2);
    if (key[0] == '\0' || strlen(key) != lua_rawlen(L, -2))
      luaL_error(L, "option 'extra' has an empty field name or one with NUL bytes");
    if (api_index(key) >= 0)
      luaL_error(L, "option 'extra' must not set '%s': pass %s = ... as an option of the call", key, key);
    if (op != GI_OP_GENERATE) {
      if (t == LUA_TNUMBER && !gi_rules_integer(L, -1, &ignored)) {
        double d = (double)lua_tonumber(L, -1);
        if (d != d || d > 1e308 || d < -1e308)
          luaL_error(L, "option 'extra' field '%s' must be a finite number", key);
      } else if (t != LUA_TSTRING && t != LUA_TNUMBER && t != LUA_TBOOLEAN) {
        luaL_error(L, "option 'extra' field '%s' must be a string, number or boolean for %s (it is sent "
                      "as a form field), got %s", key, OP_NAMES[op], luaL_typename(L, -1));
      }
    }
    lua_pop(L, 1);
  }
  if (op == GI_OP_GENERATE) {
    lua_pushcfunction(L, encode_protected);
    lua_pushvalue(L, extra);
    if (lua_pcall(L, 1, 1, 0) != 0) {
      static const char PREFIX[] = "cannot encode the request as JSON: ";
      const char *why = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "not encodable";
      if (strncmp(why, PREFIX, sizeof PREFIX - 1) == 0) why += sizeof PREFIX - 1;
      luaL_error(L, "option 'extra' cannot be sent as JSON: %s", why);
    }
  }
  lua_settop(L, extra - 1);
}

/* ------------------------------------------------------------------ */
/* values per model */

/* Byte offset of the first byte that is not valid UTF-8, or -1; counts the
 * code points in *chars. */
static long long utf8_check(const unsigned char *s, size_t len, long long *chars) {
  size_t i = 0;
  *chars = 0;
  while (i < len) {
    unsigned c = s[i];
    size_t extra, k;
    unsigned long cp;
    if (c < 0x80) extra = 0, cp = c;
    else if ((c & 0xE0) == 0xC0) extra = 1, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0) extra = 2, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0) extra = 3, cp = c & 0x07;
    else return (long long)i;
    if (extra > len - i - 1) return (long long)i;
    for (k = 1; k <= extra; k++) {
      if ((s[i + k] & 0xC0) != 0x80) return (long long)i;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return (long long)i;
    i += extra + 1;
    (*chars)++;
  }
  return -1;
}

static void check_prompt(lua_State *L, int snap, gi_op op, const gi_model *m) {
  size_t len;
  const char *prompt = get_string(L, snap, "prompt", &len);
  long long chars, bad, limit = gi_model_prompt_limit(m);
  if (op == GI_OP_VARIATION) return; /* the name check refused a prompt */
  if (prompt == NULL) luaL_error(L, "option 'prompt' is required for %s", OP_NAMES[op]);
  bad = utf8_check((const unsigned char *)prompt, len, &chars);
  if (bad >= 0) luaL_error(L, "option 'prompt' is not valid UTF-8 (at byte %d)", (int)bad + 1);
  if (limit && chars > limit)
    luaL_error(L, "option 'prompt' is %d characters long; %s takes at most %d", (int)chars, m->name, (int)limit);
}

/* How a value shows in a message: 'text', true, 12 or "an image". */
static const char *shown_value(lua_State *L, int idx) {
  switch (lua_type(L, idx)) {
    case LUA_TSTRING: return lua_pushfstring(L, "'%s'", lua_tostring(L, idx));
    case LUA_TBOOLEAN: return lua_toboolean(L, idx) ? "true" : "false";
    case LUA_TNUMBER: return lua_tostring(L, idx);
    default: return lua_pushfstring(L, "a %s", luaL_typename(L, idx));
  }
}

/* One option the call gives, against the table's row and a known model:
 * the model takes the field, its value is one of the model's, in range. */
static void check_option(lua_State *L, int snap, const gi_option *o, const gi_model *m) {
  int idx;
  lua_getfield(L, snap, o->name);
  idx = lua_gettop(L);
  if (lua_isnil(L, idx)) {
    lua_pop(L, 1);
    return;
  }
  if (!(o->families & GI_FAM(m->family))) {
    if (strcmp(o->name, "response_format") == 0)
      luaL_error(L, "option 'response_format' = '%s' is only for dall-e-2 and dall-e-3; GPT image models "
                    "(%s here) always return b64_json", lua_tostring(L, idx), m->name);
    luaL_error(L, "option '%s' = %s is only for %s, not %s%s", o->name, shown_value(L, idx),
               gi_families_text(o->families), m->name,
               strcmp(o->name, "output_format") == 0 ? " (dall-e models return PNG)" : "");
  }
  if (o->caps && !gi_model_has(m, o->caps)) {
    if (o->kind == T_IMAGE || o->kind == T_TABLE) luaL_error(L, "option '%s' is not supported by %s", o->name, m->name);
    luaL_error(L, "option '%s' = %s is not supported by %s", o->name, shown_value(L, idx), m->name);
  }
  if (o->values && lua_type(L, idx) == LUA_TSTRING) {
    const gi_value *v = gi_option_value(o, lua_tostring(L, idx));
    if (v == NULL || !gi_value_takes(v, m)) gi_option_raise_value(L, o, lua_tostring(L, idx), m);
  }
  if (o->kind == T_INTEGER && (o->min <= o->max || o->max < 0)) {
    gi_rules_int i;
    get_integer(L, snap, o->name, &i);
    if (i.value < o->min || (o->max >= 0 && i.value > o->max)) {
      if (o->max < 0) luaL_error(L, "option '%s' = %s is not valid for %s; use %d or more", o->name, i.text,
                                 m->name, (int)o->min);
      luaL_error(L, "option '%s' = %s is not valid for %s; use %d to %d", o->name, i.text, m->name, (int)o->min,
                 (int)o->max);
    }
  }
  lua_settop(L, idx - 1);
}

/* svg = { model = "...", reasoning = { effort = "..." } }: its shape, for
 * every model (these are type checks). */
static void check_svg(lua_State *L, int snap) {
  static const char *const EFFORTS[] = {"none", "minimal", "low", "medium", "high", "xhigh", "max", NULL};
  int svg;
  lua_getfield(L, snap, "svg");
  svg = lua_gettop(L);
  if (lua_isnil(L, svg)) {
    lua_pop(L, 1);
    return;
  }
  lua_pushnil(L);
  while (lua_next(L, svg)) {
    const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
    if (key && strcmp(key, "model") == 0) {
      if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "option 'svg' field 'model' must be a string, got %s",
                                                     luaL_typename(L, -1));
    } else if (key && strcmp(key, "reasoning") == 0) {
      int r = lua_gettop(L);
      if (!lua_istable(L, r)) luaL_error(L, "option 'svg' field 'reasoning' must be a table, got %s",
                                         luaL_typename(L, r));
      lua_pushnil(L);
      while (lua_next(L, r)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        const char *const *e;
        if (k == NULL || strcmp(k, "effort") != 0)
          luaL_error(L, "option 'svg' field 'reasoning' takes only 'effort'");
        if (lua_type(L, -1) != LUA_TSTRING)
          luaL_error(L, "option 'svg' field 'reasoning.effort' must be a string, got %s", luaL_typename(L, -1));
        for (e = EFFORTS; *e && strcmp(*e, lua_tostring(L, -1)) != 0; e++) {}
        if (*e == NULL)
          luaL_error(L, "option 'svg' field 'reasoning.effort' = '%s' is not valid; use 'none', 'minimal', 'low', "
                        "'medium', 'high', 'xhigh' or 'max'", lua_tostring(L, -1));
        lua_pop(L, 1);
      }
    } else {
      luaL_error(L, "option 'svg' takes 'model' and 'reasoning', not '%s'", key ? key : luaL_typename(L, -2));
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

static int given(lua_State *L, int snap, const char *name) {
  int g;
  lua_getfield(L, snap, name);
  g = !lua_isnil(L, -1);
  lua_pop(L, 1);
  return g;
}

/* What the format of a GPT image model's output rules out. */
static void check_format_rules(lua_State *L, int snap, const gi_rules *v, const char *format) {
  const char *background = get_string(L, snap, "background", NULL);
  int gif = strcmp(format, "gif") == 0, svg = strcmp(format, "svg") == 0;
  /* gif and svg have transparency of their own */
  if (background && strcmp(background, "transparent") == 0 && strcmp(format, "jpeg") == 0)
    luaL_error(L, "option 'background' = 'transparent' needs output_format 'png' or 'webp', not 'jpeg'");
  if (v->compression.given) {
    if (gif || svg)
      luaL_error(L, "option 'output_compression' is not available with output_format '%s'", format);
    if (v->compression.value < 100 && strcmp(format, "png") == 0)
      luaL_error(L, "option 'output_compression' = %s needs output_format 'jpeg' or 'webp' (PNG output is "
                    "lossless: leave it out or use 100)", v->compression.text);
  }
  if (gif || svg) {
    if (v->stream) luaL_error(L, "option 'stream' is not available with output_format '%s'", format);
    if (v->partial.given) luaL_error(L, "option 'partial_images' is not available with output_format '%s'", format);
  }
  if (gif && given(L, snap, "mask")) luaL_error(L, "option 'mask' is not available with output_format 'gif'");
  if (svg && v->n.given && v->n.value != 1)
    luaL_error(L, "option 'n' = %s is not valid with output_format 'svg'; it makes one image (n = 1)", v->n.text);
  if (!gif && given(L, snap, "frame_count")) luaL_error(L, "option 'frame_count' needs output_format 'gif'");
  if (!gif && given(L, snap, "frame_duration_ms"))
    luaL_error(L, "option 'frame_duration_ms' needs output_format 'gif'");
  if (!svg && given(L, snap, "svg")) luaL_error(L, "option 'svg' needs output_format 'svg'");
  if (given(L, snap, "markup") && given(L, snap, "mask"))
    luaL_error(L, "options 'markup' and 'mask' cannot be used together");
}

static void check_values(lua_State *L, int snap, const gi_model *m, gi_rules *v) {
  int known = gi_model_known(m), stream_given, i;

  v->size = get_string(L, snap, "size", NULL);
  v->quality = get_string(L, snap, "quality", NULL);
  v->output_format = get_string(L, snap, "output_format", NULL);
  v->response_format = get_string(L, snap, "response_format", NULL);
  get_integer(L, snap, "n", &v->n);
  get_integer(L, snap, "output_compression", &v->compression);
  get_integer(L, snap, "partial_images", &v->partial);
  v->stream = get_boolean(L, snap, "stream", &stream_given);
  (void)stream_given;

  /* what no model takes: the module relies on these being sane */
  if (v->n.given && (v->n.value < 1 || v->n.value > INT_MAX))
    luaL_error(L, "option 'n' = %s is not valid; use 1 to 10", v->n.text);
  if (v->partial.given && (v->partial.value < 0 || v->partial.value > INT_MAX))
    luaL_error(L, "option 'partial_images' = %s is not valid; use 0 to 3", v->partial.text);
  if (v->compression.given && v->compression.value < 0)
    luaL_error(L, "option 'output_compression' = %s is not valid; use 0 to 100", v->compression.text);
  check_svg(L, snap);
  if (!known) return; /* a model the module does not know: its rules are the API's to tell */

  if (v->n.given && m->family == GI_MODEL_DALLE3 && v->n.value != 1)
    luaL_error(L, "option 'n' = %s is not valid for dall-e-3; it makes one image per request (n = 1)",
               v->n.text);
  for (i = 0; API_OPTIONS[i].name; i++) check_option(L, snap, &API_OPTIONS[i], m);
  if (v->size) gi_model_check_size(L, m, v->size);
  if (m->family == GI_MODEL_GPT) check_format_rules(L, snap, v, v->output_format ? v->output_format : "png");
}

/* ------------------------------------------------------------------ */
/* input images */

/* A list of inputs (rather than one table input): a sequence and nothing else.
 * Returns its length, or -1 for a table input (a table with data/path ...). */
static int image_list_length(lua_State *L, int idx) {
  int count = 0, integer_keys = 0, other_keys = 0;
  idx = lua_absindex(L, idx);
  if (!lua_istable(L, idx)) return -1;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    long long k;
    if (lua_type(L, -2) == LUA_TNUMBER && gi_rules_integer(L, -2, &k) && k >= 1) integer_keys++;
    else other_keys++;
    lua_pop(L, 1);
  }
  if (other_keys) {
    if (integer_keys)
      luaL_error(L, "option 'image' mixes a list with named fields; give a list of images or one table "
                    "{data=..., filename=..., type=}");
    return -1;
  }
  count = (int)lua_rawlen(L, idx);
  if (count != integer_keys) luaL_error(L, "option 'image' is a list with holes");
  return count;
}

int gi_rules_image_count(lua_State *L, const gi_rules *r, int image_idx, int *listed) {
  int count = image_list_length(L, image_idx), max = gi_model_max_edit_images(&r->m);
  *listed = count >= 0;
  if (count == 0) luaL_error(L, "option 'image' is an empty list");
  if (r->op == GI_OP_VARIATION && *listed) luaL_error(L, "option 'image' of a variation is one image, not a list");
  if (!*listed) count = 1;
  if (gi_model_known(&r->m) && r->op == GI_OP_EDIT && count > max) {
    if (max == 1) luaL_error(L, "option 'image' has %d images; %s edits exactly one", count, r->m.name);
    luaL_error(L, "option 'image' has %d images; %s takes at most %d", count, r->m.name, max);
  }
  return count;
}

static void check_dalle2_input(lua_State *L, const gi_input *in, const char *why) {
  if (in->type != GI_IMG_PNG) luaL_error(L, "%s must be a PNG for %s (it is %s)", in->label, why, in->mime);
  if (in->width != in->height)
    luaL_error(L, "%s must be square for %s (it is %dx%d)", in->label, why, (int)in->width, (int)in->height);
  if (in->size >= DALLE_IMAGE_LIMIT)
    luaL_error(L, "%s must be under 4 MB for %s (it is %d bytes)", in->label, why, (int)in->size);
}

void gi_rules_check_image(lua_State *L, const gi_rules *r, const gi_input *in) {
  const gi_model *m = &r->m;
  if (r->op == GI_OP_VARIATION && gi_model_known(m)) check_dalle2_input(L, in, "a dall-e-2 variation");
  else if (r->op == GI_OP_EDIT && m->family == GI_MODEL_DALLE2) check_dalle2_input(L, in, "dall-e-2");
  else if (r->op == GI_OP_EDIT && m->family == GI_MODEL_GPT && in->size >= GPT_IMAGE_LIMIT)
    luaL_error(L, "%s must be under 50 MB for %s (it is %d bytes)", in->label, m->name,
               in->size > INT_MAX ? INT_MAX : (int)in->size);
}

/* A mask or markup: a PNG with alpha the size of the first image (known
 * models only: another model's rules are the API's to tell). */
void gi_rules_check_overlay(lua_State *L, const gi_rules *r, const gi_input *overlay, const gi_input *first,
                            const char *what) {
  int mask = strcmp(what, "mask") == 0;
  const char *alpha_why = mask ? "transparent where to edit" : "transparent where nothing is drawn";
  long long limit = mask ? DALLE_IMAGE_LIMIT : GPT_IMAGE_LIMIT;
  char name[sizeof overlay->label + 8];
  if (!gi_model_known(&r->m)) return;
  if (overlay->kind == GI_IN_PATH) snprintf(name, sizeof name, "the %s", overlay->label);
  else snprintf(name, sizeof name, "the %s", what);
  if (overlay->type != GI_IMG_PNG) luaL_error(L, "%s must be a PNG (it is %s)", name, overlay->mime);
  if (!overlay->alpha) luaL_error(L, "%s must have an alpha channel (%s)", name, alpha_why);
  if (overlay->size >= limit)
    luaL_error(L, "%s must be under %d MB (it is %d bytes)", name, (int)(limit >> 20),
               overlay->size > INT_MAX ? INT_MAX : (int)overlay->size);
  if (overlay->width != first->width || overlay->height != first->height)
    luaL_error(L, "%s is %dx%d but %s is %dx%d: they must be the same size", name, (int)overlay->width,
               (int)overlay->height, first->label, (int)first->width, (int)first->height);
}

/* ------------------------------------------------------------------ */
/* the whole call */

void gi_rules_check(lua_State *L, int opts, gi_op asked, const char *default_model, gi_rules *r) {
  size_t model_len = 0;
  const char *model;
  gi_op op = asked;

  opts = lua_absindex(L, opts);
  memset(r, 0, sizeof *r);
  if (!lua_istable(L, opts)) luaL_error(L, "the options must be a table, got %s", luaL_typename(L, opts));
  if (op == GI_OP_VARIATION) {
    /* the variations endpoint is retired: on anything but dall-e-2 a
     * variation is an edit with a variation prompt */
    const char *named;
    lua_pushliteral(L, "model");
    lua_rawget(L, opts);
    named = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : default_model;
    if (named == NULL || strcmp(named, "dall-e-2") != 0) op = GI_OP_EDIT;
    lua_pop(L, 1);
  }
  r->asked = asked;
  r->op = op;

  /* names, types, the options the job reads itself */
  r->snap = snapshot_options(L, opts, asked, op);
  if (asked != op && !given(L, r->snap, "prompt")) {
    lua_pushstring(L, gi_rules_variation_prompt);
    lua_setfield(L, r->snap, "prompt");
  }
  check_types(L, r->snap);
  check_local_values(L, r->snap);
  check_extra(L, r->snap, op);

  /* which model, and whether it does this operation at all */
  model = get_string(L, r->snap, "model", &model_len);
  if (model && (model_len == 0 || strlen(model) != model_len))
    luaL_error(L, "option 'model' must be a model name, got '%s'", model);
  if (model == NULL) model = default_model;
  if (model && model[0] == '\0') model = NULL;
  r->model = model;
  r->m = gi_model_find(model);
  if (op == GI_OP_EDIT && gi_model_known(&r->m) && gi_model_max_edit_images(&r->m) == 0)
    luaL_error(L, "edit is not available for %s; use dall-e-2 or a GPT image model", r->m.name);

  check_prompt(L, r->snap, op, &r->m);
  check_values(L, r->snap, &r->m, r);
  if (op != GI_OP_GENERATE && !given(L, r->snap, "image"))
    luaL_error(L, "option 'image' is required for %s", OP_NAMES[asked]);
}
