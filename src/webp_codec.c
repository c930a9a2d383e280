/* webp_codec: WebP through libwebp (see webp_codec.h). */
#include <stdio.h>
#include <string.h>
#include <webp/decode.h>
#include <webp/demux.h>
#include "webp_codec.h"

static int features(const unsigned char *data, size_t len, const gi_limits *lim, WebPBitstreamFeatures *f, char *err,
                    size_t errlen) {
  VP8StatusCode rc = WebPGetFeatures(data, len, f);
  if (rc != VP8_STATUS_OK) {
    snprintf(err, errlen, "damaged WebP: %s",
             rc == VP8_STATUS_NOT_ENOUGH_DATA ? "cut short" : rc == VP8_STATUS_OUT_OF_MEMORY ? "out of memory"
                                                                                           : "bad header");
    return -1;
  }
  if (f->width <= 0 || f->height <= 0) {
    snprintf(err, errlen, "damaged WebP: no size");
    return -1;
  }
  return gi_check_size((uint32_t)f->width, (uint32_t)f->height, lim, "the WebP", err, errlen);
}

int gi_webp_info(const unsigned char *data, size_t len, const gi_limits *lim, gi_info *out, char *err,
                 size_t errlen) {
  WebPBitstreamFeatures f;
  memset(out, 0, sizeof *out);
  if (features(data, len, lim, &f, err, errlen) != 0) return -1;
  out->format = GI_FMT_WEBP;
  out->width = (uint32_t)f.width;
  out->height = (uint32_t)f.height;
  out->alpha = f.has_alpha != 0;
  out->frames = 1;
  if (f.has_animation) {
    WebPData wd;
    WebPDemuxer *demux;
    uint32_t n;
    wd.bytes = data;
    wd.size = len;
    demux = WebPDemux(&wd);
    if (demux == NULL) {
      snprintf(err, errlen, "damaged WebP: bad animation");
      return -1;
    }
    n = WebPDemuxGetI(demux, WEBP_FF_FRAME_COUNT);
    WebPDemuxDelete(demux);
    if (n == 0 || n > lim->max_frames) {
      snprintf(err, errlen, n ? "the WebP has more than %u frames" : "damaged WebP: no frames", lim->max_frames);
      return -1;
    }
    out->frames = n;
  }
  return 0;
}

int gi_webp_decode(const unsigned char *data, size_t len, const gi_limits *lim, gi_rgba *out, char *err,
                   size_t errlen) {
  WebPBitstreamFeatures f;
  size_t size;
  memset(out, 0, sizeof *out);
  if (features(data, len, lim, &f, err, errlen) != 0) return -1;
  if (f.has_animation) {
    snprintf(err, errlen, "animated WebPs are not supported here");
    return -1;
  }
  if (gi_rgba_alloc(out, (uint32_t)f.width, (uint32_t)f.height, lim, err, errlen) != 0) return -1;
  size = (size_t)out->width * out->height * 4;
  if (WebPDecodeRGBAInto(data, len, out->px, size, (int)out->width * 4) == NULL) {
    gi_rgba_free(out);
    snprintf(err, errlen, "damaged WebP: bad image data");
    return -1;
  }
  return 0;
}
