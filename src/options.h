/* options: the request fields of the Images API, as one table.
 *
 * One row per field, in the order a request sends them: its type, the
 * endpoints that take it, the model families and capabilities it needs,
 * its values (each with the families and capabilities it needs), its
 * integer range, and the metavar and help line the command line shows.
 * Validation (rules.c), the request builder (request.c), gptimage.options and,
 * through it, the command line's flags and help, the manifest's fields,
 * the Batch API's body fields and the cache's request fields all come from
 * this table: a new API field is one row here. */
#ifndef GPTIMAGE_OPTIONS_H
#define GPTIMAGE_OPTIONS_H

#include "lua_compat.h"
#include "models.h"

/* endpoints, as bits in gi_op order (rules.h) */
#define GI_ON_GENERATE 1
#define GI_ON_EDIT 2
#define GI_ON_VARIATION 4
#define GI_ON_ALL (GI_ON_GENERATE | GI_ON_EDIT | GI_ON_VARIATION)

typedef enum { GI_T_STRING, GI_T_INTEGER, GI_T_BOOLEAN, GI_T_IMAGE, GI_T_FUNCTION, GI_T_NUMBER, GI_T_TABLE } gi_kind;

typedef struct gi_value {
  const char *value;
  unsigned families;  /* model families that take it */
  unsigned caps;      /* a known model needs one of these capabilities (0: none) */
} gi_value;

typedef struct gi_option {
  const char *name;
  gi_kind kind;
  int on;                   /* GI_ON_* */
  unsigned families;        /* model families that take the field at all */
  unsigned caps;            /* a known model needs one of these (0: none) */
  const gi_value *values;   /* allowed values (NULL-terminated), or NULL */
  long long min, max;       /* integer range (min > max: none; max < 0: no upper bound) */
  const char *meta;         /* the command line's metavar */
  const char *help;         /* one line for the command line and gptimage.options */
} gi_option;

/* The rows, ending with a row whose name is NULL. */
extern const gi_option gi_options[];
const gi_option *gi_option_find(const char *name);
/* Whether a known model takes the field / the value of the field. */
int gi_option_takes(const gi_option *o, const gi_model *m);
int gi_value_takes(const gi_value *v, const gi_model *m);
/* The value's row, NULL when the option lists no such value. */
const gi_value *gi_option_value(const gi_option *o, const char *value);
/* Raises "option 'o' = 'v' is not valid for m; use ..." with m's values. */
void gi_option_raise_value(lua_State *L, const gi_option *o, const char *value, const gi_model *m);

/* Pushes a fresh Lua copy: a list of fields in send order, each also under
 * its name (gptimage.options). */
void gi_options_push(lua_State *L);
/* Adds to each model of the table at idx (gi_models_push) `values`: the
 * values of each enumerated option the model takes. */
void gi_options_add_model_values(lua_State *L, int idx);

#endif
