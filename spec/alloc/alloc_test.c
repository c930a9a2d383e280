/* alloc_test: the module under a Lua allocator that refuses large blocks, so
 * that every push of a big string raises "not enough memory" inside the
 * module.  Memory the module holds in C at that moment must still be freed:
 * the process's own heap (mallinfo2, outside Lua's allocator) may not grow
 * with the number of failed calls.
 * The module is found through LUA_CPATH, as the specs find it. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

static size_t refuse_from = (size_t)-1; /* blocks of this size or more fail */

static void *limited_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  (void)ud;
  if (nsize == 0) {
    free(ptr);
    return NULL;
  }
  if (nsize >= refuse_from && nsize > osize) return NULL;
  return realloc(ptr, nsize);
}

static const char SCRIPT[] =
  "local gptimage = require 'gptimage'\n"
  "local text = ('QUJD'):rep(1024 * 1024)\n" /* 4 MiB of base64, 3 MiB decoded */
  "return function()\n"
  "  local ok, err = pcall(gptimage.b64decode, text)\n"
  "  assert(not ok, 'b64decode succeeded under a 1 MiB allocation limit')\n"
  "  assert(tostring(err):find('memory'), 'unexpected error: ' .. tostring(err))\n"
  "end\n";

int main(void) {
  lua_State *L;
  size_t before, after;
  int i, rounds = 40;
  L = lua_newstate(limited_alloc, NULL);
  if (L == NULL) return 2;
  luaL_openlibs(L);
  if (luaL_loadstring(L, SCRIPT) != 0 || lua_pcall(L, 0, 1, 0) != 0) {
    fprintf(stderr, "alloc_test: %s\n", lua_tostring(L, -1));
    return 1;
  }
  refuse_from = 1024 * 1024;
  lua_pushvalue(L, -1);
  if (lua_pcall(L, 0, 0, 0) != 0) { /* one round first: one-time allocations */
    fprintf(stderr, "alloc_test: %s\n", lua_tostring(L, -1));
    return 1;
  }
  lua_gc(L, LUA_GCCOLLECT, 0);
  before = mallinfo2().uordblks;
  for (i = 0; i < rounds; i++) {
    lua_pushvalue(L, -1);
    if (lua_pcall(L, 0, 0, 0) != 0) {
      fprintf(stderr, "alloc_test: %s\n", lua_tostring(L, -1));
      return 1;
    }
  }
  lua_gc(L, LUA_GCCOLLECT, 0);
  after = mallinfo2().uordblks;
  lua_close(L);
  /* a leak of the decoded buffer is 3 MiB a round: 120 MiB */
  if (after > before + 16u * 1024 * 1024) {
    fprintf(stderr, "alloc_test: the heap grew by %zu bytes over %d failed decodes\n", after - before, rounds);
    return 1;
  }
  printf("alloc_test: heap %zu -> %zu bytes over %d failed decodes\n", before, after, rounds);
  return 0;
}
