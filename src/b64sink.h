/* b64sink: where one decoded image goes.
 *
 * A sink receives an image either as base64 text (strictly checked: alphabet,
 * padding, length; checked and decoded in one pass) or as raw bytes (a URL download),
 * and writes it to memory or to a temporary file beside its final path.
 * A file sink becomes visible only on gi_sink_commit (rename); gi_sink_abort
 * or gi_sink_free without commit removes the temporary file.  Pure C, no Lua,
 * so the fuzzers can drive it directly. */
#ifndef GPTIMAGE_B64SINK_H
#define GPTIMAGE_B64SINK_H

#include <stddef.h>

typedef struct gi_sink gi_sink;

enum {
  GI_SINK_OK = 0,
  GI_SINK_EBASE64 = 1, /* character outside the alphabet, misplaced '=', bad length */
  GI_SINK_EIO = 2,     /* open/write/close/rename failed; errno kept in the message */
  GI_SINK_ENOMEM = 3,
  GI_SINK_ELIMIT = 4   /* more bytes than the sink's limit */
};

/* Memory sink. limit: most decoded bytes accepted (0 = no limit). NULL on ENOMEM. */
gi_sink *gi_sink_new_memory(size_t limit);

/* File sink: creates missing parent folders, then a temporary file created
 * exclusively (O_EXCL) in the same folder as final_path. NULL on failure with
 * a message in err (never longer than errlen-1). */
gi_sink *gi_sink_new_file(const char *final_path, size_t limit, char *err, size_t errlen);

/* memory sink: room for at least bytes in all, allocated now (a hint;
 * writing more still grows it); a file sink ignores it */
int gi_sink_reserve(gi_sink *s, size_t bytes);
int gi_sink_write_b64(gi_sink *s, const char *text, size_t len); /* any split */
int gi_sink_write_raw(gi_sink *s, const char *bytes, size_t len);
int gi_sink_finish(gi_sink *s);  /* end of input: checks the base64 ended cleanly, flushes */
int gi_sink_commit(gi_sink *s);  /* file: rename over final path; memory: no-op */
void gi_sink_abort(gi_sink *s);  /* file: close and unlink the temp file */
/* file, finished and not failed: closes the temporary file and leaves it in
 * place (abort and free no longer remove it); returns its path (owned by the
 * sink), or NULL when there is nothing whole to keep. */
const char *gi_sink_keep(gi_sink *s);
void gi_sink_free(gi_sink *s);   /* aborts if not committed */

const char *gi_sink_message(const gi_sink *s);          /* last error, "" if none */
const char *gi_sink_data(const gi_sink *s, size_t *len); /* memory sink's bytes */
char *gi_sink_take(gi_sink *s, size_t *len);             /* memory: hand the buffer over (caller frees) */
const char *gi_sink_path(const gi_sink *s);              /* file: final path */
size_t gi_sink_size(const gi_sink *s);                   /* decoded bytes so far */

#endif
