/* trust: which certificate authorities a transfer loads, and how cheaply.
 *
 * Debian's libcurl trusts a bundle file (/etc/ssl/certs/ca-certificates.crt,
 * about 150 certificates) and a hashed directory (/etc/ssl/certs) holding
 * the same certificates one per file.  Because a directory is set, libcurl
 * keeps no cache of the parsed bundle: every new TLS connection has OpenSSL
 * parse the whole file again, about 20 ms of CPU, one frame of a game lost
 * for each connection the client opens.  A directory costs nothing up
 * front: OpenSSL reads only the files of the issuers it looks up.
 *
 * gi_trust_judge() reads a pair (file, dir) and tells whether the directory
 * holds exactly the certificates of the file: every hashed entry (a name of
 * eight hex digits, a dot and a number) is one PEM certificate found in the
 * file, and every certificate of the file has an entry.  When it does, the
 * directory alone trusts what the pair trusts and transfers load it alone.
 * Certificates are compared by a 64-bit hash of their base64 body.
 *
 * gi_trust_default() judges once per process the pair transfers use when
 * the client names none: SSL_CERT_FILE and SSL_CERT_DIR where set (as the
 * curl command does), else libcurl's built-in pair.  Call it only after
 * gi_curl_load() succeeded.  If the directory alone ever fails to verify a
 * server (gi_trust_dir_failed), every later transfer loads the pair.  It
 * also has OpenSSL, when libcurl loaded it, make its first context, so
 * that the first TLS connection does not pay OpenSSL's setup in a poll.
 *
 * Pure C but for the libcurl probe and the OpenSSL warm-up (castore.h) of
 * gi_trust_default(); no Lua. */
#ifndef GPTIMAGE_TRUST_H
#define GPTIMAGE_TRUST_H

typedef struct gi_trust {
  char *file;              /* the bundle, or NULL */
  char *dir;               /* the hashed directory, or NULL */
  long file_certificates;  /* certificates in file; -1 when it cannot be read */
  long dir_certificates;   /* hashed entries in dir; -1 when it cannot be read */
  int same_certificates;   /* dir holds exactly the certificates of file */
  int use_dir_only;        /* transfers load dir alone (same, and OpenSSL reads dirs) */
  const char *source;      /* "environment", "libcurl" or "none" (static) */
  int tls_ready;           /* the default only: OpenSSL's one-time setup is done */
} gi_trust;

/* Judges the pair; either may be NULL.  Sets every field but source,
 * use_dir_only and tls_ready (0).  0, or -1 when out of memory (t is then cleared). */
int gi_trust_judge(gi_trust *t, const char *file, const char *dir);
void gi_trust_clear(gi_trust *t);

/* The default pair, judged on the first call (thread-safe); never NULL. */
const gi_trust *gi_trust_default(void);
/* The default directory alone failed to verify a server: from now on the
 * default pair is used whole.  Returns 1 if this changed anything. */
int gi_trust_dir_failed(void);
/* 1 while transfers without a ca_file or ca_path load the directory alone */
int gi_trust_dir_only(void);
/* What those transfers load now: "dir" (the directory alone, or the only
 * one of the pair), "both", "file" or "none".  gi_transfer_setup loads by
 * gi_trust_dir_only and the default pair; gptimage.trust() reports this. */
const char *gi_trust_default_uses(void);

#endif
