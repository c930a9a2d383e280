"""GIF: an animated GIF89a encoder for the fake's gif answers, in the
standard library only and fast enough for 3840x2160 x 16 frames.

Pixels are written as literal LZW codes: with a minimum code size of 7 every
code is 8 bits wide and equals its palette index, and a clear code every 120
pixels keeps the decoder's table from growing past 8-bit codes. The result
is a valid GIF any decoder reads (about one byte per pixel: no compression).

Contract: encode_gif(width, height, frames, delay_cs, palette, transparent)
-> bytes, where frames are lists of rows (bytes of palette indices < 128),
delay_cs the per-frame delay in hundredths of a second (0..65535), palette
up to 128 RGB byte triples, transparent an index or None. Loops forever.
"""

import struct

MIN_CODE_SIZE = 7
CLEAR = bytes((1 << MIN_CODE_SIZE,))
END = bytes(((1 << MIN_CODE_SIZE) + 1,))
LITERALS_PER_CLEAR = 120


def sub_blocks(data):
    """Split data into GIF data sub-blocks (a length byte, up to 255 bytes)."""
    out = [b"\xff" + data[i:i + 255] for i in range(0, len(data) - len(data) % 255, 255)]
    tail = len(data) % 255
    if tail:
        out.append(bytes((tail,)) + data[-tail:])
    out.append(b"\x00")
    return b"".join(out)


def image_data(pixels):
    step = LITERALS_PER_CLEAR
    codes = b"".join(CLEAR + pixels[i:i + step] for i in range(0, len(pixels), step)) + END
    return bytes((MIN_CODE_SIZE,)) + sub_blocks(codes)


def encode_gif(width, height, frames, delay_cs, palette, transparent=None):
    table = b"".join(palette)[:3 * 128].ljust(3 * 128, b"\x00")
    out = [b"GIF89a", struct.pack("<HHBBB", width, height, 0xF6, 0, 0), table,
           # NETSCAPE2.0 application extension: loop forever.
           b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"]
    flags = (2 << 2) | (1 if transparent is not None else 0)  # dispose to background
    for rows in frames:
        out.append(struct.pack("<BBBBHBB", 0x21, 0xF9, 4, flags, delay_cs,
                               transparent or 0, 0))
        out.append(struct.pack("<BHHHHB", 0x2C, 0, 0, width, height, 0))
        out.append(image_data(b"".join(rows)))
    out.append(b"\x3b")
    return b"".join(out)
