/* fuzz_gif: the GIF frame reader (giflib's low-level API, composition,
 * disposal, interlace, clipping) under small limits.  Invariants: nothing
 * crashes or leaks; every frame is the screen's size; a file whose frames
 * all compose has the same size and frame count by the block walk of
 * gi_gif_info; a finished reader stays finished and a failed one failed. */
#include "fuzz.h"
#include "gif_codec.h"
#include "imgops.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  gi_limits lim;
  gi_info info;
  gi_gif *g;
  gi_rgba sheet;
  char err[GI_IMAGE_ERRLEN];
  unsigned frames = 0;
  int rc;
  lim.max_side = 256;
  lim.max_pixels = 64 * 64;
  lim.max_frames = 32;
  lim.max_work = 1u << 18;
  lim.max_sheet = 1u << 18;

  err[0] = '\0';
  g = gi_gif_open(data, size, &lim, err, sizeof err);
  if (g == NULL) {
    FUZZ_CHECK(err[0] != '\0');
    return 0;
  }
  /* two frames high when the limits allow it (else no sheet: px stays NULL) */
  if (gi_rgba_alloc(&sheet, gi_gif_width(g), gi_gif_height(g) * 2, &lim, err, sizeof err) != 0)
    FUZZ_CHECK(sheet.px == NULL && err[0] != '\0');
  for (;;) {
    const gi_rgba *canvas = NULL;
    unsigned duration = 0;
    err[0] = '\0';
    rc = gi_gif_next(g, &canvas, &duration, err, sizeof err);
    if (rc <= 0) break;
    frames++;
    FUZZ_CHECK(canvas != NULL && canvas->width == gi_gif_width(g) && canvas->height == gi_gif_height(g));
    FUZZ_CHECK(duration >= 20 || duration == 100 || duration % 10 == 0);
    if (sheet.px) gi_rgba_blit(&sheet, 0, (frames % 2) * canvas->height, canvas);
  }
  FUZZ_CHECK(rc == 0 || err[0] != '\0');
  {
    const gi_rgba *canvas = NULL;
    unsigned duration = 0;
    FUZZ_CHECK(gi_gif_next(g, &canvas, &duration, err, sizeof err) == rc);
  }
  if (rc == 0) {
    FUZZ_CHECK(frames >= 1);
    FUZZ_CHECK(gi_gif_info(data, size, &lim, &info, err, sizeof err) == 0);
    FUZZ_CHECK(info.frames == frames);
    FUZZ_CHECK(info.width == gi_gif_width(g) && info.height == gi_gif_height(g));
  }
  gi_rgba_free(&sheet);
  gi_gif_close(g);
  return 0;
}
