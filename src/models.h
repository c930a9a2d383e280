/* models: the models of the Images API, as one table.
 *
 * Each row holds a model's lifecycle (active, deprecated, shut down; the
 * date and what replaces it), its capabilities (GI_CAP_* bits) and its
 * prices (tokens, or per image for dall-e) and, where one is published, its
 * output-token table.  Validation (rules.c, with the options of
 * options.c), costs (cost.c), the API error of a shut-down model (errors)
 * and gptimage.models all read this table; a model not listed here is
 * passed through with type checks only, and its costs are unknown. */
#ifndef GPTIMAGE_MODELS_H
#define GPTIMAGE_MODELS_H

#include "lua_compat.h"

/* The model a call uses when neither it nor its client names one; the
 * environment variable GPTIMAGE_MODEL overrides it (gi_model_default). */
#define GI_DEFAULT_MODEL "gpt-image-2.6-flare"

typedef enum { GI_MODEL_GPT, GI_MODEL_DALLE2, GI_MODEL_DALLE3, GI_MODEL_UNKNOWN } gi_family;
/* families as bits, for the options' "which models" */
#define GI_FAM(f) (1u << (f))
#define GI_FAMS_GPT GI_FAM(GI_MODEL_GPT)
#define GI_FAMS_DALLE (GI_FAM(GI_MODEL_DALLE2) | GI_FAM(GI_MODEL_DALLE3))
#define GI_FAMS_ALL (GI_FAMS_GPT | GI_FAMS_DALLE)

typedef enum { GI_ACTIVE, GI_DEPRECATED, GI_SHUT_DOWN } gi_state;

/* capabilities */
#define GI_CAP_EDIT (1u << 0)          /* the edits endpoint */
#define GI_CAP_VARIATION (1u << 1)     /* the legacy variations endpoint */
#define GI_CAP_ANY_SIZE (1u << 2)      /* any WxH: multiples of 16, 1:3 to 3:1, at most 3840x2160 */
#define GI_CAP_TRANSPARENT (1u << 3)   /* background = "transparent" */
#define GI_CAP_FIDELITY (1u << 4)      /* input_fidelity "high" and "low" */
#define GI_CAP_FIDELITY_LOW (1u << 5)  /* input_fidelity "low" only */
#define GI_CAP_XHIGH (1u << 6)         /* quality "xhigh" and "max" */
#define GI_CAP_MARKUP (1u << 7)        /* markup (edits) */
#define GI_CAP_GIF (1u << 8)           /* output_format "gif", frame_count, frame_duration_ms */
#define GI_CAP_SVG (1u << 9)           /* output_format "svg", svg */
#define GI_CAP_STREAM (1u << 10)       /* stream, partial_images */

/* Output tokens of one image by quality: 1024x1024, 1024x1536, 1536x1024. */
typedef struct gi_tokens {
  const char *quality;
  int square, portrait, landscape;
} gi_tokens;

/* Price of one image of a per-image model (quality NULL: any quality). */
typedef struct gi_image_price {
  const char *quality, *size;
  double dollars;
} gi_image_price;

typedef struct gi_model {
  const char *name;             /* "" when no model is known at all */
  gi_family family;
  gi_state state;
  const char *date;             /* shut down (or to be) on, YYYY-MM-DD; or released on when active; or NULL */
  const char *replacement;      /* "a or b": what to use instead, or NULL */
  unsigned caps;
  double text_in, image_in, image_out; /* dollars per million tokens; all 0: not token-priced */
  const gi_image_price *per_image;      /* per-image prices, or NULL */
  const gi_tokens *tokens;              /* the published output-token table, or NULL */
} gi_model;

/* GPTIMAGE_MODEL when set and not empty, else GI_DEFAULT_MODEL. */
const char *gi_model_default(void);
/* The model's row; family GI_MODEL_UNKNOWN for names the module does not
 * know (and for NULL: no model named anywhere). */
gi_model gi_model_find(const char *name);
int gi_model_known(const gi_model *m);
int gi_model_has(const gi_model *m, unsigned caps); /* any of caps */
/* The i-th row (0-based), NULL past the last. */
const gi_model *gi_model_at(int i);
/* "GPT image models", "dall-e-2", "dall-e-3", "dall-e-2 and dall-e-3" ... */
const char *gi_families_text(unsigned families);
const char *gi_state_name(gi_state s);
/* The fixed sizes of the model's family (NULL-terminated), NULL when unknown. */
const char *const *gi_model_sizes(const gi_model *m);
/* Raise unless the value is allowed for the model (known models only). */
void gi_model_check_size(lua_State *L, const gi_model *m, const char *size);
/* Most prompt characters; 0 when unknown. */
long gi_model_prompt_limit(const gi_model *m);
/* Most input images of an edit; 0 when the model cannot edit, -1 when unknown. */
int gi_model_max_edit_images(const gi_model *m);
/* Raises with the value, the option and the allowed values of the model
 * ("option 'x' = 'v' is not valid for m; use 'a', 'b' or 'c"). */
void gi_model_raise_choice(lua_State *L, const char *option, const char *value, const gi_model *m,
                           const char *const *allowed);
/* Pushes a fresh Lua copy of the table: a list of models in table order,
 * each also under its name (gptimage.models). */
void gi_models_push(lua_State *L);

#endif
