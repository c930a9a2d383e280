/* jpeg_codec: JPEG decoding through libjpeg (see jpeg_codec.h).  libjpeg
 * reports errors by calling error_exit, which here jumps back to the call
 * with the library's message; its warnings are not printed.  A progressive
 * file may have at most MAX_SCANS scans, so a small file cannot keep the
 * decoder busy for long. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include "jpeg_codec.h"

#define MAX_SCANS 256

typedef struct guard {
  struct jpeg_error_mgr pub;
  struct jpeg_progress_mgr progress;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
} guard;

static void on_error(j_common_ptr cinfo) {
  guard *g = (guard *)cinfo->err;
  (*cinfo->err->format_message)(cinfo, g->message);
  longjmp(g->jump, 1);
}

static void on_message(j_common_ptr cinfo) { (void)cinfo; }

static void on_progress(j_common_ptr cinfo) {
  guard *g = (guard *)cinfo->err;
  if (cinfo->is_decompressor && ((j_decompress_ptr)cinfo)->input_scan_number > MAX_SCANS) {
    snprintf(g->message, sizeof g->message, "more than %d scans", MAX_SCANS);
    longjmp(g->jump, 1);
  }
}

static void setup(struct jpeg_decompress_struct *cinfo, guard *g) {
  cinfo->err = jpeg_std_error(&g->pub);
  g->pub.error_exit = on_error;
  g->pub.output_message = on_message;
  g->message[0] = '\0';
}

static unsigned long jpeg_len(size_t len) {
  return len > (size_t)0xFFFFFFFFUL ? 0xFFFFFFFFUL : (unsigned long)len;
}

int gi_jpeg_info(const unsigned char *data, size_t len, const gi_limits *lim, gi_info *out, char *err,
                 size_t errlen) {
  struct jpeg_decompress_struct cinfo;
  guard g;
  memset(out, 0, sizeof *out);
  setup(&cinfo, &g);
  if (setjmp(g.jump)) {
    jpeg_destroy_decompress(&cinfo);
    snprintf(err, errlen, "damaged JPEG: %s", g.message);
    return -1;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, jpeg_len(len));
  jpeg_read_header(&cinfo, TRUE);
  out->format = GI_FMT_JPEG;
  out->width = cinfo.image_width;
  out->height = cinfo.image_height;
  out->frames = 1;
  jpeg_destroy_decompress(&cinfo);
  return gi_check_size(out->width, out->height, lim, "the JPEG", err, errlen);
}

int gi_jpeg_decode(const unsigned char *data, size_t len, const gi_limits *lim, gi_rgba *out, char *err,
                   size_t errlen) {
  struct jpeg_decompress_struct cinfo;
  guard g;
  memset(out, 0, sizeof *out);
  setup(&cinfo, &g);
  if (setjmp(g.jump)) {
    jpeg_destroy_decompress(&cinfo);
    gi_rgba_free(out);
    snprintf(err, errlen, "damaged JPEG: %s", g.message);
    return -1;
  }
  jpeg_create_decompress(&cinfo);
  g.progress.progress_monitor = on_progress;
  cinfo.progress = &g.progress;
  jpeg_mem_src(&cinfo, data, jpeg_len(len));
  jpeg_read_header(&cinfo, TRUE);
  if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
    jpeg_destroy_decompress(&cinfo);
    snprintf(err, errlen, "CMYK JPEGs are not supported");
    return -1;
  }
  if (gi_check_size(cinfo.image_width, cinfo.image_height, lim, "the JPEG", err, errlen) != 0 ||
      gi_rgba_alloc(out, cinfo.image_width, cinfo.image_height, lim, err, errlen) != 0) {
    jpeg_destroy_decompress(&cinfo);
    return -1;
  }
  cinfo.out_color_space = JCS_EXT_RGBA;
  jpeg_start_decompress(&cinfo);
  if (cinfo.output_width != out->width || cinfo.output_height != out->height || cinfo.output_components != 4) {
    jpeg_destroy_decompress(&cinfo);
    gi_rgba_free(out);
    snprintf(err, errlen, "damaged JPEG: unexpected output size");
    return -1;
  }
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = out->px + (size_t)cinfo.output_scanline * out->width * 4;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return 0;
}
