/* hint: "did you mean" for option names (see hint.h). */
#include <string.h>
#include "hint.h"

/* Names longer than this get no hint: option names are short. */
#define MAX_HINT_LEN 40

size_t gi_edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b), i, j;
  size_t d[MAX_HINT_LEN + 1][MAX_HINT_LEN + 1];
  if (la > MAX_HINT_LEN || lb > MAX_HINT_LEN) return (size_t)-1;
  for (i = 0; i <= la; i++) d[i][0] = i;
  for (j = 0; j <= lb; j++) d[0][j] = j;
  for (i = 1; i <= la; i++) {
    for (j = 1; j <= lb; j++) {
      size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
      if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
        best = d[i - 2][j - 2] + 1;
      d[i][j] = best;
    }
  }
  return d[la][lb];
}

void gi_hint_init(gi_hint *h, const char *key) {
  h->key = key;
  h->best = NULL;
  h->distance = (size_t)-1;
}

void gi_hint_consider(gi_hint *h, const char *name) {
  size_t d = gi_edit_distance(h->key, name);
  if (d < h->distance) {
    h->distance = d;
    h->best = name;
  }
}

const char *gi_hint_best(const gi_hint *h) {
  /* a typo changes a little of a long name, never most of a short one */
  if (h->best == NULL || h->distance >= strlen(h->key) || h->distance > (strlen(h->best) <= 4 ? 1u : 2u))
    return NULL;
  return h->best;
}
