/* castore: certificate authorities parsed once, shared by connections.
 *
 * libcurl 7.88 over OpenSSL makes a new certificate store for each TLS
 * connection and loads the CA file and folder into it again: 0.2-0.5 ms of
 * CPU in the poll that opens the connection for a file of one certificate,
 * about 20 ms for a bundle of 150, and a folder's issuers read back from
 * disk by each connection.  A castore is one OpenSSL X509_STORE, its file
 * loaded when it is made and its folder's entries kept as connections look
 * them up; each connection of the transfers that use it takes it in place
 * of its own (CURLOPT_SSL_CTX_FUNCTION).  The store carries the flags
 * libcurl sets on its own (trusted first, partial chains), so a server is
 * judged as it would be without it.
 *
 * Only when libcurl's TLS library is OpenSSL 3 or 1.1, reached through the
 * libssl libcurl loaded: elsewhere gi_castore_new gives NULL and transfers
 * load their authorities as before, and so they do when the file or the
 * folder cannot be loaded (libcurl then says why, naming it).
 *
 * The contract: gi_castore_new reads the file now, and
 * gi_castore_warm_tls does OpenSSL's setup now (call both outside a poll);
 * a castore is used by one thread at a time, as its client is;
 * connections keep the store alive after gi_castore_free (OpenSSL counts
 * its references).  Call only after gi_curl_load() succeeded.  No Lua. */
#ifndef GPTIMAGE_CASTORE_H
#define GPTIMAGE_CASTORE_H

#include "curlapi.h"

typedef struct gi_castore gi_castore;

/* A store of file and dir (either may be NULL, not both), or NULL when
 * there is none to be had: another TLS library, no memory, a file or
 * folder OpenSSL refuses. */
gi_castore *gi_castore_new(const char *file, const char *dir);
void gi_castore_free(gi_castore *s);

/* The transfer's new connections take s's store and load nothing of their
 * own (CAINFO and CAPATH unset).  Anything but CURLE_OK leaves the
 * transfer as it was, to load its authorities itself. */
CURLcode gi_castore_use(CURL *e, gi_castore *s);
/* The transfer loads its authorities itself again (CAINFO and CAPATH are
 * the caller's to set). */
CURLcode gi_castore_drop(CURL *e);

/* 1 when stores can be made here: libcurl's TLS library is OpenSSL */
int gi_castore_available(void);

/* OpenSSL 3 sets itself up on its first context (about 1 ms here: its
 * providers and algorithm tables), which libcurl makes in the poll that
 * opens the first TLS connection.  Making and freeing one context pays
 * that in the caller instead: 1 when done, 0 with another TLS library. */
int gi_castore_warm_tls(void);

/* How many connections took a castore's store in this process: a count
 * the specs read (gptimage.trust().shared_connections). */
unsigned long gi_castore_connections(void);

#endif
