"""Patterns: what a fake image looks like. A prompt chooses a pattern
(bands, stripes, checks or diagonals), how many repeats cross the image and
a ground colour; the image's index in its answer chooses the ink colour, so
that different prompts give visibly different images and the images of one
answer differ from each other. Frames of an animation shift the pattern.

Contract: Design(prompt, variant) has .kind, .period_for(w, h), .ground,
.ink (RGB bytes); design.rows(width, height, shift, pixel) yields each row
as bytes, where pixel(value, transparent, count) -> bytes renders `count`
pixels of `value` (0 ground, 1 ink), so one design serves PNG (RGB/RGBA) and
GIF (palette indices); SVG draws the same design as shapes.
"""

import hashlib

KINDS = ("bands", "stripes", "checks", "diagonals")


def palette_colour(variant):
    return bytes(((40 + 67 * variant) % 256, (120 + 101 * variant) % 256, (200 + 29 * variant) % 256))


class Design:
    def __init__(self, prompt, variant):
        digest = hashlib.sha256((prompt or "").encode("utf-8")).digest()
        self.kind = KINDS[digest[0] % len(KINDS)]
        self.repeats = 4 + digest[1] % 9
        self.ground = bytes(digest[2:5])
        # XOR with a fixed mask is one-to-one: every variant keeps its own ink.
        self.ink = bytes(a ^ b for a, b in zip(palette_colour(variant), digest[5:8]))
        self.key = (digest[:8], variant)

    def period(self, width, height):
        return max(2, min(width, height) // (2 * self.repeats))

    def value_at(self, x, y, shift, period):
        """0 (ground) or 1 (ink) at pixel x, y; the slow reference of rows()."""
        if self.kind == "bands":
            return ((y + shift) // period) % 2
        if self.kind == "stripes":
            return ((x + shift) // period) % 2
        if self.kind == "checks":
            return ((x + shift) // period + y // period) % 2
        return ((x + y + shift) // period) % 2

    def row_offset(self, y, shift, period):
        """Where row y starts in the alternating line A (A[x] = (x // period) % 2),
        or (None, value) for a row of one value."""
        if self.kind == "bands":
            return None, ((y + shift) // period) % 2
        if self.kind == "stripes":
            return (shift % (2 * period)), None
        if self.kind == "checks":
            return ((shift + (y // period) * period) % (2 * period)), None
        return ((y + shift) % (2 * period)), None

    def rows(self, width, height, shift, pixel, split=None):
        """Yield the rows of the image. With `split`, the columns before it are
        rendered transparent (pixel(value, True, count))."""
        period = self.period(width, height)
        cuts = [0, width] if not split else [0, split, width]
        spans = list(zip(cuts[:-1], cuts[1:]))
        # The alternating line, long enough for any offset, once per span.
        line_length = width + 2 * period
        lines = []
        for index, (x_from, x_to) in enumerate(spans):
            transparent = bool(split) and index == 0
            pieces = []
            x = 0
            while x < line_length:
                run = min(period - x % period, line_length - x)
                pieces.append(pixel((x // period) % 2, transparent, run))
                x += run
            lines.append(b"".join(pieces))
        flats = [[pixel(value, bool(split) and index == 0, x_to - x_from)
                  for index, (x_from, x_to) in enumerate(spans)] for value in (0, 1)]
        for y in range(height):
            offset, value = self.row_offset(y, shift, period)
            if offset is None:
                yield b"".join(flats[value])
                continue
            parts = []
            for (x_from, x_to), line in zip(spans, lines):
                unit = len(line) // line_length
                start = (offset + x_from) * unit
                parts.append(line[start:start + (x_to - x_from) * unit])
            yield b"".join(parts)
