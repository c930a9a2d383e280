/* gif_codec: GIF through giflib (see image.h for the contract).
 *
 * The frames come out one at a time, each fully composed on the logical
 * screen as a browser shows it: the canvas starts transparent; a frame's
 * transparent index leaves what is below; its own or the global palette
 * colours the rest (an index past the palette is transparent); after it is
 * shown, disposal 2 clears its rectangle to transparent and disposal 3
 * puts back what was there before it; interlaced frames are reordered.
 * Durations follow browsers too: a delay of 0 or 1 hundredths plays as
 * 100 ms.  Frame rectangles are clipped to the canvas.  Limits: canvas
 * and frame sizes, frame count, and the pixels all frames touch in total. */
#ifndef GPTIMAGE_GIF_CODEC_H
#define GPTIMAGE_GIF_CODEC_H

#include "image.h"

typedef struct gi_gif gi_gif;

/* Reads the screen descriptor; data must stay valid until gi_gif_close. */
gi_gif *gi_gif_open(const unsigned char *data, size_t len, const gi_limits *lim, char *err, size_t errlen);
uint32_t gi_gif_width(const gi_gif *g);
uint32_t gi_gif_height(const gi_gif *g);
/* Composes the next frame: 1 and *canvas (owned by g, valid until the next
 * call) and *duration_ms; 0 after the last frame; -1 on damage or a limit.
 * A file without any frame is an error. */
int gi_gif_next(gi_gif *g, const gi_rgba **canvas, unsigned *duration_ms, char *err, size_t errlen);
void gi_gif_close(gi_gif *g);

/* Size, frame count and whether any frame has a transparent index, from
 * the blocks alone (the image data is skipped, not decompressed). */
int gi_gif_info(const unsigned char *data, size_t len, const gi_limits *lim, gi_info *out, char *err, size_t errlen);

#endif
