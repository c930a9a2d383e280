/* hint: "did you mean" for option names.
 *
 * Feed every known name to gi_hint_consider; gi_hint_best then gives the
 * closest one when it is close enough to be a typo of the key (edit
 * distance with neighbour swaps counted as one edit), or NULL. */
#ifndef GPTIMAGE_HINT_H
#define GPTIMAGE_HINT_H

#include <stddef.h>

typedef struct gi_hint {
  const char *key;
  const char *best;
  size_t distance;
} gi_hint;

void gi_hint_init(gi_hint *h, const char *key);
void gi_hint_consider(gi_hint *h, const char *name);
const char *gi_hint_best(const gi_hint *h);

#endif
