/* fuzz.h: what the harnesses share: the libFuzzer entry point, a check that
 * aborts (a crash is what libFuzzer and the replay driver report), a
 * deterministic generator seeded from the input itself, and a byte buffer. */
#ifndef GPTIMAGE_FUZZ_H
#define GPTIMAGE_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                              \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
      abort();                                                                        \
    }                                                                                 \
  } while (0)

/* FNV-1a: the same input always gets the same chunking */
static inline uint64_t fuzz_hash(const uint8_t *data, size_t size) {
  uint64_t h = 0xcbf29ce484222325ULL;
  size_t i;
  for (i = 0; i < size; i++) h = (h ^ data[i]) * 0x100000001b3ULL;
  return h;
}

/* splitmix64 */
static inline uint64_t fuzz_next(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* The size of the next chunk, at most left. Empty chunks are included on
 * purpose: a feed of nothing must change nothing. */
static inline size_t fuzz_chunk(uint64_t *state, size_t left) {
  uint64_t r = fuzz_next(state);
  size_t n;
  switch (r & 7) {
    case 0: n = 0; break;
    case 1: case 2: n = 1; break;
    case 3: n = (size_t)(r >> 8) % 4 + 1; break;
    case 4: case 5: n = (size_t)(r >> 8) % 64 + 1; break;
    default: n = (size_t)(r >> 8) % 4096 + 1; break;
  }
  return n < left ? n : left;
}

typedef struct fuzz_buf {
  char *p;
  size_t len, cap;
} fuzz_buf;

static inline void fuzz_buf_add(fuzz_buf *b, const void *p, size_t n) {
  if (n > b->cap - b->len) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < n) cap *= 2;
    b->p = (char *)realloc(b->p, cap);
    FUZZ_CHECK(b->p != NULL);
    b->cap = cap;
  }
  if (n) memcpy(b->p + b->len, p, n);
  b->len += n;
}

static inline int fuzz_buf_equal(const fuzz_buf *a, const fuzz_buf *b) {
  return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

/* a is the start of b */
static inline int fuzz_buf_prefix(const fuzz_buf *a, const fuzz_buf *b) {
  return a->len <= b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

static inline void fuzz_buf_free(fuzz_buf *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

#endif
