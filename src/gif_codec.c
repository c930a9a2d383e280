/* gif_codec: GIF frames through giflib's low-level reader (see
 * gif_codec.h).  giflib's slurping reader is not used: it would allocate
 * every frame before any limit could be checked; here each frame's
 * rectangle is checked before its rows are decoded, into one row buffer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <gif_lib.h>
#include "gif_codec.h"

typedef struct mem_reader {
  const unsigned char *data;
  size_t len, pos;
} mem_reader;

struct gi_gif {
  GifFileType *gif;
  mem_reader src;
  gi_limits lim;
  gi_rgba canvas;
  unsigned char *saved;    /* canvas before a frame with disposal 3 */
  GifPixelType *row;       /* one row of the current frame */
  int disposal;            /* of the frame last shown */
  uint32_t dx, dy, dw, dh; /* its rectangle, clipped */
  unsigned frames;
  uint64_t work;
  int done;
  int failed; /* an error is final: every later call fails */
};

static int read_mem(GifFileType *gif, GifByteType *buf, int n) {
  mem_reader *r = (mem_reader *)gif->UserData;
  size_t left = r->len - r->pos, take = n > 0 ? (size_t)n : 0;
  if (take > left) take = left;
  if (take) memcpy(buf, r->data + r->pos, take);
  r->pos += take;
  return (int)take;
}

static const char *gif_message(int code) {
  const char *s = GifErrorString(code);
  return s ? s : "unknown error";
}

static GifFileType *open_gif(mem_reader *src, char *err, size_t errlen) {
  int code = 0;
  GifFileType *gif = DGifOpen(src, read_mem, &code);
  if (gif == NULL) {
    if (code == D_GIF_ERR_NOT_ENOUGH_MEM) snprintf(err, errlen, "out of memory");
    else snprintf(err, errlen, "damaged GIF: %s", gif_message(code));
    return NULL;
  }
  if (gif->SWidth <= 0 || gif->SHeight <= 0) {
    DGifCloseFile(gif, &code);
    snprintf(err, errlen, "damaged GIF: the screen has no size");
    return NULL;
  }
  return gif;
}

static int damaged(GifFileType *gif, char *err, size_t errlen) {
  if (gif->Error == D_GIF_ERR_NOT_ENOUGH_MEM) snprintf(err, errlen, "out of memory");
  else snprintf(err, errlen, "damaged GIF: %s", gif_message(gif->Error));
  return -1;
}

/* Reads the sub-blocks of an extension; *gcb is set from a graphics control one. */
static int read_extension(GifFileType *gif, GraphicsControlBlock *gcb, int *have_gcb, char *err, size_t errlen) {
  int code;
  GifByteType *ext = NULL;
  if (DGifGetExtension(gif, &code, &ext) != GIF_OK) return damaged(gif, err, errlen);
  if (code == GRAPHICS_EXT_FUNC_CODE && ext != NULL && ext[0] >= 4) {
    if (DGifExtensionToGCB(ext[0], ext + 1, gcb) == GIF_OK) *have_gcb = 1;
  }
  while (ext != NULL) {
    if (DGifGetExtensionNext(gif, &ext) != GIF_OK) return damaged(gif, err, errlen);
  }
  return 0;
}

/* The frame rectangle checks every frame passes before its rows are read. */
static int check_frame(GifFileType *gif, const gi_limits *lim, unsigned frames, uint64_t *work, uint64_t canvas,
                       char *err, size_t errlen) {
  const GifImageDesc *d = &gif->Image;
  if (d->Width <= 0 || d->Height <= 0 || d->Left < 0 || d->Top < 0) {
    snprintf(err, errlen, "damaged GIF: frame %u has no size", frames + 1);
    return -1;
  }
  if (frames >= lim->max_frames) {
    snprintf(err, errlen, "the GIF has more than %u frames", lim->max_frames);
    return -1;
  }
  if (gi_check_size((uint32_t)d->Width, (uint32_t)d->Height, lim, "a GIF frame", err, errlen) != 0) return -1;
  *work += canvas + (uint64_t)d->Width * (uint64_t)d->Height;
  if (*work > lim->max_work) {
    snprintf(err, errlen, "the GIF's frames are over the limit of %llu pixels in all",
             (unsigned long long)lim->max_work);
    return -1;
  }
  return 0;
}

