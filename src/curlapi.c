/* curlapi: loading libcurl on first use (see curlapi.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "curlapi.h"
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#if GPTIMAGE_LAZY_LIBCURL
#include <dlfcn.h>

/* The file to open: the soname of the libcurl the module was built against
 * (CMake passes it), else the usual one for the platform. */
#ifndef GPTIMAGE_LIBCURL_SONAME
#ifdef __APPLE__
#define GPTIMAGE_LIBCURL_SONAME "libcurl.4.dylib"
#else
#define GPTIMAGE_LIBCURL_SONAME "libcurl.so.4"
#endif
#endif

gi_curl_api gi_curl;

#define GI_CURL_SYMBOL(ret, name, params) {offsetof(gi_curl_api, name), "curl_" #name},
static const struct {
  size_t offset;
  const char *name;
} SYMBOLS[] = {GI_CURL_FUNCTIONS(GI_CURL_SYMBOL)};
#undef GI_CURL_SYMBOL
#endif

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int loaded;
static char load_error[256]; /* why not, when not */

static void load(void) {
#if GPTIMAGE_LAZY_LIBCURL
  /* never closed: libcurl keeps global state for the life of the process */
  void *lib = dlopen(GPTIMAGE_LIBCURL_SONAME, RTLD_NOW | RTLD_LOCAL);
  size_t i;
  if (lib == NULL) {
    const char *why = dlerror();
    snprintf(load_error, sizeof load_error, "cannot load libcurl: %s", why ? why : GPTIMAGE_LIBCURL_SONAME);
    return;
  }
  for (i = 0; i < sizeof SYMBOLS / sizeof SYMBOLS[0]; i++) {
    void *symbol = dlsym(lib, SYMBOLS[i].name);
    if (symbol == NULL) {
      snprintf(load_error, sizeof load_error, "cannot load libcurl: %s has no %s (libcurl 7.66 or newer is needed)",
               GPTIMAGE_LIBCURL_SONAME, SYMBOLS[i].name);
      return;
    }
    /* POSIX guarantees a data pointer from dlsym converts to a function pointer */
    memcpy((char *)&gi_curl + SYMBOLS[i].offset, &symbol, sizeof symbol);
  }
#endif
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    snprintf(load_error, sizeof load_error, "curl_global_init failed");
    return;
  }
  loaded = 1;
}

int gi_curl_load(char *err, size_t errlen) {
  if (pthread_once(&load_once, load) != 0) {
    snprintf(err, errlen, "cannot load libcurl: pthread_once failed");
    return -1;
  }
  if (!loaded) {
    snprintf(err, errlen, "%s", load_error[0] ? load_error : "cannot load libcurl");
    return -1;
  }
  return 0;
}
