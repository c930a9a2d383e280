"""Images: real, decodable PNG / GIF / SVG / JPEG / WebP answers drawn from
the prompt's pattern (see patterns.py), and the store that remembers every
image served, by sha256 and by url-response id.

Contract: ImageStore().png(prompt, w, h, variant, transparent) /
gif(prompt, w, h, variant, frames, frame_ms, transparent) / svg(prompt, w, h,
variant, transparent) / noise(n) / constant("jpeg"|"webp") -> Image (cached:
equal requests give equal bytes);
publish_url(image) -> id, find_url(id), find_sha(sha256), forget_urls().
"""

import base64
import hashlib
import math
import os
import struct
import threading
import zlib

from xml.sax.saxutils import escape as xml_escape

from .answers import new_id
from .gif import encode_gif
from .patterns import Design

# A 16x16 baseline JPEG and a 16x16 lossless WebP: the standard library
# cannot encode either, and output_format jpeg/webp must still answer with
# bytes that real decoders accept.
JPEG_BYTES = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAMCAgMCAgMDAwMEAwMEBQgFBQQEBQoHBwYIDAoMDAsK"
    "CwsNDhIQDQ4RDgsLEBYQERMUFRUVDA8XGBYUGBIUFRT/2wBDAQMEBAUEBQkFBQkUDQsNFBQUFBQU"
    "FBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBT/wAARCAAQABAD"
    "ASIAAhEBAxEB/8QAFQABAQAAAAAAAAAAAAAAAAAAAAb/xAAUEAEAAAAAAAAAAAAAAAAAAAAA/8QA"
    "FQEBAQAAAAAAAAAAAAAAAAAABwj/xAAUEQEAAAAAAAAAAAAAAAAAAAAA/9oADAMBAAIRAxEAPwCC"
    "AUaAn//Z")
WEBP_BYTES = base64.b64decode("UklGRh4AAABXRUJQVlA4TBEAAAAvD8ADAAdQvKIUuf+BiOh/AAA=")


class Image:
    __slots__ = ("data", "b64", "sha256", "content_type", "ext", "width", "height")

    def __init__(self, data, content_type, ext, width, height):
        self.data = data
        self.b64 = base64.b64encode(data)
        self.sha256 = hashlib.sha256(data).hexdigest()
        self.content_type = content_type
        self.ext = ext
        self.width = width
        self.height = height


def png_chunk(kind, payload):
    return (struct.pack(">I", len(payload)) + kind + payload
            + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))


def encode_png(width, height, colour_type, raw, level):
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header)
            + png_chunk(b"IDAT", zlib.compress(raw, level)) + png_chunk(b"IEND", b""))


def pattern_idat(width, height, design):
    """The compressed rows of an opaque design as palette indices (0 ground,
    1 ink): they depend on the pattern only, not on its colours."""
    values = (b"\x00", b"\x01")

    def pixel(value, clear, count):
        return values[value] * count
    rows = design.rows(width, height, 0, pixel)
    return zlib.compress(b"".join(b"\x00" + row for row in rows), 6)


