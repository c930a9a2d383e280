/* rules: whether one call's options make a valid request (see rules.c).
 *
 * Contract: validation is a pure function of the options table and the API
 * table (src/options.c, src/models.c).  It needs no curl handle, opens no
 * file and touches no network; it raises a Lua error for caller bugs (an
 * unknown or misspelt option, a wrong type, a value the model does not
 * take, options that rule each other out) and otherwise returns normally.
 * The input images of an edit are read by the request builder (input.c
 * reads their headers); the rules for them are functions of what was read
 * (gi_input) and of the model.
 *
 * The request builder (request.c) calls these and then only builds: every
 * raise a caller can provoke happens here, before any body is allocated.
 * gptimage.validate runs the same calls through the builder with no handle. */
#ifndef GPTIMAGE_RULES_H
#define GPTIMAGE_RULES_H

#include "lua_compat.h"
#include "models.h"

typedef enum { GI_OP_GENERATE = 0, GI_OP_EDIT, GI_OP_VARIATION } gi_op;

/* An integer option as the caller gave it. */
typedef struct gi_rules_int {
  int given;
  long long value; /* huge values clamped to +-9e15 (still out of every range) */
  char text[32];   /* as the caller wrote it, for messages */
} gi_rules_int;

struct gi_input; /* input.h */

/* What the checks found, for the builder. */
typedef struct gi_rules {
  gi_op asked;        /* the operation the call named */
  gi_op op;           /* the one sent: a variation on anything but dall-e-2 is an edit */
  int snap;           /* stack index of the checked copy of the options (the variation
                         prompt filled in); the strings below live in it */
  const char *model;  /* the model sent, NULL when none is sent */
  gi_model m;         /* its row (family GI_MODEL_UNKNOWN when not in the table) */
  const char *size, *quality, *output_format, *response_format; /* as given, or NULL */
  gi_rules_int n, compression, partial;
  int stream;         /* stream = true */
} gi_rules;

/* The prompt of a variation made as an edit when the call gives none. */
extern const char gi_rules_variation_prompt[];

/* "generate", "edit", "variation". */
const char *gi_rules_op_name(gi_op op);

/* Checks the options table at opts_idx for the operation asked: names
 * (with a "did you mean"), types, the options the job reads itself (save,
 * timeout ...), extra, the model and whether it does the operation, the
 * prompt, every value against the model's row, the format's rules, and that
 * an edit has an image.  default_model stands in when the options name
 * none (may be NULL; the caller keeps it alive).  Pushes one value (the
 * checked copy, out->snap); raises on a caller bug. */
void gi_rules_check(lua_State *L, int opts_idx, gi_op asked, const char *default_model, gi_rules *out);

/* The option 'image' at image_idx: returns how many images it holds and
 * sets *listed when it is a list (parts named image[]); raises for an empty
 * list, a list with holes or named fields, a list where one image is taken,
 * or more images than the model edits. */
int gi_rules_image_count(lua_State *L, const gi_rules *r, int image_idx, int *listed);

/* One input image as read: its format, shape and size for the model. */
void gi_rules_check_image(lua_State *L, const gi_rules *r, const struct gi_input *in);

/* A mask or markup as read, against the first image: a PNG with alpha of
 * the same size, under the limit of its kind.  what: "mask" or "markup". */
void gi_rules_check_overlay(lua_State *L, const gi_rules *r, const struct gi_input *overlay,
                            const struct gi_input *first,
                            const char *what);

/* A finite number with no fraction at idx, into *out (huge ones clamped);
 * 0 when it is not one.  What the rules call an integer, for the builder's
 * form fields too. */
int gi_rules_integer(lua_State *L, int idx, long long *out);

#endif
