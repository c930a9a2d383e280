/* castore: certificate authorities parsed once, shared by connections (see castore.h). */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "castore.h"

/* OpenSSL's values (x509_vfy.h), the same in 1.1 and 3 */
#define FLAG_TRUSTED_FIRST 0x8000UL
#define FLAG_PARTIAL_CHAIN 0x80000UL

/* the OpenSSL functions used, found in the libssl libcurl loaded */
static struct {
  void *(*store_new)(void);
  void (*store_free)(void *);
  int (*store_up_ref)(void *);
  int (*store_load_locations)(void *, const char *, const char *);
  int (*store_set_flags)(void *, unsigned long);
  void (*ctx_set_cert_store)(void *, void *);
  const void *(*client_method)(void);
  void *(*ctx_new)(const void *);
  void (*ctx_free)(void *);
  void (*err_clear)(void);
  int ready;
} ossl;

static pthread_once_t find_once = PTHREAD_ONCE_INIT;
static unsigned long connections;

struct gi_castore {
  void *store; /* X509_STORE */
};

static void find_openssl(void) {
  const curl_version_info_data *info = curl_version_info(CURLVERSION_NOW);
  const char *ssl = info ? info->ssl_version : NULL, *soname;
  void *lib;
  /* "OpenSSL/3.0.15"; a build with several TLS libraries names the ones
   * not in use in parentheses, and is left alone */
  if (ssl == NULL) return;
  if (strncmp(ssl, "OpenSSL/3.", 10) == 0) soname = "libssl.so.3";
  else if (strncmp(ssl, "OpenSSL/1.1.", 12) == 0) soname = "libssl.so.1.1";
  else return;
  if (strchr(ssl, '(') != NULL) return;
  /* only one already loaded: the library libcurl uses, which stays loaded
   * with libcurl (never unloaded once loaded, curlapi.h), so the functions
   * found outlive the handle */
  if ((lib = dlopen(soname, RTLD_LAZY | RTLD_LOCAL | RTLD_NOLOAD)) == NULL) return;
  *(void **)&ossl.store_new = dlsym(lib, "X509_STORE_new");
  *(void **)&ossl.store_free = dlsym(lib, "X509_STORE_free");
  *(void **)&ossl.store_up_ref = dlsym(lib, "X509_STORE_up_ref");
  *(void **)&ossl.store_load_locations = dlsym(lib, "X509_STORE_load_locations");
  *(void **)&ossl.store_set_flags = dlsym(lib, "X509_STORE_set_flags");
  *(void **)&ossl.ctx_set_cert_store = dlsym(lib, "SSL_CTX_set_cert_store");
  *(void **)&ossl.client_method = dlsym(lib, "TLS_client_method");
  *(void **)&ossl.ctx_new = dlsym(lib, "SSL_CTX_new");
  *(void **)&ossl.ctx_free = dlsym(lib, "SSL_CTX_free");
  *(void **)&ossl.err_clear = dlsym(lib, "ERR_clear_error");
  ossl.ready = ossl.store_new && ossl.store_free && ossl.store_up_ref && ossl.store_load_locations &&
               ossl.store_set_flags && ossl.ctx_set_cert_store && ossl.client_method && ossl.ctx_new &&
               ossl.ctx_free && ossl.err_clear;
  dlclose(lib);
}

gi_castore *gi_castore_new(const char *file, const char *dir) {
  gi_castore *s;
  void *store;
  if (file == NULL && dir == NULL) return NULL;
  if (pthread_once(&find_once, find_openssl) != 0 || !ossl.ready) return NULL;
  if ((store = ossl.store_new()) == NULL) {
    ossl.err_clear();
    return NULL;
  }
  if (ossl.store_load_locations(store, file, dir) != 1 ||
      ossl.store_set_flags(store, FLAG_TRUSTED_FIRST | FLAG_PARTIAL_CHAIN) != 1 ||
      (s = (gi_castore *)malloc(sizeof *s)) == NULL) {
    /* what OpenSSL queued about it is not for the next connection to read */
    ossl.err_clear();
    ossl.store_free(store);
    return NULL;
  }
  s->store = store;
  return s;
}

void gi_castore_free(gi_castore *s) {
  if (s == NULL) return;
  ossl.store_free(s->store);
  free(s);
}

/* CURLOPT_SSL_CTX_FUNCTION: libcurl made the connection's context and an
 * empty store for it; the context takes ours instead (and frees its own) */
static CURLcode take_store(CURL *e, void *ssl_ctx, void *ud) {
  gi_castore *s = (gi_castore *)ud;
  (void)e;
  if (ossl.store_up_ref(s->store) != 1) return CURLE_OUT_OF_MEMORY;
  ossl.ctx_set_cert_store(ssl_ctx, s->store);
  __atomic_add_fetch(&connections, 1, __ATOMIC_RELAXED);
  return CURLE_OK;
}

CURLcode gi_castore_use(CURL *e, gi_castore *s) {
  CURLcode rc;
  if (s == NULL) return CURLE_BAD_FUNCTION_ARGUMENT;
  if ((rc = curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, take_store)) != CURLE_OK) return rc;
  if ((rc = curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, (void *)s)) != CURLE_OK ||
      (rc = curl_easy_setopt(e, CURLOPT_CAINFO, (const char *)NULL)) != CURLE_OK ||
      (rc = curl_easy_setopt(e, CURLOPT_CAPATH, (const char *)NULL)) != CURLE_OK) {
    (void)gi_castore_drop(e);
    return rc;
  }
  return CURLE_OK;
}

CURLcode gi_castore_drop(CURL *e) {
  CURLcode rc = curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, (curl_ssl_ctx_callback)NULL);
  /* a libcurl without the option never took a store */
  return rc == CURLE_UNKNOWN_OPTION || rc == CURLE_NOT_BUILT_IN ? CURLE_OK : rc;
}

int gi_castore_warm_tls(void) {
  void *ctx;
  if (pthread_once(&find_once, find_openssl) != 0 || !ossl.ready) return 0;
  if ((ctx = ossl.ctx_new(ossl.client_method())) == NULL) {
    ossl.err_clear();
    return 0;
  }
  ossl.ctx_free(ctx);
  return 1;
}

int gi_castore_available(void) {
  return pthread_once(&find_once, find_openssl) == 0 && ossl.ready;
}

unsigned long gi_castore_connections(void) {
  return __atomic_load_n(&connections, __ATOMIC_RELAXED);
}
