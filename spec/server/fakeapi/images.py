"""Images: real, decodable PNG / JPEG / WebP answers and the store that
remembers every image served, by sha256 and by url-response id.

Contract: ImageStore().solid(w, h, variant, transparent) / noise(n) /
constant("jpeg"|"webp") -> Image (cached: equal requests give equal bytes);
publish_url(image) -> id, find_url(id), find_sha(sha256), forget_urls().
"""

import base64
import hashlib
import math
import os
import struct
import threading
import zlib

from .answers import new_id

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


def palette_colour(variant):
    return bytes(((40 + 67 * variant) % 256, (120 + 101 * variant) % 256, (200 + 29 * variant) % 256))


def solid_png(width, height, variant, transparent):
    colour = palette_colour(variant)
    if transparent:
        # Left half fully transparent, right half opaque: a real alpha channel.
        left = width // 2
        row = (colour + b"\x00") * left + (colour + b"\xff") * (width - left)
        colour_type = 6
    else:
        row = colour * width
        colour_type = 2
    raw = (b"\x00" + row) * height
    return encode_png(width, height, colour_type, raw, 6)


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

    def _remember(self, key, make):
        with self.lock:
            image = self.cache.get(key)
            if image is None:
                image = make()
                self.cache[key] = image
                self.by_sha[image.sha256] = image
            return image

    def solid(self, width, height, variant, transparent):
        return self._remember(("solid", width, height, variant, transparent),
                              lambda: Image(solid_png(width, height, variant, transparent),
                                            "image/png", "png", width, height))

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
