/* cost: US dollars for a response (from its usage) and estimates before
 * spending (from the output-token table), from a built-in price table that a
 * client's `prices` option overrides per model. */
#ifndef GPTIMAGE_COST_H
#define GPTIMAGE_COST_H

#include "lua_compat.h"

/* Pushes the cost of res (table at res_idx: usage, size, quality, images) for
 * model, or nil when no price is known.  prices_idx: the client's override
 * table, or 0. */
void gi_cost_push(lua_State *L, int res_idx, const char *model, const char *size,
                  const char *quality, int prices_idx);
/* gptimage.cost(model, res) -> dollars | nil : the cost of a response
 * (res: usage, size, quality, images) at the built-in prices. */
int gi_cost_lua(lua_State *L);
/* gptimage.estimate{model=, quality=, size=, n=, prompt=} -> dollars, details */
int gi_cost_estimate(lua_State *L);

#endif
