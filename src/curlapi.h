/* curlapi: how the module reaches libcurl.
 *
 * Loading libcurl and the thirty libraries it needs is nearly all of the
 * time `require "gptimage"` would take (about 6 ms of 6.5 on Debian), and
 * an editor or a game that requires the module at start-up may never send
 * a request.  So by default (GPTIMAGE_LAZY_LIBCURL) the module is not linked
 * with libcurl: gi_curl_load() opens it with dlopen the first time a client
 * needs its transport, and the curl_* names below go through a table of
 * function pointers filled from it.  Built with GPTIMAGE_LAZY_LIBCURL=0 the
 * module links libcurl as usual and the names are libcurl's own (with
 * curl's compile-time option type checks, which the lazy build cannot have).
 *
 * Every C file includes this header instead of <curl/curl.h>. */
#ifndef GPTIMAGE_CURLAPI_H
#define GPTIMAGE_CURLAPI_H

#ifndef GPTIMAGE_LAZY_LIBCURL
#define GPTIMAGE_LAZY_LIBCURL 1
#endif

#if GPTIMAGE_LAZY_LIBCURL
#define CURL_DISABLE_TYPECHECK
#endif
#include <curl/curl.h>
#include <stddef.h>
#include <time.h>

/* Loads libcurl once per process (thread-safe) and runs curl_global_init.
 * 0 when it is ready; otherwise -1 with the reason in err. */
int gi_curl_load(char *err, size_t errlen);

#if GPTIMAGE_LAZY_LIBCURL
/* Every libcurl function the module calls: return type, name without
 * "curl_", parameters. One list makes both the table and its loader. */
#define GI_CURL_FUNCTIONS(X) \
  X(CURLcode, global_init, (long flags)) \
  X(curl_version_info_data *, version_info, (CURLversion age)) \
  X(CURL *, easy_init, (void)) \
  X(CURLcode, easy_setopt, (CURL *curl, CURLoption option, ...)) \
  X(CURLcode, easy_getinfo, (CURL *curl, CURLINFO info, ...)) \
  X(void, easy_reset, (CURL *curl)) \
  X(CURLcode, easy_pause, (CURL *curl, int bitmask)) \
  X(void, easy_cleanup, (CURL *curl)) \
  X(const char *, easy_strerror, (CURLcode code)) \
  X(char *, easy_escape, (CURL *curl, const char *string, int length)) \
  X(void, free, (void *p)) \
  X(time_t, getdate, (const char *p, const time_t *unused)) \
  X(struct curl_slist *, slist_append, (struct curl_slist *list, const char *data)) \
  X(void, slist_free_all, (struct curl_slist *list)) \
  X(curl_mime *, mime_init, (CURL *easy)) \
  X(void, mime_free, (curl_mime *mime)) \
  X(curl_mimepart *, mime_addpart, (curl_mime *mime)) \
  X(CURLcode, mime_name, (curl_mimepart *part, const char *name)) \
  X(CURLcode, mime_filename, (curl_mimepart *part, const char *filename)) \
  X(CURLcode, mime_type, (curl_mimepart *part, const char *mimetype)) \
  X(CURLcode, mime_data, (curl_mimepart *part, const char *data, size_t datasize)) \
  X(CURLcode, mime_filedata, (curl_mimepart *part, const char *filename)) \
  X(CURLcode, mime_data_cb, (curl_mimepart *part, curl_off_t datasize, curl_read_callback readfunc, curl_seek_callback seekfunc, curl_free_callback freefunc, void *arg)) \
  X(CURLM *, multi_init, (void)) \
  X(CURLMcode, multi_setopt, (CURLM *multi, CURLMoption option, ...)) \
  X(CURLMcode, multi_add_handle, (CURLM *multi, CURL *easy)) \
  X(CURLMcode, multi_remove_handle, (CURLM *multi, CURL *easy)) \
  X(CURLMcode, multi_perform, (CURLM *multi, int *running)) \
  X(CURLMcode, multi_poll, (CURLM *multi, struct curl_waitfd extra_fds[], unsigned int extra_nfds, int timeout_ms, int *numfds)) \
  X(CURLMcode, multi_timeout, (CURLM *multi, long *milliseconds)) \
  X(CURLMsg *, multi_info_read, (CURLM *multi, int *msgs_in_queue)) \
  X(CURLMcode, multi_cleanup, (CURLM *multi))

#define GI_CURL_FIELD(ret, name, params) ret(*name) params;
typedef struct gi_curl_api {
  GI_CURL_FUNCTIONS(GI_CURL_FIELD)
} gi_curl_api;
#undef GI_CURL_FIELD

extern gi_curl_api gi_curl;

/* curl.h makes these three macros of themselves to insist on three arguments */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_multi_setopt

#define curl_global_init gi_curl.global_init
#define curl_version_info gi_curl.version_info
#define curl_easy_init gi_curl.easy_init
#define curl_easy_setopt gi_curl.easy_setopt
#define curl_easy_getinfo gi_curl.easy_getinfo
#define curl_easy_reset gi_curl.easy_reset
#define curl_easy_pause gi_curl.easy_pause
#define curl_easy_cleanup gi_curl.easy_cleanup
#define curl_easy_strerror gi_curl.easy_strerror
#define curl_easy_escape gi_curl.easy_escape
#define curl_free gi_curl.free
#define curl_getdate gi_curl.getdate
#define curl_slist_append gi_curl.slist_append
#define curl_slist_free_all gi_curl.slist_free_all
#define curl_mime_init gi_curl.mime_init
#define curl_mime_free gi_curl.mime_free
#define curl_mime_addpart gi_curl.mime_addpart
#define curl_mime_name gi_curl.mime_name
#define curl_mime_filename gi_curl.mime_filename
#define curl_mime_type gi_curl.mime_type
#define curl_mime_data gi_curl.mime_data
#define curl_mime_filedata gi_curl.mime_filedata
#define curl_mime_data_cb gi_curl.mime_data_cb
#define curl_multi_init gi_curl.multi_init
#define curl_multi_setopt gi_curl.multi_setopt
#define curl_multi_add_handle gi_curl.multi_add_handle
#define curl_multi_remove_handle gi_curl.multi_remove_handle
#define curl_multi_perform gi_curl.multi_perform
#define curl_multi_poll gi_curl.multi_poll
#define curl_multi_timeout gi_curl.multi_timeout
#define curl_multi_info_read gi_curl.multi_info_read
#define curl_multi_cleanup gi_curl.multi_cleanup
#endif

#endif
