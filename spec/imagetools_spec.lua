-- The image tools: gptimage.info, alpha_mask, frames and spritesheet, on
-- PNGs and GIFs made here, the real JPEG, WebP and SVG files of the fuzz
-- corpus, every input form, and hostile files (declared sizes far past the
-- limits, cut-short and damaged data), which must be nil, err with kind
-- "decode" and never a crash; and an edit's mask given as { bw = ... },
-- converted on the way.  Output pixels are read back by a decoder that is
-- not the one under test (helpers.images.png_pixels).
local gptimage = require "gptimage"
local images = require "helpers.images"
local util = require "helpers.util"
local fixture = require "helpers.fixture"
local expect = require "helpers.expect"
local cjson = require "cjson"
local fake = require "helpers.server"

local CORPUS = (os.getenv("GPTIMAGE_SOURCE_DIR") or ".") .. "/fuzz/corpus"

local function decode_error(fragment, res, err)
  assert.is_nil(res)
  assert.equals("decode", err.kind)
  if fragment then
    assert.truthy(err.message:find(fragment, 1, true), ("%q does not contain %q"):format(err.message, fragment))
  end
  assert.equals(gptimage.Error, getmetatable(err))
end

-- pixel (x, y) of RGBA bytes of the given width, as four numbers
local function px(bytes, width, x, y)
  local at = (y * width + x) * 4 + 1
  return { bytes:byte(at, at + 3) }
end

local RED, GREEN, BLUE, WHITE = { 255, 0, 0 }, { 0, 255, 0 }, { 0, 0, 255 }, { 255, 255, 255 }
local CLEAR = { 0, 0, 0, 0 }
local function opaque(c) return { c[1], c[2], c[3], 255 } end

