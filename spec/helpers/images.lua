-- Image fixtures for the specs, made in Lua so no binary is committed:
-- real PNGs (zlib stored blocks, CRC-32 and Adler-32 computed here) of any
-- size and colour type, and JPEG and WebP files whose headers are exactly
-- what decoders read for the type and the dimensions.
--
--   local images = require "helpers.images"
--   images.png{ width = 64, height = 64, colour = "rgba" }   -- "gray" "rgb" "palette" "graya" "rgba"
--   images.png{ width = 8, height = 8, colour = "rgb", trns = true }
--   images.jpeg{ width = 32, height = 16, progressive = true, stray = true }
--   images.webp{ width = 48, height = 32, chunk = "VP8L", alpha = true }   -- "VP8 " "VP8L" "VP8X"
--   images.png_chunks(bytes)   -- { "IHDR", "IDAT", "IEND" }
--   images.png{ width = 4, height = 2, colour = "rgb", pixels = function(x, y) return "\255\0\0" end }
--   images.gif{ width = 8, height = 8, palette = { {0,0,0}, {255,0,0} }, frames = { { pixels = 1 } } }
--   images.png_pixels(bytes)   -- width, height, RGBA bytes (8-bit RGBA PNGs; python3's zlib)
-- Runs on Lua 5.1 (LuaJIT) to 5.4.

local images = {}

-- Bit operations: LuaJIT's bit library, or Lua 5.3+ operators compiled at
-- run time so that a 5.1 parser never sees them.
local bxor, band, rshift
local has_bit, bit = pcall(require, "bit")
if has_bit then
  bxor = function(a, b) return bit.bxor(a, b) % 4294967296 end
  band = function(a, b) return bit.band(a, b) % 4294967296 end
  rshift = function(a, n) return bit.rshift(a, n) % 4294967296 end
else
  local ops = assert(load([[
    return function(a, b) return a ~ b end,
           function(a, b) return a & b end,
           function(a, n) return a >> n end
  ]]))
  bxor, band, rshift = ops()
end

local crc_table = {}
for i = 0, 255 do
  local c = i
  for _ = 1, 8 do
    if band(c, 1) == 1 then
      c = bxor(0xEDB88320, rshift(c, 1))
    else
      c = rshift(c, 1)
    end
  end
  crc_table[i] = c
end

local function crc32(s)
  local c = 0xFFFFFFFF
  for i = 1, #s do
    c = bxor(crc_table[band(bxor(c, s:byte(i)), 0xFF)], rshift(c, 8))
  end
  return bxor(c, 0xFFFFFFFF)
end
images.crc32 = crc32

local function adler32(s)
  local a, b = 1, 0
  for i = 1, #s do
    a = (a + s:byte(i)) % 65521
    b = (b + a) % 65521
  end
  return b * 65536 + a
end

local function be32(n)
  return string.char(math.floor(n / 16777216) % 256, math.floor(n / 65536) % 256,
                     math.floor(n / 256) % 256, n % 256)
end
local function be16(n) return string.char(math.floor(n / 256) % 256, n % 256) end
local function le16(n) return string.char(n % 256, math.floor(n / 256) % 256) end
local function le24(n)
  return string.char(n % 256, math.floor(n / 256) % 256, math.floor(n / 65536) % 256)
end
local function le32(n) return le16(n % 65536) .. le16(math.floor(n / 65536)) end

-- zlib stream of stored (uncompressed) deflate blocks
local function zlib_stored(data)
  local out = { "\120\1" }
  local pos, len = 1, #data
  repeat
    local piece = data:sub(pos, pos + 65534)
    pos = pos + #piece
    local final = pos > len and 1 or 0
    out[#out + 1] = string.char(final) .. le16(#piece) .. le16(65535 - #piece) .. piece
  until pos > len
  out[#out + 1] = be32(adler32(data))
  return table.concat(out)
end

local function chunk(kind, data)
  return be32(#data) .. kind .. data .. be32(crc32(kind .. data))
end
images.chunk = chunk

local COLOUR_TYPES = { gray = 0, rgb = 2, palette = 3, graya = 4, rgba = 6 }
local CHANNELS = { gray = 1, rgb = 3, palette = 1, graya = 2, rgba = 4 }

--- A valid PNG. opts: width, height, colour (default "rgba"), trns (add a
-- tRNS chunk), pixel (the bytes of one pixel; default opaque mid grey,
-- transparent for alpha types), pixels (function(x, y) giving the bytes of
-- the pixel at 0-based x, y; instead of pixel), extra_chunks (inserted
-- before IDAT), after_idat (inserted after IDAT).
function images.png(opts)
  opts = opts or {}
  local width, height = opts.width or 16, opts.height or 16
  local colour = opts.colour or "rgba"
  local ctype = assert(COLOUR_TYPES[colour], "unknown colour " .. tostring(colour))
  local pixel = opts.pixel
  if not pixel then
    if colour == "rgba" then pixel = "\128\128\128\0"
    elseif colour == "graya" then pixel = "\128\0"
    else pixel = string.rep("\128", CHANNELS[colour]) end
  end
  local raw
  if opts.pixels then
    local rows = {}
    for y = 0, height - 1 do
      local row = { "\0" }
      for x = 0, width - 1 do row[#row + 1] = opts.pixels(x, y) end
      rows[#rows + 1] = table.concat(row)
    end
    raw = table.concat(rows)
  else
    raw = ("\0" .. pixel:rep(width)):rep(height)
  end
  local parts = { "\137PNG\r\n\26\n",
    chunk("IHDR", be32(width) .. be32(height) .. "\8" .. string.char(ctype) .. "\0\0\0") }
  if colour == "palette" then
    parts[#parts + 1] = chunk("PLTE", "\0\0\0\128\128\128")
  end
  for _, c in ipairs(opts.extra_chunks or {}) do parts[#parts + 1] = c end
  if opts.trns then
    local trns = { gray = "\0\0", rgb = "\0\0\0\0\0\0", palette = "\0" }
    parts[#parts + 1] = chunk("tRNS", trns[colour] or "\0")
  end
  parts[#parts + 1] = chunk("IDAT", zlib_stored(raw))
  for _, c in ipairs(opts.after_idat or {}) do parts[#parts + 1] = c end
  parts[#parts + 1] = chunk("IEND", "")
  return table.concat(parts)
end

--- The chunk types of a PNG, in order (reads its whole structure).
function images.png_chunks(bytes)
  local out, pos = {}, 9
  while pos + 8 <= #bytes do
    local a, b, c, d = bytes:byte(pos, pos + 3)
    local len = ((a * 256 + b) * 256 + c) * 256 + d
    out[#out + 1] = bytes:sub(pos + 4, pos + 7)
    pos = pos + 12 + len
  end
  return out
end

--- JPEG headers: SOI, APP0 (JFIF), a comment, DQT, the frame header
-- (SOF0, or SOF2 with progressive) carrying the size, DHT, SOS, a few
-- scan bytes and EOI. stray puts fill bytes and junk between segments.
function images.jpeg(opts)
  opts = opts or {}
  local width, height = opts.width or 16, opts.height or 16
  local function segment(marker, body) return "\255" .. string.char(marker) .. be16(#body + 2) .. body end
  local parts = {
    "\255\216",
    segment(0xE0, "JFIF\0\1\1\0\0\1\0\1\0\0"),
    segment(0xFE, "made by the gptimage specs"),
    segment(0xDB, "\0" .. string.rep("\1", 64)),
  }
  if opts.stray then
    parts[#parts + 1] = "\0\0junk\255\255"
  end
  local sof = opts.progressive and 0xC2 or 0xC0
  parts[#parts + 1] = segment(sof, "\8" .. be16(height) .. be16(width) .. "\1\1\17\0")
  parts[#parts + 1] = segment(0xC4, "\0" .. string.rep("\0", 15) .. "\0")
  parts[#parts + 1] = segment(0xDA, "\1\1\0\0\63\0")
  parts[#parts + 1] = "\0\0\0\0\255\217"
  return table.concat(parts)
end

--- WebP headers in a RIFF container: chunk "VP8 " (lossy key frame),
-- "VP8L" (lossless, optional alpha bit) or "VP8X" (extended, alpha flag).
function images.webp(opts)
  opts = opts or {}
  local width, height = opts.width or 16, opts.height or 16
  local kind = opts.chunk or "VP8L"
  local body
  if kind == "VP8 " then
    body = "\16\2\0" .. "\157\1\42" .. le16(width) .. le16(height) .. string.rep("\0", 10)
  elseif kind == "VP8L" then
    local bits = (width - 1) + (height - 1) * 16384 + (opts.alpha and 268435456 or 0)
    body = "\47" .. le32(bits) .. string.rep("\0", 8)
  else
    body = string.char(opts.alpha and 16 or 0) .. "\0\0\0" .. le24(width - 1) .. le24(height - 1)
  end
  if #body % 2 == 1 then body = body .. "\0" end
  local payload = "WEBP" .. kind .. le32(#body) .. body
  return "RIFF" .. le32(#payload) .. payload
end

-- GIF: LZW with a minimum code size of 8 and a clear code before the code
-- table would grow, so every code is a 9-bit literal: valid for every
-- decoder, and simple enough to write here.
local function lzw_literals(indices)
  local out, acc, nbits = {}, 0, 0
  local function emit(code)
    acc = acc + code * 2 ^ nbits
    nbits = nbits + 9
    while nbits >= 8 do
      out[#out + 1] = string.char(acc % 256)
      acc = math.floor(acc / 256)
      nbits = nbits - 8
    end
  end
  emit(256)
  for i, v in ipairs(indices) do
    if i > 1 and (i - 1) % 250 == 0 then emit(256) end
    emit(v)
  end
  emit(257)
  if nbits > 0 then out[#out + 1] = string.char(acc % 256) end
  local data, blocks = table.concat(out), { "\8" }
  for pos = 1, #data, 255 do
    local piece = data:sub(pos, pos + 254)
    blocks[#blocks + 1] = string.char(#piece) .. piece
  end
  blocks[#blocks + 1] = "\0"
  return table.concat(blocks)
end

local function colour_table(palette)
  local size, bits = 2, 1
  while size < #palette do size, bits = size * 2, bits + 1 end
  local out = {}
  for i = 1, size do
    local c = palette[i] or { 0, 0, 0 }
    out[i] = string.char(c[1], c[2], c[3])
  end
  return table.concat(out), bits
end

--- An animated GIF. opts: width, height (the screen), palette (global
-- colour table: list of {r, g, b}; index 0 is its first colour), loop
-- (default true), frames: list of { x, y, w, h (default the whole screen),
-- pixels (an index, or function(x, y) giving one, 0-based in the frame),
-- delay (hundredths), disposal (0-3), transparent (an index), palette (a
-- local colour table), interlace }.
function images.gif(opts)
  local width, height = opts.width or 8, opts.height or 8
  local parts = { "GIF89a", le16(width), le16(height) }
  if opts.palette then
    local tbl, bits = colour_table(opts.palette)
    parts[#parts + 1] = string.char(0x80 + 0x70 + bits - 1, 0, 0) .. tbl
  else
    parts[#parts + 1] = "\0\0\0"
  end
  if opts.loop ~= false then parts[#parts + 1] = "\33\255\11NETSCAPE2.0\3\1\0\0\0" end
  for _, f in ipairs(opts.frames) do
    local x, y, w, h = f.x or 0, f.y or 0, f.w or width, f.h or height
    local flags = (f.disposal or 0) * 4 + (f.transparent and 1 or 0)
    parts[#parts + 1] = "\33\249\4" .. string.char(flags) .. le16(f.delay or 10) ..
      string.char(f.transparent or 0) .. "\0"
    local packed, tbl = f.interlace and 0x40 or 0, ""
    if f.palette then
      local bits
      tbl, bits = colour_table(f.palette)
      packed = packed + 0x80 + bits - 1
    end
    parts[#parts + 1] = "," .. le16(x) .. le16(y) .. le16(w) .. le16(h) .. string.char(packed) .. tbl
    local rows = {}
    for row = 0, h - 1 do rows[#rows + 1] = row end
    if f.interlace then
      rows = {}
      for _, pass in ipairs({ { 0, 8 }, { 4, 8 }, { 2, 4 }, { 1, 2 } }) do
        for row = pass[1], h - 1, pass[2] do rows[#rows + 1] = row end
      end
    end
    local indices = {}
    for _, row in ipairs(rows) do
      for col = 0, w - 1 do
        local v = f.pixels or 0
        if type(v) == "function" then v = v(col, row) end
        indices[#indices + 1] = v
      end
    end
    parts[#parts + 1] = lzw_literals(indices)
  end
  if opts.trailer ~= false then parts[#parts + 1] = ";" end
  return table.concat(parts)
end

--- The size and the RGBA bytes of an 8-bit RGBA PNG (colour type 6), read
-- by python3 with its zlib: a decoder that is not the one under test.
function images.png_pixels(bytes)
  local src, dst = os.tmpname(), os.tmpname()
  local f = assert(io.open(src, "wb"))
  f:write(bytes)
  f:close()
  local script = [[
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
pos, idat = 8, b""
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        assert depth == 8 and ctype == 6, "not an 8-bit RGBA PNG"
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
raw, stride, out, prev = zlib.decompress(idat), w * 4, bytearray(), bytearray(w * 4)
for y in range(h):
    kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - 4] if i >= 4 else 0
        b = prev[i]
        c = prev[i - 4] if i >= 4 else 0
        if kind == 1: line[i] = (line[i] + a) & 255
        elif kind == 2: line[i] = (line[i] + b) & 255
        elif kind == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif kind == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    out += line
    prev = line
open(sys.argv[2], "wb").write(struct.pack(">II", w, h) + bytes(out))
]]
  local python = os.getenv("GPTIMAGE_PYTHON") or "python3"
  local pipe = assert(io.popen(python .. " - '" .. src .. "' '" .. dst .. "'", "w"))
  pipe:write(script)
  pipe:close()
  f = assert(io.open(dst, "rb"))
  local out = f:read("*a")
  f:close()
  os.remove(src)
  os.remove(dst)
  assert(#out >= 8, "python3 could not read the PNG")
  local a, b, c, d, e, g, h2, i = out:byte(1, 8)
  return ((a * 256 + b) * 256 + c) * 256 + d, ((e * 256 + g) * 256 + h2) * 256 + i, out:sub(9)
end

return images
