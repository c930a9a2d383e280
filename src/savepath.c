/* savepath: file names of saved images (see savepath.h). */
#include <stdio.h>
#include <string.h>
#include "savepath.h"

const char *gi_savepath_ext(const char *output_format) {
  if (output_format == NULL || output_format[0] == '\0') return "png";
  if (strcmp(output_format, "jpeg") == 0) return "jpg";
  return output_format;
}

static int append(char *out, size_t outlen, size_t *pos, const char *s, size_t n) {
  if (*pos + n >= outlen) return -1;
  memcpy(out + *pos, s, n);
  *pos += n;
  out[*pos] = '\0';
  return 0;
}

int gi_savepath(const char *tmpl, unsigned index, unsigned count, const char *ext,
                char *out, size_t outlen) {
  size_t pos = 0;
  char num[16];
  const char *p;
  int has_index = strstr(tmpl, "{i}") != NULL;
  const char *slash, *dot = NULL;
  if (outlen == 0) return -1;
  out[0] = '\0';
  snprintf(num, sizeof num, "%u", index);
  /* where "-i" goes: before the extension of the last path component */
  if (!has_index && count > 1) {
    slash = strrchr(tmpl, '/');
    dot = strrchr(slash ? slash : tmpl, '.');
    if (dot == (slash ? slash + 1 : tmpl)) dot = NULL; /* ".hidden" has no extension */
    if (dot == NULL) dot = tmpl + strlen(tmpl);
  }
  for (p = tmpl;; p++) {
    if (p == dot) {
      if (append(out, outlen, &pos, "-", 1) || append(out, outlen, &pos, num, strlen(num)))
        return -1;
      dot = NULL;
    }
    if (*p == '\0') break;
    if (strncmp(p, "{i}", 3) == 0) {
      if (append(out, outlen, &pos, num, strlen(num))) return -1;
      p += 2;
    } else if (strncmp(p, "{ext}", 5) == 0) {
      if (append(out, outlen, &pos, ext, strlen(ext))) return -1;
      p += 4;
    } else if (append(out, outlen, &pos, p, 1)) {
      return -1;
    }
  }
  return 0;
}
