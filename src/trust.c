/* trust: the certificate authorities transfers load (see trust.h). */
#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "curlapi.h"
#include "castore.h"
#include "trust.h"
#include "fnv.h"

#define BUNDLE_LIMIT (64L * 1024 * 1024) /* bytes of a bundle read at most */
#define ENTRY_LIMIT (256L * 1024)        /* bytes of one hashed entry */

static const char BEGIN[] = "-----BEGIN ";
static const char CERT_LABEL[] = "CERTIFICATE-----";
static const char END[] = "-----END CERTIFICATE-----";

/* The whole file, NUL-terminated, or NULL (unreadable, too big, no memory). */
static char *read_all(const char *path, long limit, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *buf = NULL, *grown;
  size_t cap = 0, n = 0, got;
  if (f == NULL) return NULL;
  for (;;) {
    if (n + 1 >= cap) {
      size_t want = cap ? cap * 2 : 64 * 1024;
      if ((long)want > limit + 1) want = (size_t)limit + 1;
      if (n + 1 >= want || (grown = (char *)realloc(buf, want)) == NULL) {
        free(buf);
        fclose(f);
        return NULL;
      }
      buf = grown;
      cap = want;
    }
    got = fread(buf + n, 1, cap - 1 - n, f);
    n += got;
    if (got == 0) break;
  }
  if (ferror(f)) {
    free(buf);
    fclose(f);
    return NULL;
  }
  fclose(f);
  buf[n] = '\0';
  *len = n;
  return buf;
}

/* FNV-1a over the base64 body, whitespace left out */
static uint64_t body_hash(const char *p, const char *end) {
  uint64_t h = GI_FNV1A64_START;
  for (; p < end; p++) {
    unsigned char ch = (unsigned char)*p;
    if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') continue;
    h = gi_fnv1a64_byte(h, ch);
  }
  return h;
}

/* Walks the PEM blocks of text: calls add(ud, hash) for each certificate;
 * counts in *others the blocks that are something else (a CRL, a
 * "TRUSTED CERTIFICATE" with its trust settings) or never end.  Returns
 * the number of certificates, or -1 when add failed. */
static long scan_pem(const char *text, size_t len, int (*add)(void *, uint64_t), void *ud, long *others) {
  const char *p = text, *stop = text + len, *body, *end;
  long certs = 0;
  while ((p = strstr(p, BEGIN)) != NULL && p < stop) {
    p += sizeof BEGIN - 1;
    if (strncmp(p, CERT_LABEL, sizeof CERT_LABEL - 1) != 0) {
      (*others)++;
      continue;
    }
    body = p + sizeof CERT_LABEL - 1;
    if ((end = strstr(body, END)) == NULL) {
      (*others)++;
      break;
    }
    if (add(ud, body_hash(body, end)) != 0) return -1;
    certs++;
    p = end + sizeof END - 1;
  }
  return certs;
}

typedef struct hashes {
  uint64_t *v;
  size_t n, cap;
} hashes;

static int add_hash(void *ud, uint64_t h) {
  hashes *hs = (hashes *)ud;
  if (hs->n == hs->cap) {
    size_t cap = hs->cap ? hs->cap * 2 : 256;
    uint64_t *v = (uint64_t *)realloc(hs->v, cap * sizeof *v);
    if (v == NULL) return -1;
    hs->v = v;
    hs->cap = cap;
  }
  hs->v[hs->n++] = h;
  return 0;
}

static int keep_one(void *ud, uint64_t h) {
  *(uint64_t *)ud = h;
  return 0;
}

