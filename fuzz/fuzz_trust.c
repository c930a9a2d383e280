/* fuzz_trust: the trust judge (src/trust.c) reading any bundle and any
 * hashed entry.
 *
 * The input up to its first NUL is the bundle; what follows, up to the next
 * NUL, is the one certificate file of a hashed folder, which also holds
 * names OpenSSL would not look up (they must be ignored).  The judge must
 * count exactly one hashed entry; if the folder holds the bundle's
 * certificates, it holds the entry's own; and an entry that is the same as
 * its folder stays the same when its bundle names its certificate twice. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fuzz.h"
#include "trust.h"

static char folder[64], bundle[96], entry[96], twice[96];

static void write_file(const char *path, const uint8_t *p, size_t n) {
  FILE *f = fopen(path, "wb");
  FUZZ_CHECK(f != NULL);
  FUZZ_CHECK(n == 0 || fwrite(p, 1, n, f) == n);
  FUZZ_CHECK(fclose(f) == 0);
}

static const char *ignored[] = {"README", "1234567.0", "0000000g.0", "00000000.r0", "00000000.", "00000000.0x"};

/* the folder goes when the process ends */
static void remove_all(void) {
  char path[160];
  size_t i;
  for (i = 0; i < sizeof ignored / sizeof *ignored; i++) {
    snprintf(path, sizeof path, "%s/dir/%s", folder, ignored[i]);
    remove(path);
  }
  remove(entry);
  remove(bundle);
  remove(twice);
  snprintf(path, sizeof path, "%s/dir", folder);
  rmdir(path);
  rmdir(folder);
}

static void prepare(void) {
  char path[160];
  size_t i;
  if (folder[0]) return;
  snprintf(folder, sizeof folder, "%s/fuzz-trust-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  FUZZ_CHECK(mkdtemp(folder) != NULL);
  snprintf(bundle, sizeof bundle, "%s/bundle", folder);
  snprintf(twice, sizeof twice, "%s/twice", folder);
  snprintf(path, sizeof path, "%s/dir", folder);
  FUZZ_CHECK(mkdir(path, 0700) == 0);
  snprintf(entry, sizeof entry, "%s/dir/0123abcd.0", folder);
  for (i = 0; i < sizeof ignored / sizeof *ignored; i++) {
    snprintf(path, sizeof path, "%s/dir/%s", folder, ignored[i]);
    write_file(path, (const uint8_t *)"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", 58);
  }
  atexit(remove_all);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nul = (const uint8_t *)memchr(data, 0, size), *e, *e_end;
  size_t b_len = nul ? (size_t)(nul - data) : size;
  char dir[80];
  gi_trust t, self, doubled;
  prepare();
  e = nul ? nul + 1 : data + size;
  e_end = (const uint8_t *)memchr(e, 0, (size_t)(data + size - e));
  if (e_end == NULL) e_end = data + size;
  write_file(bundle, data, b_len);
  write_file(entry, e, (size_t)(e_end - e));
  snprintf(dir, sizeof dir, "%s/dir", folder);

  FUZZ_CHECK(gi_trust_judge(&t, bundle, dir) == 0);
  FUZZ_CHECK(t.dir_certificates == 1);
  FUZZ_CHECK(t.file_certificates >= 0);
  FUZZ_CHECK(!t.same_certificates || t.file_certificates >= 1);

  FUZZ_CHECK(gi_trust_judge(&self, entry, dir) == 0);
  if (t.same_certificates) FUZZ_CHECK(self.same_certificates);
  if (self.same_certificates) {
    FILE *f = fopen(twice, "wb");
    FUZZ_CHECK(f != NULL);
    FUZZ_CHECK(fwrite(e, 1, (size_t)(e_end - e), f) == (size_t)(e_end - e));
    FUZZ_CHECK(fputc('\n', f) == '\n');
    FUZZ_CHECK(fwrite(e, 1, (size_t)(e_end - e), f) == (size_t)(e_end - e));
    FUZZ_CHECK(fclose(f) == 0);
    FUZZ_CHECK(gi_trust_judge(&doubled, twice, dir) == 0);
    FUZZ_CHECK(doubled.same_certificates);
    FUZZ_CHECK(doubled.file_certificates == 2 * self.file_certificates);
    gi_trust_clear(&doubled);
  }
  gi_trust_clear(&self);
  gi_trust_clear(&t);
  return 0;
}