describe("image tools", function()
  local dir

  fixture.each({ dir = true }, function(f) dir = f.dir end)

  local function file(name, bytes)
    local path = dir .. "/" .. name
    util.write(path, bytes)
    return path
  end

  describe("info", function()
    it("reads format, size, alpha and frames of every format", function()
      local cases = {
        { images.png{ width = 33, height = 17, colour = "rgb" }, "png", 33, 17, false, 1 },
        { images.png{ width = 8, height = 9, colour = "rgba" }, "png", 8, 9, true, 1 },
        { images.png{ width = 8, height = 8, colour = "rgb", trns = true }, "png", 8, 8, true, 1 },
        { util.read(CORPUS .. "/image/bw_gray.jpg"), "jpeg", 16, 8, false, 1 },
        { util.read(CORPUS .. "/image/bw_lossless.webp"), "webp", 16, 8, false, 1 },
        { util.read(CORPUS .. "/image/bw_alpha_lossy.webp"), "webp", 16, 8, true, 1 },
        { util.read(CORPUS .. "/image/sized.svg"), "svg", 64, 32, true, 1 },
        { util.read(CORPUS .. "/image/viewbox.svg"), "svg", 120, 80, true, 1 },
        { images.gif{ width = 5, height = 3, palette = { RED }, frames = { {}, {}, {} } }, "gif", 5, 3, false, 3 },
        { images.gif{ width = 5, height = 3, palette = { RED }, frames = { {}, { transparent = 0 } } }, "gif", 5, 3, true, 2 },
      }
      for i, c in ipairs(cases) do
        local info, err = gptimage.info(c[1])
        assert.is_nil(err, "case " .. i)
        assert.same({ format = c[2], width = c[3], height = c[4], alpha = c[5], frames = c[6] }, info, "case " .. i)
        if math.type then assert.equals("integer", math.type(info.width)) end
      end
    end)

    it("leaves out the size of an SVG that does not give one", function()
      local info = assert(gptimage.info('<svg xmlns="http://www.w3.org/2000/svg" width="50%"></svg>'))
      assert.same({ format = "svg", alpha = true, frames = 1 }, info)
    end)

    it("takes a path, bytes, an open io file (left where it was) and tables", function()
      local bytes = images.png{ width = 12, height = 7, colour = "rgb" }
      local path = file("in.png", "junk" .. bytes)
      local plain = file("plain.png", bytes)
      local f = assert(io.open(path, "rb"))
      f:seek("set", 4)
      for _, input in ipairs{ plain, bytes, { data = bytes }, { path = plain, filename = "x.png" }, f } do
        local info = assert(gptimage.info(input))
        assert.equals(12, info.width)
        assert.equals(7, info.height)
      end
      assert.equals(4, f:seek())
      f:close()
    end)

    it("returns io errors for missing files and decode errors for what is no image", function()
      local res, err = gptimage.info(dir .. "/missing.png")
      assert.is_nil(res)
      assert.equals("io", err.kind)
      assert.truthy(err.message:find("missing.png", 1, true))
      decode_error("not a PNG, JPEG, WebP, GIF or SVG", gptimage.info(file("text.png", "hello")))
      decode_error("nor a path", gptimage.info("\0\1\2 not a path"))
      decode_error("PNG", gptimage.info(images.png{ colour = "rgb" }:sub(1, 20)))
      decode_error("GIF", gptimage.info(images.gif{ palette = { RED }, frames = { {} } }:sub(1, 20)))
    end)

    it("raises for values that are no input at all", function()
      assert.truthy(expect.raises(gptimage.info, 42):find("must be a path", 1, true))
      assert.truthy(expect.raises(gptimage.info, { data = "x", path = "y" }):find("not both", 1, true))
      assert.truthy(expect.raises(gptimage.info, { bytes = "x" }):find("unknown field 'bytes'", 1, true))
    end)
  end)

  describe("alpha_mask", function()
    -- left half black, right half white, a grey and a red pixel in the first row
    local function bw(width, height)
      return images.png{ width = width, height = height, colour = "rgb", pixels = function(x, y)
        if y == 0 and x == 0 then return "\128\128\128" end
        if y == 0 and x == 1 then return "\255\0\0" end
        return x < width / 2 and "\0\0\0" or "\255\255\255"
      end }
    end

    it("makes alpha and grey the luminance: white opaque, black transparent", function()
      local png = assert(gptimage.alpha_mask(bw(8, 4)))
      local w, h, pixels = images.png_pixels(png)
      assert.equals(8, w)
      assert.equals(4, h)
      assert.same({ 128, 128, 128, 128 }, px(pixels, w, 0, 0))
      assert.same({ 76, 76, 76, 76 }, px(pixels, w, 1, 0)) -- 255 * 0.299
      assert.same(CLEAR, px(pixels, w, 2, 2))
      assert.same({ 255, 255, 255, 255 }, px(pixels, w, 6, 3))
      local info = assert(gptimage.info(png))
      assert.is_true(info.alpha)
    end)

    it("inverts", function()
      local w, _, pixels = images.png_pixels(assert(gptimage.alpha_mask(bw(8, 4), { invert = true })))
      assert.same({ 255, 255, 255, 255 }, px(pixels, w, 2, 2))
      assert.same(CLEAR, px(pixels, w, 6, 3))
      assert.same({ 127, 127, 127, 127 }, px(pixels, w, 0, 0))
    end)

    it("resizes to size or to the size of like, averaging when it shrinks", function()
      local checker = images.png{ width = 64, height = 64, colour = "gray", pixels = function(x, y)
        return (x + y) % 2 == 0 and "\0" or "\255"
      end }
      local w, h, pixels = images.png_pixels(assert(gptimage.alpha_mask(checker, { size = "16x8" })))
      assert.equals(16, w)
      assert.equals(8, h)
      for _, p in ipairs{ px(pixels, w, 3, 3), px(pixels, w, 15, 7) } do
        assert.is_true(math.abs(p[4] - 128) <= 2, "averaged: " .. p[4])
      end
      local like = images.png{ width = 24, height = 40, colour = "rgb" }
      w, h = images.png_pixels(assert(gptimage.alpha_mask(bw(8, 4), { like = like })))
      assert.equals(24, w)
      assert.equals(40, h)
      -- growing keeps black black and white white away from the edge
      w, h, pixels = images.png_pixels(assert(gptimage.alpha_mask(bw(8, 4), { size = "32x16" })))
      assert.same(CLEAR, px(pixels, w, 2, 10))
      assert.same({ 255, 255, 255, 255 }, px(pixels, w, 29, 10))
    end)

    it("reads JPEG, WebP and the first frame of a GIF", function()
      for _, name in ipairs{ "bw_gray.jpg", "bw_lossless.webp", "bw_gray.png" } do
        local w, _, pixels = images.png_pixels(assert(gptimage.alpha_mask(CORPUS .. "/image/" .. name)))
        assert.equals(16, w)
        assert.is_true(px(pixels, w, 0, 0)[4] < 16, name)
        assert.is_true(px(pixels, w, 7, 3)[4] > 240, name)
      end
      local gif = images.gif{ width = 4, height = 2, palette = { { 0, 0, 0 }, WHITE },
        frames = { { pixels = function(x) return x < 2 and 0 or 1 end }, { pixels = 0 } } }
      local w, _, pixels = images.png_pixels(assert(gptimage.alpha_mask(gif)))
      assert.same(CLEAR, px(pixels, w, 0, 0))
      assert.same({ 255, 255, 255, 255 }, px(pixels, w, 3, 1))
    end)

    it("saves to a file and returns its path, leaving nothing on failure", function()
      local out = dir .. "/sub/mask.png"
      assert.equals(out, gptimage.alpha_mask(bw(8, 4), { save = out }))
      assert.equals(8, gptimage.info(out).width)
      local res, err = gptimage.alpha_mask(bw(8, 4), { save = file("blocker", "x") .. "/mask.png" })
      assert.is_nil(res)
      assert.equals("io", err.kind)
      assert.same({ "blocker", "sub" }, util.listdir(dir))
    end)

    it("returns decode errors for SVG and damaged images, and raises for bad options", function()
      decode_error("SVG", gptimage.alpha_mask(CORPUS .. "/image/sized.svg"))
      local png = bw(8, 4)
      decode_error("PNG", gptimage.alpha_mask(png:sub(1, #png - 30)))
      assert.truthy(expect.raises(gptimage.alpha_mask, png, { size = "10" }):find("WxH", 1, true))
      assert.truthy(expect.raises(gptimage.alpha_mask, png, { size = "99999x2" }):find("WxH", 1, true))
      assert.truthy(expect.raises(gptimage.alpha_mask, png, { size = "8x8", like = png }):find("not both", 1, true))
      assert.truthy(expect.raises(gptimage.alpha_mask, png, { invert = "yes" }):find("boolean", 1, true))
      assert.truthy(expect.raises(gptimage.alpha_mask, png, { colour = 1 }):find("unknown option 'colour'", 1, true))
    end)
  end)

  describe("frames", function()
    it("composes every frame: disposal, transparency, local palettes, offsets, interlace", function()
      local gif = images.gif{ width = 6, height = 4, palette = { RED, GREEN, BLUE }, frames = {
        { pixels = 0, delay = 5 },                                                    -- all red
        { x = 1, y = 1, w = 2, h = 2, pixels = 1, disposal = 2, delay = 0 },          -- green square, then cleared
        { x = 4, y = 0, w = 2, h = 4, pixels = function(_, y) return y % 2 == 0 and 2 or 3 end,
          transparent = 3, disposal = 3, interlace = true },                          -- blue stripes, then undone
        { x = 5, y = 3, w = 4, h = 4, pixels = 0, palette = { WHITE }, delay = 7 },   -- white, clipped to one pixel
      } }
      local res = assert(gptimage.frames(gif))
      assert.equals(6, res.width)
      assert.equals(4, res.height)
      assert.equals(4, #res)
      local durations, decoded = {}, {}
      for i, f in ipairs(res) do
        durations[i] = f.duration_ms
        local w, h, pixels = images.png_pixels(f.bytes)
        assert.equals(6, w)
        assert.equals(4, h)
        decoded[i] = pixels
      end
      assert.same({ 50, 100, 100, 70 }, durations)
      local function at(i, x, y) return px(decoded[i], 6, x, y) end
      assert.same(opaque(RED), at(1, 0, 0))
      assert.same(opaque(GREEN), at(2, 1, 1))
      assert.same(opaque(RED), at(2, 0, 0))
      -- frame 3: frame 2's square cleared to transparent; blue on even rows, red below odd ones
      assert.same(CLEAR, at(3, 1, 1))
      assert.same(opaque(BLUE), at(3, 4, 0))
      assert.same(opaque(RED), at(3, 4, 1))
      assert.same(opaque(BLUE), at(3, 5, 2))
      -- frame 4: frame 3 undone, the white pixel in the corner
      assert.same(opaque(RED), at(4, 4, 0))
      assert.same(CLEAR, at(4, 2, 2))
      assert.same(opaque(WHITE), at(4, 5, 3))
    end)

    it("plays a file cut after its last frame, and refuses what is no GIF", function()
      local gif = images.gif{ palette = { RED }, frames = { {}, {} }, trailer = false }
      assert.equals(2, #assert(gptimage.frames(gif)))
      decode_error("not a GIF (it is png)", gptimage.frames(images.png{}))
      decode_error("GIF", gptimage.frames(gif:sub(1, #gif - 5)))
      decode_error("colour table", gptimage.frames(images.gif{ frames = { {} } }))
    end)
  end)

  describe("spritesheet", function()
    local function walk(n)
      local frames = {}
      for i = 1, n do frames[i] = { pixels = (i - 1) % 3, delay = i } end
      return images.gif{ width = 4, height = 3, palette = { RED, GREEN, BLUE }, frames = frames }
    end

    it("lays the frames out in one row by default", function()
      local sheet = assert(gptimage.spritesheet(walk(3)))
      assert.equals(12, sheet.width)
      assert.equals(3, sheet.height)
      assert.equals(4, sheet.frame_width)
      assert.equals(3, sheet.frame_height)
      assert.same({ x = 8, y = 0, w = 4, h = 3, duration_ms = 30 }, sheet.frames[3])
      assert.equals(100, sheet.frames[1].duration_ms) -- 1 hundredth plays as 100 ms
      local w, h, pixels = images.png_pixels(sheet.bytes)
      assert.equals(12, w)
      assert.equals(3, h)
      assert.same(opaque(RED), px(pixels, w, 0, 0))
      assert.same(opaque(GREEN), px(pixels, w, 5, 2))
      assert.same(opaque(BLUE), px(pixels, w, 11, 1))
    end)

    it("takes columns and padding, and rectangles point at each frame", function()
      local sheet = assert(gptimage.spritesheet(walk(5), { columns = 2, padding = 1 }))
      assert.equals(2 * 4 + 3, sheet.width)
      assert.equals(3 * 3 + 4, sheet.height)
      assert.equals(5, #sheet.frames)
      local w, _, pixels = images.png_pixels(sheet.bytes)
      local colours = { RED, GREEN, BLUE, RED, GREEN }
      for i, r in ipairs(sheet.frames) do
        assert.same(opaque(colours[i]), px(pixels, w, r.x, r.y))
        assert.same(opaque(colours[i]), px(pixels, w, r.x + r.w - 1, r.y + r.h - 1))
        assert.same(CLEAR, px(pixels, w, r.x - 1, r.y - 1))
      end
      assert.same({ x = 1, y = 9, w = 4, h = 3, duration_ms = 50 }, sheet.frames[5])
    end)

    it("saves the sheet with a JSON atlas beside it", function()
      local out = dir .. "/art/walk.png"
      local sheet = assert(gptimage.spritesheet(walk(4), { columns = 3, save = out }))
      assert.equals(out, sheet.path)
      assert.equals(dir .. "/art/walk.json", sheet.atlas)
      assert.is_nil(sheet.bytes)
      assert.same({ format = "png", width = 12, height = 6, alpha = true, frames = 1 }, gptimage.info(out))
      local atlas = cjson.decode(util.read(sheet.atlas))
      assert.equals("walk.png", atlas.meta.image)
      assert.same({ w = 12, h = 6 }, atlas.meta.size)
      assert.equals(4, #atlas.frames)
      assert.equals("walk 3", atlas.frames[4].filename)
      assert.same({ x = 0, y = 3, w = 4, h = 3 }, atlas.frames[4].frame)
      assert.equals(40, atlas.frames[4].duration)
      assert.same({ "walk.json", "walk.png" }, util.listdir(dir .. "/art"))
    end)

    it("raises for bad options", function()
      assert.truthy(expect.raises(gptimage.spritesheet, walk(2), { columns = 0 }):find("columns", 1, true))
      assert.truthy(expect.raises(gptimage.spritesheet, walk(2), { padding = 1.5 }):find("whole number", 1, true))
      assert.truthy(expect.raises(gptimage.spritesheet, walk(2), { rows = 2 }):find("unknown option 'rows'", 1, true))
    end)
  end)

  describe("hostile files", function()
    local function png_header(width, height)
      return "\137PNG\r\n\26\n" .. images.chunk("IHDR", (function()
        local function be32(n)
          return string.char(math.floor(n / 16777216) % 256, math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
        end
        return be32(width) .. be32(height) .. "\8\6\0\0\0"
      end)()) .. images.chunk("IDAT", "\120\1\1\0\0\255\255\0\0\0\1") .. images.chunk("IEND", "")
    end

    it("refuse sizes past the limits from the header, before any allocation", function()
      for _, f in ipairs{ gptimage.info, gptimage.alpha_mask } do
        decode_error("limit", f(png_header(100000, 100000)))
        decode_error("limit", f(png_header(16000, 16000)))
      end
      local gif = images.gif{ width = 65535, height = 65535, palette = { RED }, frames = { { w = 1, h = 1 } } }
      decode_error("limit", gptimage.frames(gif))
      decode_error("limit", gptimage.info(gif))
      -- a small screen with a frame that claims to be huge
      gif = images.gif{ width = 2, height = 2, palette = { RED }, frames = { { w = 1, h = 1 } } }
      gif = gif:gsub(",%z%z%z%z\1%z\1%z", ",\0\0\0\0\255\255\255\255")
      decode_error("limit", gptimage.frames(gif))
    end)

    it("refuse more frames than the limit", function()
      local frames = {}
      for i = 1, 4097 do frames[i] = { w = 1, h = 1 } end
      local gif = images.gif{ width = 1, height = 1, palette = { RED }, frames = frames }
      decode_error("4096 frames", gptimage.info(gif))
      decode_error("4096 frames", gptimage.spritesheet(gif))
    end)

    it("survive every cut and many damaged bytes", function()
      local inputs = {
        images.gif{ width = 6, height = 4, palette = { RED, GREEN }, frames = {
          { pixels = 0 }, { x = 1, y = 1, w = 3, h = 2, pixels = 1, disposal = 3, interlace = true } } },
        images.png{ width = 6, height = 4, colour = "palette", trns = true },
        util.read(CORPUS .. "/image/bw_gray.jpg"),
        util.read(CORPUS .. "/image/bw_lossless.webp"),
      }
      for _, bytes in ipairs(inputs) do
        for cut = 0, #bytes - 1 do
          local part = bytes:sub(1, cut)
          for _, f in ipairs{ gptimage.info, gptimage.alpha_mask, gptimage.frames } do
            local res, err = f({ data = part })
            if res == nil then assert.truthy(err.kind == "decode") end
          end
        end
        for i = 1, #bytes, 3 do
          local damaged = bytes:sub(1, i - 1) .. string.char((bytes:byte(i) + 101) % 256) .. bytes:sub(i + 1)
          for _, f in ipairs{ gptimage.info, gptimage.alpha_mask, gptimage.spritesheet } do
            local res, err = f({ data = damaged })
            if res == nil then assert.truthy(err.kind == "decode") end
          end
        end
      end
    end)
  end)

  describe("an edit's black-and-white mask", function()
    local srv, client

    fixture.each({ server = {}, client = { api_key = "sk-test", max_retries = 0 } },
      function(f) srv, client = f.srv, f.client end)

    local function sha256(bytes)
      local path = file("hash.bin", bytes)
      local pipe = assert(io.popen("sha256sum '" .. path .. "'"))
      local out = pipe:read("*a")
      pipe:close()
      return out:match("^(%x+)")
    end

    local function mask_part()
      for _, part in ipairs(srv:last_request().parts or {}) do
        if part.name == "mask" then return part end
      end
    end

    it("is converted to an alpha mask of the first image's size and sent as PNG", function()
      local image = images.png{ width = 48, height = 32, colour = "rgb" }
      local bw = images.png{ width = 12, height = 8, colour = "gray", pixels = function(x) return x < 6 and "\0" or "\255" end }
      local bw_path = file("bw.png", bw)
      assert(client:edit{ image = { image, image }, mask = { bw = bw_path }, prompt = "redraw the background" })
      local part = mask_part()
      assert.equals("image/png", part.content_type)
      assert.equals(sha256(assert(gptimage.alpha_mask(bw, { size = "48x32" }))), part.sha256)
      assert(client:edit{ image = image, mask = { bw = bw, invert = true }, prompt = "x" })
      assert.equals(sha256(assert(gptimage.alpha_mask(bw, { like = image, invert = true }))), mask_part().sha256)
    end)

    it("raises before any request when it cannot be read", function()
      local image = images.png{ width = 8, height = 8, colour = "rgb" }
      local msg = expect.raises(client.edit, client, { image = image, mask = { bw = dir .. "/none.png" }, prompt = "x" })
      assert.truthy(msg:find("none.png", 1, true))
      msg = expect.raises(client.edit, client, { image = image, mask = { bw = "GIF89a broken" }, prompt = "x" })
      assert.truthy(msg:find("mask (bytes)", 1, true))
      msg = expect.raises(client.edit, client, { image = image, mask = { bw = image, size = 2 }, prompt = "x" })
      assert.truthy(msg:find("unknown option 'size'", 1, true))
      assert.same({}, srv:requests())
    end)

    it("comes from a manifest entry's mask_bw", function()
      file("hero.png", images.png{ width = 32, height = 16, colour = "rgb" })
      local bw = images.png{ width = 8, height = 4, colour = "gray", pixels = function(x) return x < 4 and "\0" or "\255" end }
      file("hero-bw.png", bw)
      file("m.json", cjson.encode{ entries = {
        { prompt = "snow behind the hero", inputs = { "hero.png" }, mask_bw = "hero-bw.png", output = "out.png" } } })
      local command = string.format("cd %s && OPENAI_API_KEY=sk-test OPENAI_BASE_URL=%s %s %s run m.json -q >/dev/null 2>%s; echo $?",
        fake.shell_quote(dir), fake.shell_quote(srv.base_url), fake.shell_quote(os.getenv("GPTIMAGE_LUA") or "lua5.4"),
        fake.shell_quote(util.command_path()), fake.shell_quote(dir .. "/err.txt"))
      local pipe = assert(io.popen(command))
      local code = tonumber(pipe:read("*a"))
      pipe:close()
      assert.equals(0, code, util.read(dir .. "/err.txt"))
      assert.equals(sha256(assert(gptimage.alpha_mask(bw, { size = "32x16" }))), mask_part().sha256)
      file("m2.json", cjson.encode{ entries = {
        { prompt = "x", inputs = { "hero.png" }, mask = "hero-bw.png", mask_bw = "hero-bw.png", output = "o2.png" } } })
      pipe = assert(io.popen((command:gsub("m%.json", "m2.json"))))
      code = tonumber(pipe:read("*a"))
      pipe:close()
      assert.equals(2, code)
      assert.truthy(util.read(dir .. "/err.txt"):find("not both", 1, true))
    end)
  end)

  describe("the command", function()
    local LUA = os.getenv("GPTIMAGE_LUA") or "lua5.4"
    local BIN = util.command_path()
    local quote = fake.shell_quote

    -- runs gptimage in dir without an API key; code, stdout, stderr
    local function run(...)
      local args = {}
      for i, a in ipairs{ ... } do args[i] = quote(a) end
      os.execute(string.format("cd %s && env -u OPENAI_API_KEY %s %s %s >.out 2>.err; echo $? >.code", quote(dir),
        quote(LUA), quote(BIN), table.concat(args, " ")))
      local code, out, err = tonumber(util.read(dir .. "/.code")), util.read(dir .. "/.out"), util.read(dir .. "/.err")
      for _, f in ipairs{ ".code", ".out", ".err" } do os.remove(dir .. "/" .. f) end
      return code, out, err
    end

    local gif = images.gif{ width = 4, height = 3, palette = { RED, GREEN }, frames = {
      { pixels = 0, delay = 5 }, { pixels = 1, delay = 6 }, { pixels = 0, delay = 7 } } }

    it("mask writes the alpha mask, inverted or resized on request", function()
      file("bw.png", images.png{ width = 8, height = 4, colour = "gray", pixels = function(x) return x < 4 and "\0" or "\255" end })
      file("like.png", images.png{ width = 16, height = 8, colour = "rgb" })
      local code, _, err = run("mask", "bw.png", "-o", "alpha.png", "--invert", "--like", "like.png")
      assert.equals(0, code, err)
      local w, h, pixels = images.png_pixels(util.read(dir .. "/alpha.png"))
      assert.same({ 16, 8 }, { w, h })
      assert.same({ 255, 255, 255, 255 }, px(pixels, w, 0, 0))
      assert.same(CLEAR, px(pixels, w, 15, 7))
      code = run("mask", "bw.png")
      assert.equals(0, code)
      assert.equals(8, gptimage.info(dir .. "/bw-alpha.png").width)
      code, _, err = run("mask", "missing.png")
      assert.equals(1, code)
      assert.truthy(err:find("missing.png", 1, true))
      assert.equals(2, (run("mask", "bw.png", "--size", "big")))
    end)

    it("frames writes every frame, or a sheet with its atlas", function()
      file("walk.gif", gif)
      local code, out, err = run("frames", "walk.gif", "--sheet", "sheet/walk.png", "--columns", "2", "--json")
      assert.equals(0, code, err)
      local sheet = cjson.decode(out)
      assert.equals(3, #sheet.frames)
      assert.same({ 8, 6 }, { gptimage.info(dir .. "/sheet/walk.png").width, gptimage.info(dir .. "/sheet/walk.png").height })
      assert.equals(70, cjson.decode(util.read(dir .. "/sheet/walk.json")).frames[3].duration)
      code, _, err = run("frames", "walk.gif", "-o", "f/walk-{i}.png")
      assert.equals(0, code, err)
      for i = 1, 3 do assert.equals(4, gptimage.info(dir .. "/f/walk-" .. i .. ".png").width) end
      assert.equals(2, (run("frames", "walk.gif", "--columns", "2")))
    end)

    it("info describes each file and fails for the ones it cannot read", function()
      file("walk.gif", gif)
      file("a.png", images.png{ width = 5, height = 6, colour = "rgba" })
      local code, out, err = run("info", "walk.gif", "a.png", "none.png")
      assert.equals(1, code)
      assert.truthy(out:find("walk.gif: gif, 4x3, no alpha, 3 frames", 1, true), out)
      assert.truthy(out:find("a.png: png, 5x6, alpha", 1, true), out)
      assert.truthy(err:find("none.png", 1, true))
      code, out = run("info", "--json", "a.png")
      assert.equals(0, code)
      assert.same({ { path = "a.png", format = "png", width = 5, height = 6, alpha = true, frames = 1 } }, cjson.decode(out))
    end)
  end)
end)
