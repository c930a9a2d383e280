/* fnv: FNV-1a, 64 bits, the module's one non-cryptographic hash.  The
 * trust judge (trust.c) names certificates by it, and the request cache
 * (lua/gptimage/cache.lua, through gptimage.fnv1a64) names requests and
 * files by it, so its digits must never change.  Pure C, no Lua. */
#ifndef GPTIMAGE_FNV_H
#define GPTIMAGE_FNV_H

#include <stddef.h>
#include <stdint.h>

#define GI_FNV1A64_START 0xcbf29ce484222325ULL
#define GI_FNV1A64_PRIME 0x100000001b3ULL

/* one byte into the running hash h */
static inline uint64_t gi_fnv1a64_byte(uint64_t h, unsigned char byte) {
  return (h ^ byte) * GI_FNV1A64_PRIME;
}

/* n bytes at p into the running hash h (GI_FNV1A64_START to begin) */
static inline uint64_t gi_fnv1a64(uint64_t h, const void *p, size_t n) {
  const unsigned char *s = (const unsigned char *)p;
  size_t i;
  for (i = 0; i < n; i++) h = gi_fnv1a64_byte(h, s[i]);
  return h;
}

#endif
