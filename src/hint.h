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

/* Edit distance where swapping two neighbours counts as one edit; (size_t)-1
 * when either string is longer than 40 bytes (too long to be a typo). */
size_t gi_edit_distance(const char *a, const char *b);

void gi_hint_init(gi_hint *h, const char *key);
void gi_hint_consider(gi_hint *h, const char *name);
const char *gi_hint_best(const gi_hint *h);

#endif
