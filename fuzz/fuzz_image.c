/* fuzz_image: the image tools' reading paths for still images (PNG through
 * libspng, JPEG, WebP, SVG's root element, a GIF's first frame) under small
 * limits.  Invariants: nothing crashes or leaks; a picture that decodes has
 * the size its header gives; its mask at another size is made; and the PNG
 * the tools write decodes back to exactly the same pixels. */
#include "fuzz.h"
#include "image.h"
#include "imgops.h"

static gi_limits small_limits(void) {
  gi_limits lim;
  lim.max_side = 512;
  lim.max_pixels = 128 * 128;
  lim.max_frames = 64;
  lim.max_work = 1u << 20;
  lim.max_sheet = 1u << 20;
  return lim;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  gi_limits lim = small_limits();
  gi_info info;
  gi_rgba img, mask, back;
  char err[GI_IMAGE_ERRLEN];
  unsigned char *png = NULL;
  size_t png_len = 0;
  int info_rc, decode_rc;
  gi_format f = gi_image_sniff(data, size);

  err[0] = '\0';
  info_rc = gi_image_info(data, size, &lim, &info, err, sizeof err);
  FUZZ_CHECK(info_rc == 0 || err[0] != '\0');
  if (info_rc == 0) {
    FUZZ_CHECK(info.format == f);
    FUZZ_CHECK(info.frames >= 1);
  }
  err[0] = '\0';
  decode_rc = gi_image_decode(data, size, &lim, &img, err, sizeof err);
  FUZZ_CHECK(decode_rc == 0 || (err[0] != '\0' && img.px == NULL));
  if (decode_rc != 0) return 0;
  FUZZ_CHECK(img.width > 0 && img.height > 0 && img.width <= lim.max_side);
  FUZZ_CHECK((uint64_t)img.width * img.height <= lim.max_pixels);
  /* a GIF's blocks after the first frame may be damaged: info walks them all */
  if (f != GI_FMT_GIF) {
    FUZZ_CHECK(info_rc == 0);
    FUZZ_CHECK(info.width == img.width && info.height == img.height);
  }

  FUZZ_CHECK(gi_image_encode_png(&img, &png, &png_len, err, sizeof err) == 0);
  FUZZ_CHECK(gi_image_decode(png, png_len, &lim, &back, err, sizeof err) == 0);
  FUZZ_CHECK(back.width == img.width && back.height == img.height);
  FUZZ_CHECK(memcmp(back.px, img.px, (size_t)img.width * img.height * 4) == 0);
  gi_rgba_free(&back);
  free(png);

  {
    uint32_t w = 1 + (uint32_t)(fuzz_hash(data, size) % 96), h = 1 + (uint32_t)(fuzz_hash(data, size) >> 32) % 96;
    FUZZ_CHECK(gi_alpha_mask(&img, w, h, (int)(size & 1), &lim, &mask, err, sizeof err) == 0);
    FUZZ_CHECK(mask.width == w && mask.height == h);
    {
      size_t i;
      for (i = 0; i < (size_t)w * h; i++) {
        const unsigned char *p = mask.px + i * 4;
        FUZZ_CHECK(p[0] == p[3] && p[1] == p[3] && p[2] == p[3]);
      }
    }
    gi_rgba_free(&mask);
  }
  gi_rgba_free(&img);
  return 0;
}