gi_gif *gi_gif_open(const unsigned char *data, size_t len, const gi_limits *lim, char *err, size_t errlen) {
  gi_gif *g = (gi_gif *)calloc(1, sizeof *g);
  int code;
  if (g == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  g->src.data = data;
  g->src.len = len;
  g->lim = *lim;
  g->gif = open_gif(&g->src, err, errlen);
  if (g->gif == NULL) {
    free(g);
    return NULL;
  }
  if (gi_rgba_alloc(&g->canvas, (uint32_t)g->gif->SWidth, (uint32_t)g->gif->SHeight, lim, err, errlen) != 0) {
    DGifCloseFile(g->gif, &code);
    free(g);
    return NULL;
  }
  g->row = (GifPixelType *)malloc(65536); /* a frame row is at most 65535 pixels */
  if (g->row == NULL) {
    gi_gif_close(g);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  return g;
}

uint32_t gi_gif_width(const gi_gif *g) { return g->canvas.width; }
uint32_t gi_gif_height(const gi_gif *g) { return g->canvas.height; }

void gi_gif_close(gi_gif *g) {
  int code;
  if (g == NULL) return;
  if (g->gif) DGifCloseFile(g->gif, &code);
  gi_rgba_free(&g->canvas);
  free(g->saved);
  free(g->row);
  free(g);
}

/* What the frame last shown leaves behind. */
static void dispose(gi_gif *g) {
  size_t stride = (size_t)g->canvas.width * 4, y;
  if (g->disposal == DISPOSE_BACKGROUND) {
    for (y = g->dy; y < (size_t)g->dy + g->dh; y++)
      memset(g->canvas.px + y * stride + (size_t)g->dx * 4, 0, (size_t)g->dw * 4);
  } else if (g->disposal == DISPOSE_PREVIOUS && g->saved != NULL) {
    memcpy(g->canvas.px, g->saved, stride * g->canvas.height);
  }
  g->disposal = DISPOSAL_UNSPECIFIED;
}

/* Decodes the rows of the current frame onto the canvas. */
static int draw_frame(gi_gif *g, const GraphicsControlBlock *gcb, char *err, size_t errlen) {
  static const int START[4] = {0, 4, 2, 1}, STEP[4] = {8, 8, 4, 2};
  GifFileType *gif = g->gif;
  const GifImageDesc *d = &gif->Image;
  const ColorMapObject *map = d->ColorMap ? d->ColorMap : gif->SColorMap;
  int w = d->Width, h = d->Height, pass, y, x;
  int transparent = gcb->TransparentColor;
  uint32_t cw = g->canvas.width, ch = g->canvas.height;
  if (map == NULL || map->Colors == NULL) {
    snprintf(err, errlen, "damaged GIF: frame %u has no colour table", g->frames);
    return -1;
  }
  for (pass = d->Interlace ? 0 : 3; pass < 4; pass++) {
    int start = d->Interlace ? START[pass] : 0, step = d->Interlace ? STEP[pass] : 1;
    for (y = start; y < h; y += step) {
      uint32_t cy = (uint32_t)d->Top + (uint32_t)y;
      unsigned char *out;
      if (DGifGetLine(gif, g->row, w) != GIF_OK) return damaged(gif, err, errlen);
      if (cy >= ch) continue;
      out = g->canvas.px + ((size_t)cy * cw + (size_t)d->Left) * 4;
      for (x = 0; x < w && (uint32_t)d->Left + (uint32_t)x < cw; x++, out += 4) {
        int i = g->row[x];
        if (i == transparent) continue;
        if (i >= map->ColorCount) {
          out[0] = out[1] = out[2] = out[3] = 0;
          continue;
        }
        out[0] = map->Colors[i].Red;
        out[1] = map->Colors[i].Green;
        out[2] = map->Colors[i].Blue;
        out[3] = 255;
      }
    }
  }
  return 0;
}

static int next_frame(gi_gif *g, const gi_rgba **canvas, unsigned *duration_ms, char *err, size_t errlen) {
  GraphicsControlBlock gcb;
  int have_gcb = 0;
  uint64_t canvas_pixels = (uint64_t)g->canvas.width * g->canvas.height;
  if (g->done) return 0;
  dispose(g);
  memset(&gcb, 0, sizeof gcb);
  gcb.TransparentColor = NO_TRANSPARENT_COLOR;
  for (;;) {
    GifRecordType type;
    if (DGifGetRecordType(g->gif, &type) != GIF_OK) {
      /* a file that ends where a block would start has shown its frames */
      if (g->frames > 0 && g->src.pos >= g->src.len) {
        g->done = 1;
        return 0;
      }
      return damaged(g->gif, err, errlen);
    }
    if (type == EXTENSION_RECORD_TYPE) {
      if (read_extension(g->gif, &gcb, &have_gcb, err, errlen) != 0) return -1;
    } else if (type == IMAGE_DESC_RECORD_TYPE) {
      const GifImageDesc *d;
      if (DGifGetImageDesc(g->gif) != GIF_OK) return damaged(g->gif, err, errlen);
      if (check_frame(g->gif, &g->lim, g->frames, &g->work, canvas_pixels, err, errlen) != 0) return -1;
      g->frames++;
      d = &g->gif->Image;
      if (gcb.DisposalMode == DISPOSE_PREVIOUS) {
        if (g->saved == NULL && (g->saved = (unsigned char *)malloc(canvas_pixels * 4)) == NULL) {
          snprintf(err, errlen, "out of memory");
          return -1;
        }
        memcpy(g->saved, g->canvas.px, canvas_pixels * 4);
      }
      if (draw_frame(g, &gcb, err, errlen) != 0) return -1;
      g->disposal = gcb.DisposalMode;
      g->dx = (uint32_t)d->Left < g->canvas.width ? (uint32_t)d->Left : g->canvas.width;
      g->dy = (uint32_t)d->Top < g->canvas.height ? (uint32_t)d->Top : g->canvas.height;
      g->dw = (uint32_t)d->Width < g->canvas.width - g->dx ? (uint32_t)d->Width : g->canvas.width - g->dx;
      g->dh = (uint32_t)d->Height < g->canvas.height - g->dy ? (uint32_t)d->Height : g->canvas.height - g->dy;
      *canvas = &g->canvas;
      *duration_ms = have_gcb && gcb.DelayTime > 1 ? (unsigned)gcb.DelayTime * 10u : 100u;
      return 1;
    } else if (type == TERMINATE_RECORD_TYPE) {
      g->done = 1;
      if (g->frames == 0) {
        snprintf(err, errlen, "damaged GIF: no frames");
        return -1;
      }
      return 0;
    } else {
      snprintf(err, errlen, "damaged GIF: unknown block");
      return -1;
    }
  }
}

int gi_gif_next(gi_gif *g, const gi_rgba **canvas, unsigned *duration_ms, char *err, size_t errlen) {
  int rc;
  if (g->failed) {
    snprintf(err, errlen, "damaged GIF");
    return -1;
  }
  rc = next_frame(g, canvas, duration_ms, err, errlen);
  if (rc < 0) g->failed = 1;
  return rc;
}

int gi_gif_info(const unsigned char *data, size_t len, const gi_limits *lim, gi_info *out, char *err, size_t errlen) {
  mem_reader src = {data, len, 0};
  GifFileType *gif = open_gif(&src, err, errlen);
  uint64_t work = 0;
  int code, rc = -1;
  memset(out, 0, sizeof *out);
  if (gif == NULL) return -1;
  out->format = GI_FMT_GIF;
  out->width = (uint32_t)gif->SWidth;
  out->height = (uint32_t)gif->SHeight;
  if (gi_check_size(out->width, out->height, lim, "the GIF", err, errlen) != 0) goto done;
  for (;;) {
    GifRecordType type;
    GraphicsControlBlock gcb;
    int have_gcb = 0, size;
    GifByteType *block = NULL;
    if (DGifGetRecordType(gif, &type) != GIF_OK) {
      if (out->frames > 0 && src.pos >= src.len) break;
      damaged(gif, err, errlen);
      goto done;
    }
    if (type == EXTENSION_RECORD_TYPE) {
      gcb.TransparentColor = NO_TRANSPARENT_COLOR;
      if (read_extension(gif, &gcb, &have_gcb, err, errlen) != 0) goto done;
      if (have_gcb && gcb.TransparentColor != NO_TRANSPARENT_COLOR) out->alpha = 1;
    } else if (type == IMAGE_DESC_RECORD_TYPE) {
      if (DGifGetImageDesc(gif) != GIF_OK) {
        damaged(gif, err, errlen);
        goto done;
      }
      /* counting, not composing: only the frame's own pixels are work */
      if (check_frame(gif, lim, out->frames, &work, 0, err, errlen) != 0) goto done;
      out->frames++;
      if (DGifGetCode(gif, &size, &block) != GIF_OK) {
        damaged(gif, err, errlen);
        goto done;
      }
      while (block != NULL) {
        if (DGifGetCodeNext(gif, &block) != GIF_OK) {
          damaged(gif, err, errlen);
          goto done;
        }
      }
    } else if (type == TERMINATE_RECORD_TYPE) {
      break;
    } else {
      snprintf(err, errlen, "damaged GIF: unknown block");
      goto done;
    }
  }
  if (out->frames == 0) {
    snprintf(err, errlen, "damaged GIF: no frames");
    goto done;
  }
  rc = 0;
done:
  DGifCloseFile(gif, &code);
  return rc;
}
