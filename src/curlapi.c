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

#define SYMBOL(field, name) {offsetof(gi_curl_api, field), name}
static const struct {
  size_t offset;
  const char *name;
} SYMBOLS[] = {
  SYMBOL(global_init, "curl_global_init"),
  SYMBOL(version_info, "curl_version_info"),
  SYMBOL(easy_init, "curl_easy_init"),
  SYMBOL(easy_setopt, "curl_easy_setopt"),
  SYMBOL(easy_getinfo, "curl_easy_getinfo"),
  SYMBOL(easy_reset, "curl_easy_reset"),
  SYMBOL(easy_cleanup, "curl_easy_cleanup"),
  SYMBOL(easy_strerror, "curl_easy_strerror"),
  SYMBOL(easy_escape, "curl_easy_escape"),
  SYMBOL(free, "curl_free"),
  SYMBOL(getdate, "curl_getdate"),
  SYMBOL(slist_append, "curl_slist_append"),
  SYMBOL(slist_free_all, "curl_slist_free_all"),
  SYMBOL(mime_init, "curl_mime_init"),
  SYMBOL(mime_free, "curl_mime_free"),
  SYMBOL(mime_addpart, "curl_mime_addpart"),
  SYMBOL(mime_name, "curl_mime_name"),
  SYMBOL(mime_filename, "curl_mime_filename"),
  SYMBOL(mime_type, "curl_mime_type"),
  SYMBOL(mime_data, "curl_mime_data"),
  SYMBOL(mime_filedata, "curl_mime_filedata"),
  SYMBOL(mime_data_cb, "curl_mime_data_cb"),
  SYMBOL(multi_init, "curl_multi_init"),
  SYMBOL(multi_setopt, "curl_multi_setopt"),
  SYMBOL(multi_add_handle, "curl_multi_add_handle"),
  SYMBOL(multi_remove_handle, "curl_multi_remove_handle"),
  SYMBOL(multi_perform, "curl_multi_perform"),
  SYMBOL(multi_poll, "curl_multi_poll"),
  SYMBOL(multi_timeout, "curl_multi_timeout"),
  SYMBOL(multi_info_read, "curl_multi_info_read"),
  SYMBOL(multi_cleanup, "curl_multi_cleanup"),
};
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