def pattern_png(width, height, design, transparent, idat=None):
    """A PNG of the design. Opaque: an 8-bit palette PNG whose two colours are
    the design's (`idat` from pattern_idat, shared by every design of that
    pattern); transparent: RGBA with a fully transparent left half (a real
    alpha channel)."""
    if not transparent:
        header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)
        return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header)
                + png_chunk(b"PLTE", design.ground + design.ink)
                + png_chunk(b"IDAT", idat or pattern_idat(width, height, design))
                + png_chunk(b"IEND", b""))
    colours = (design.ground, design.ink)

    def pixel(value, clear, count):
        return (colours[value] + (b"\x00" if clear else b"\xff")) * count
    rows = design.rows(width, height, 0, pixel, width // 2)
    raw = b"".join(b"\x00" + row for row in rows)
    return encode_png(width, height, 6, raw, 6)


def gif_image(width, height, design, frame_count, frame_duration_ms, transparent):
    """An animated GIF of the design whose pattern moves by one step a frame;
    index 0 is transparent (left half) when asked, 1 ground, 2 ink."""
    period = design.period(width, height)
    values = (b"\x01", b"\x02")

    def pixel(value, clear, count):
        return (b"\x00" if clear else values[value]) * count

    frames = []
    for index in range(frame_count):
        shift = index * 2 * period // frame_count
        frames.append(list(design.rows(width, height, shift, pixel,
                                       width // 2 if transparent else None)))
    delay = min(65535, max(0, int(round(frame_duration_ms / 10.0))))
    palette = [b"\x00\x00\x00", design.ground, design.ink]
    return encode_gif(width, height, frames, delay, palette, 0 if transparent else None)


def svg_document(width, height, design, prompt, transparent):
    """A standalone SVG of the design, with the prompt as its title."""
    period = design.period(width, height)
    ground = "#" + design.ground.hex()
    ink = "#" + design.ink.hex()
    tile = 2 * period
    shape = {
        "bands": '<rect x="0" y="%d" width="%d" height="%d" fill="%s"/>' % (period, tile, period, ink),
        "stripes": '<rect x="%d" y="0" width="%d" height="%d" fill="%s"/>' % (period, period, tile, ink),
        "checks": ('<rect x="%d" y="0" width="%d" height="%d" fill="%s"/>'
                   '<rect x="0" y="%d" width="%d" height="%d" fill="%s"/>'
                   % (period, period, period, ink, period, period, period, ink)),
        "diagonals": '<path d="M%d 0H%dL0 %dV%dZM%d %dV%dH%dZ" fill="%s"/>'
                     % (period, tile, tile, period, tile, period, tile, period, ink),
    }[design.kind]
    background = "" if transparent else '<rect width="100%%" height="100%%" fill="%s"/>' % ground
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">\n'
            '<title>%s</title>\n'
            '<defs><pattern id="p" width="%d" height="%d" patternUnits="userSpaceOnUse">'
            '%s</pattern></defs>\n%s<rect width="100%%" height="100%%" fill="url(#p)"/>\n'
            '</svg>\n' % (width, height, width, height, xml_escape(prompt), tile, tile, shape,
                           background)).encode("utf-8")


def noise_png(target_bytes):
    """An incompressible PNG of about target_bytes: random pixels, stored."""
    target_bytes = max(int(target_bytes), 64)
    width = max(1, int(math.sqrt(target_bytes / 3)))
    stride = 1 + 3 * width
    height = max(1, round((target_bytes - 70) / stride))
    raw = bytearray(os.urandom(stride * height))
    raw[0::stride] = bytes(height)  # filter type 0 at the start of every row
    return encode_png(width, height, 2, bytes(raw), 0), width, height


class ImageStore:
    """Caches every generated image and remembers what was served, so the
    same bytes can be fetched again by sha256 or by a url-response id."""

    def __init__(self):
        self.lock = threading.Lock()
        self.cache = {}
        self.by_sha = {}
        self.by_url_id = {}
        self.idats = {}  # (pattern, period, width, height) -> compressed palette rows

    def _remember(self, key, make):
        # Made outside the lock, so that one slow image never holds up the
        # answers of other connections; a rare duplicate make is harmless.
        with self.lock:
            image = self.cache.get(key)
        if image is None:
            made = make()
            with self.lock:
                image = self.cache.setdefault(key, made)
                self.by_sha[image.sha256] = image
        return image

    def png(self, prompt, width, height, variant, transparent):
        design = Design(prompt, variant)

        def make():
            idat = None
            if not transparent:
                shape = (design.kind, design.period(width, height), width, height)
                with self.lock:
                    idat = self.idats.get(shape)
                if idat is None:
                    idat = pattern_idat(width, height, design)
                    with self.lock:
                        self.idats[shape] = idat
            return Image(pattern_png(width, height, design, transparent, idat),
                         "image/png", "png", width, height)
        return self._remember(("png", design.key, width, height, transparent), make)

    def gif(self, prompt, width, height, variant, frame_count, frame_duration_ms, transparent):
        design = Design(prompt, variant)
        return self._remember(("gif", design.key, width, height, frame_count, frame_duration_ms,
                               transparent),
                              lambda: Image(gif_image(width, height, design, frame_count,
                                                      frame_duration_ms, transparent),
                                            "image/gif", "gif", width, height))

    def svg(self, prompt, width, height, variant, transparent):
        design = Design(prompt, variant)
        return self._remember(("svg", design.key, prompt, width, height, transparent),
                              lambda: Image(svg_document(width, height, design, prompt, transparent),
                                            "image/svg+xml", "svg", width, height))

    def noise(self, target_bytes):
        def make():
            data, width, height = noise_png(target_bytes)
            return Image(data, "image/png", "png", width, height)
        return self._remember(("noise", int(target_bytes)), make)

    def constant(self, kind):
        if kind == "jpeg":
            return self._remember(("jpeg",), lambda: Image(JPEG_BYTES, "image/jpeg", "jpeg", 16, 16))
        return self._remember(("webp",), lambda: Image(WEBP_BYTES, "image/webp", "webp", 16, 16))

    def publish_url(self, image):
        url_id = new_id("img-", 10)
        with self.lock:
            self.by_url_id[url_id] = image
        return url_id

    def find_url(self, url_id):
        with self.lock:
            return self.by_url_id.get(url_id)

    def find_sha(self, sha):
        with self.lock:
            return self.by_sha.get(sha)

    def forget_urls(self):
        with self.lock:
            self.by_url_id.clear()
