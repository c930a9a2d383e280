/* replay: runs a fuzz harness without libFuzzer, over the files and folders
 * named on the command line (the seed corpus, crash files), so that every
 * compiler's build checks the harnesses' invariants on every test run.
 * Each file is also replayed cut short and with single bytes changed,
 * deterministically, to reach a little past the corpus itself. A broken
 * invariant aborts, which fails the test. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "fuzz.h"

#define VARIANTS 16

static unsigned long runs;

static int read_file(const char *path, uint8_t **data, size_t *size) {
  FILE *f = fopen(path, "rb");
  uint8_t *buf = NULL;
  size_t len = 0, cap = 0;
  if (f == NULL) return -1;
  for (;;) {
    size_t got;
    if (cap - len < 4096) {
      uint8_t *p = (uint8_t *)realloc(buf, cap ? cap * 2 : 8192);
      if (p == NULL) {
        free(buf);
        fclose(f);
        return -1;
      }
      buf = p;
      cap = cap ? cap * 2 : 8192;
    }
    got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (got == 0) break;
  }
  if (ferror(f)) {
    free(buf);
    fclose(f);
    return -1;
  }
  fclose(f);
  *data = buf;
  *size = len;
  return 0;
}

static void run_one(const uint8_t *data, size_t size) {
  /* a copy of exactly size bytes, so that reads past the end are caught */
  uint8_t *copy = (uint8_t *)malloc(size ? size : 1);
  FUZZ_CHECK(copy != NULL);
  if (size) memcpy(copy, data, size);
  LLVMFuzzerTestOneInput(copy, size);
  free(copy);
  runs++;
}

static void run_variants(const uint8_t *data, size_t size) {
  static const uint8_t REPLACEMENTS[] = {'"', '\\', '\r', '\n', '=', ':', '{', ']', 0x00, 0xff};
  uint8_t *mutated;
  size_t k;
  run_one(data, size);
  if (size == 0) return;
  for (k = 1; k < VARIANTS; k++) run_one(data, size * k / VARIANTS);
  mutated = (uint8_t *)malloc(size);
  FUZZ_CHECK(mutated != NULL);
  for (k = 0; k < VARIANTS; k++) {
    size_t at = (size_t)(fuzz_hash(data, size) + k * 7919u) % size;
    memcpy(mutated, data, size);
    mutated[at] = REPLACEMENTS[k % sizeof REPLACEMENTS];
    run_one(mutated, size);
  }
  free(mutated);
}

static int replay_path(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) {
    fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
    return -1;
  }
  if (S_ISDIR(st.st_mode)) {
    DIR *dir = opendir(path);
    struct dirent *e;
    int rc = 0;
    if (dir == NULL) {
      fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
      return -1;
    }
    while ((e = readdir(dir)) != NULL) {
      char *child;
      size_t n;
      if (e->d_name[0] == '.') continue;
      n = strlen(path) + strlen(e->d_name) + 2;
      child = (char *)malloc(n);
      FUZZ_CHECK(child != NULL);
      snprintf(child, n, "%s/%s", path, e->d_name);
      if (replay_path(child) != 0) rc = -1;
      free(child);
    }
    closedir(dir);
    return rc;
  }
  {
    uint8_t *data;
    size_t size;
    if (read_file(path, &data, &size) != 0) {
      fprintf(stderr, "replay: cannot read %s\n", path);
      return -1;
    }
    run_variants(data, size);
    free(data);
  }
  return 0;
}

int main(int argc, char **argv) {
  int i, rc = 0;
  if (argc < 2) {
    fprintf(stderr, "usage: %s FILE_OR_FOLDER...\n", argv[0]);
    return 2;
  }
  for (i = 1; i < argc; i++)
    if (replay_path(argv[i]) != 0) rc = 1;
  if (runs == 0) {
    fprintf(stderr, "replay: no input found\n");
    return 1;
  }
  printf("replay: %lu runs, no invariant broken\n", runs);
  return rc;
}