static int cmp_hash(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* "89abcdef.0": the name OpenSSL looks an issuer up by */
static int hashed_name(const char *name) {
  int i;
  for (i = 0; i < 8; i++)
    if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f'))) return 0;
  if (name[8] != '.' || name[9] < '0' || name[9] > '9') return 0;
  for (i = 10; name[i]; i++)
    if (name[i] < '0' || name[i] > '9') return 0;
  return 1;
}

/* Reads the hashed entries of dir: their count, and whether each is one
 * certificate of the (sorted, unique) bundle and every bundle certificate
 * has one.  -2 when out of memory. */
static long judge_dir(const char *dir, const hashes *bundle, int *same) {
  DIR *d = opendir(dir);
  struct dirent *ent;
  unsigned char *seen = NULL;
  size_t dlen = strlen(dir), found = 0;
  long entries = 0;
  char *path = NULL;
  if (d == NULL) return -1;
  if ((path = (char *)malloc(dlen + 2 + 256)) == NULL ||
      (bundle->n && (seen = (unsigned char *)calloc(bundle->n, 1)) == NULL)) {
    free(path);
    closedir(d);
    return -2;
  }
  while ((ent = readdir(d)) != NULL) {
    char *text;
    size_t len = 0, nlen = strlen(ent->d_name);
    long others = 0;
    uint64_t h = 0;
    const uint64_t *at;
    if (!hashed_name(ent->d_name) || nlen > 255) continue;
    entries++;
    if (!*same) continue;
    snprintf(path, dlen + 2 + 256, "%s/%s", dir, ent->d_name);
    if ((text = read_all(path, ENTRY_LIMIT, &len)) == NULL ||
        scan_pem(text, len, keep_one, &h, &others) != 1 || others != 0 ||
        (at = (const uint64_t *)bsearch(&h, bundle->v, bundle->n, sizeof h, cmp_hash)) == NULL) {
      *same = 0;
    } else if (!seen[at - bundle->v]) {
      seen[at - bundle->v] = 1;
      found++;
    }
    free(text);
  }
  closedir(d);
  /* found counts distinct bundle certificates with an entry */
  if (found != bundle->n || bundle->n == 0) *same = 0;
  free(seen);
  free(path);
  return entries;
}

void gi_trust_clear(gi_trust *t) {
  free(t->file);
  free(t->dir);
  t->file = t->dir = NULL;
  t->file_certificates = t->dir_certificates = -1;
  t->same_certificates = t->use_dir_only = t->tls_ready = 0;
}

static char *dup_or_null(const char *s, int *oom) {
  char *d;
  if (s == NULL) return NULL;
  if ((d = strdup(s)) == NULL) *oom = 1;
  return d;
}

int gi_trust_judge(gi_trust *t, const char *file, const char *dir) {
  hashes bundle = {NULL, 0, 0};
  int oom = 0, same = 0;
  t->file = t->dir = NULL;
  gi_trust_clear(t);
  t->file = dup_or_null(file, &oom);
  t->dir = dup_or_null(dir, &oom);
  if (!oom && file) {
    size_t len = 0;
    long others = 0;
    char *text = read_all(file, BUNDLE_LIMIT, &len);
    if (text) {
      t->file_certificates = scan_pem(text, len, add_hash, &bundle, &others);
      if (t->file_certificates < 0) oom = 1;
      same = others == 0 && t->file_certificates > 0;
      free(text);
    }
  }
  if (!oom && dir) {
    size_t i, u = 0;
    if (bundle.n) {
      qsort(bundle.v, bundle.n, sizeof *bundle.v, cmp_hash);
      for (i = 0; i < bundle.n; i++) /* a certificate twice in the bundle is one */
        if (u == 0 || bundle.v[u - 1] != bundle.v[i]) bundle.v[u++] = bundle.v[i];
      bundle.n = u;
    }
    t->dir_certificates = judge_dir(dir, &bundle, &same);
    if (t->dir_certificates == -2) oom = 1;
    t->same_certificates = same && t->dir_certificates > 0;
  }
  free(bundle.v);
  if (oom) {
    gi_trust_clear(t);
    return -1;
  }
  return 0;
}

static gi_trust default_trust;
static char default_file[4096], default_dir[4096];

/* path copied into buf and freed; a path too long for buf stays as it is */
static char *keep_static(char *path, char *buf, size_t size) {
  size_t len;
  if (path == NULL || (len = strlen(path)) >= size) return path;
  memcpy(buf, path, len + 1);
  free(path);
  return buf;
}

static pthread_once_t default_once = PTHREAD_ONCE_INIT;
static int default_dir_failed;

/* does the TLS library read hashed directories the way OpenSSL does? */
static int reads_hashed_dirs(void) {
  const curl_version_info_data *info = curl_version_info(CURLVERSION_NOW);
  const char *ssl = info ? info->ssl_version : NULL;
  return ssl && (strstr(ssl, "OpenSSL") || strstr(ssl, "LibreSSL") || strstr(ssl, "BoringSSL") ||
                 strstr(ssl, "quictls"));
}

static const char *env_path(const char *name) {
  const char *v = getenv(name);
  return v && *v ? v : NULL;
}

static void judge_default(void) {
  const char *env_file = env_path("SSL_CERT_FILE"), *env_dir = env_path("SSL_CERT_DIR");
  char *curl_file = NULL, *curl_dir = NULL;
  CURL *probe = curl_easy_init();
#if LIBCURL_VERSION_NUM >= 0x075400
  /* libcurl 7.84 tells its built-in pair; an older one at run time says
   * CURLE_UNKNOWN_OPTION and its defaults stay as they are */
  if (probe) {
    if (curl_easy_getinfo(probe, CURLINFO_CAINFO, &curl_file) != CURLE_OK) curl_file = NULL;
    if (curl_easy_getinfo(probe, CURLINFO_CAPATH, &curl_dir) != CURLE_OK) curl_dir = NULL;
  }
#endif
  /* out of memory, the struct is left clear: libcurl's defaults stay */
  (void)gi_trust_judge(&default_trust, env_file ? env_file : curl_file, env_dir ? env_dir : curl_dir);
  /* the default lives as long as the process, which may unload the module
   * before it ends: its paths go where no allocation is left behind */
  default_trust.file = keep_static(default_trust.file, default_file, sizeof default_file);
  default_trust.dir = keep_static(default_trust.dir, default_dir, sizeof default_dir);
  default_trust.source = env_file || env_dir ? "environment" : curl_file || curl_dir ? "libcurl" : "none";
  default_trust.use_dir_only = default_trust.same_certificates && reads_hashed_dirs();
  if (probe) curl_easy_cleanup(probe);
  default_trust.tls_ready = gi_castore_warm_tls();
}

const gi_trust *gi_trust_default(void) {
  if (pthread_once(&default_once, judge_default) != 0) {
    /* cannot happen with a valid once control; the struct is all zero */
    default_trust.source = "none";
  }
  return &default_trust;
}

int gi_trust_dir_only(void) {
  return gi_trust_default()->use_dir_only && !__atomic_load_n(&default_dir_failed, __ATOMIC_ACQUIRE);
}

const char *gi_trust_default_uses(void) {
  const gi_trust *t = gi_trust_default();
  if (gi_trust_dir_only()) return "dir";
  return t->file && t->dir ? "both" : t->file ? "file" : t->dir ? "dir" : "none";
}

int gi_trust_dir_failed(void) {
  int was = 0;
  if (!gi_trust_default()->use_dir_only) return 0;
  return __atomic_compare_exchange_n(&default_dir_failed, &was, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}
