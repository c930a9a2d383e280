/* models: what each model of the Images API accepts.  The checks raise a
 * Lua error naming the option, the value, the model and what is allowed;
 * a model not listed here is passed through with type checks only. */
#ifndef GPTIMAGE_MODELS_H
#define GPTIMAGE_MODELS_H

#include "lua_compat.h"

/* The model a call uses when neither it nor its client names one; the
 * environment variable GPTIMAGE_MODEL overrides it (gi_model_default). */
#define GI_DEFAULT_MODEL "gpt-image-2.6-flare"

typedef enum { GI_MODEL_GPT, GI_MODEL_DALLE2, GI_MODEL_DALLE3, GI_MODEL_UNKNOWN } gi_family;

typedef struct gi_model {
  const char *name;        /* "" when no model is known at all */
  gi_family family;
  int any_size;            /* gpt-image-2: any WxH within the limits */
  int input_fidelity;      /* accepts input_fidelity */
  int transparent;         /* accepts background = "transparent" */
} gi_model;

/* GPTIMAGE_MODEL when set and not empty, else GI_DEFAULT_MODEL. */
const char *gi_model_default(void);
/* The model's rules; family GI_MODEL_UNKNOWN for names the module does not
 * know (and for NULL: no model named anywhere). */
gi_model gi_model_find(const char *name);
int gi_model_known(const gi_model *m);
/* "GPT image models", "dall-e-2", "dall-e-3". */
const char *gi_family_name(gi_family f);
/* Raise unless the value is allowed for the model (known models only). */
void gi_model_check_size(lua_State *L, const gi_model *m, const char *size);
void gi_model_check_quality(lua_State *L, const gi_model *m, const char *quality);
/* Most prompt characters; 0 when unknown. */
long gi_model_prompt_limit(const gi_model *m);
/* Most input images of an edit; 0 when the model cannot edit, -1 when unknown. */
int gi_model_max_edit_images(const gi_model *m);
/* Raises with the value, the option and the allowed values of the model
 * ("option 'x' = 'v' is not valid for m; use 'a', 'b' or 'c"). */
void gi_model_raise_choice(lua_State *L, const char *option, const char *value, const gi_model *m,
                           const char *const *allowed);

#endif
