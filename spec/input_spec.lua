-- Input images of edit and variation: every form they come in (path, bytes,
-- open io file, table), the type sniffed from the bytes (never from a name),
-- the dimensions read from PNG, JPEG and WebP headers, bad files, and the
-- multipart request the fake server records: part names, types, file names
-- and bytes.
local gptimage = require "gptimage"
local fake = require "helpers.server"
local images = require "helpers.images"
local util = require "helpers.util"
local fixture = require "helpers.fixture"
local expect = require "helpers.expect"

local shell_quote = util.shell_quote
local raised, parts_named = expect.raised, fake.parts_named

local function sha256(bytes)
  local path = os.tmpname()
  util.write(path, bytes)
  local pipe = assert(io.popen("sha256sum " .. shell_quote(path)))
  local out = pipe:read("*a")
  pipe:close()
  os.remove(path)
  return out:match("^(%x+)")
end

describe("input images", function()
  local srv, client, dir
  local png, rgba, jpeg, webp

  fixture.each({ server = {}, client = { api_key = "sk-test", max_retries = 0 }, dir = true },
    function(f) srv, client, dir = f.srv, f.client, f.dir end)

  setup(function()
    png = images.png{ width = 64, height = 64, colour = "rgb" }
    rgba = images.png{ width = 64, height = 64, colour = "rgba" }
    jpeg = images.jpeg{ width = 64, height = 64 }
    webp = images.webp{ width = 64, height = 64, chunk = "VP8 " }
  end)

  local function file(name, bytes)
    local path = dir .. "/" .. name
    util.write(path, bytes)
    return path
  end

  -- The call raises a message containing every fragment, and sends nothing.
  local function rejects(opts, ...)
    opts.prompt = opts.prompt or "edit"
    local msg = raised(client.edit, client, opts)
    for _, fragment in ipairs{ ... } do
      assert.truthy(msg:find(fragment, 1, true), ("%q does not contain %q"):format(msg, fragment))
    end
    assert.same({}, srv:requests())
    return msg
  end

  local function check_part(part, name, content_type, filename, bytes)
    assert.equals(name, part.name)
    assert.equals(content_type, part.content_type)
    assert.equals(filename, part.filename)
    assert.equals(#bytes, part.size)
    assert.equals(sha256(bytes), part.sha256)
  end

  describe("forms", function()
    it("a path is streamed from the file, named by its base name, typed by its bytes", function()
      local path = file("photo.data", png)
      assert(client:edit{ image = path, prompt = "p" })
      local parts = parts_named(srv:last_request(), "image")
      assert.equals(1, #parts)
      check_part(parts[1], "image", "image/png", "photo.data", png)
      -- a JPEG that claims to be a PNG by its name is sent as what it is
      assert(client:edit{ image = file("really-a-jpeg.png", jpeg), prompt = "p" })
      check_part(parts_named(srv:last_request(), "image")[1], "image", "image/jpeg", "really-a-jpeg.png", jpeg)
    end)

    it("a string that starts like a PNG, JPEG or WebP is the image's bytes", function()
      local cases = {
        { png, "image/png", "image.png" },
        { jpeg, "image/jpeg", "image.jpg" },
        { webp, "image/webp", "image.webp" },
        { images.webp{ width = 64, height = 64, chunk = "VP8L" }, "image/webp", "image.webp" },
        { images.webp{ width = 64, height = 64, chunk = "VP8X" }, "image/webp", "image.webp" },
      }
      for _, case in ipairs(cases) do
        assert(client:edit{ image = case[1], prompt = "p" })
        check_part(parts_named(srv:last_request(), "image")[1], "image", case[2], case[3], case[1])
      end
    end)

    it("an io file is read from its current position and left there", function()
      local path = file("prefixed.bin", ("x"):rep(100) .. png)
      local f = assert(io.open(path, "rb"))
      assert.equals(100, #f:read(100))
      assert(client:edit{ image = f, prompt = "p" })
      check_part(parts_named(srv:last_request(), "image")[1], "image", "image/png", "image.png", png)
      assert.equals(100, f:seek())
      assert.equals(png:sub(1, 8), f:read(8))
      f:close()
    end)

    it("an io file still uploads when the caller closes it as the job starts", function()
      local f = assert(io.open(file("early.png", png), "rb"))
      local job = client:start("edit", { image = { f, png }, prompt = "p" })
      f:close()
      assert(job:wait(30))
      local parts = parts_named(srv:last_request(), "image[]")
      check_part(parts[1], "image[]", "image/png", "image.png", png)
    end)

    it("an io file opened for writing and still buffered is sent whole", function()
      local path = dir .. "/written.png"
      local f = assert(io.open(path, "w+b"))
      f:write(png)
      f:seek("set", 0)
      assert(client:edit{ image = f, prompt = "p" })
      check_part(parts_named(srv:last_request(), "image")[1], "image", "image/png", "image.png", png)
      f:close()
    end)

    it("a table gives bytes or a path, with an optional file name and type", function()
      local path = file("on-disk.png", png)
      local cases = {
        { { data = png, filename = "named.png" }, "image/png", "named.png", png },
        { { data = jpeg }, "image/jpeg", "image.jpg", jpeg },
        { { data = jpeg, type = "image/jpeg" }, "image/jpeg", "image.jpg", jpeg },
        { { data = jpeg, type = "image/jpg" }, "image/jpeg", "image.jpg", jpeg },
        { { data = png, type = "IMAGE/PNG; charset=binary" }, "image/png", "image.png", png },
        { { data = webp, type = "application/octet-stream" }, "image/webp", "image.webp", webp },
        { { path = path }, "image/png", "on-disk.png", png },
        { { path = path, filename = "renamed.png" }, "image/png", "renamed.png", png },
      }
      for _, case in ipairs(cases) do
        assert(client:edit{ image = case[1], prompt = "p" })
        check_part(parts_named(srv:last_request(), "image")[1], "image", case[2], case[3], case[4])
      end
    end)

    it("a table's type must not contradict the bytes", function()
      rejects({ image = { data = jpeg, type = "image/png" } },
        "image (bytes): type 'image/png' does not match its bytes, which are image/jpeg")
      rejects({ image = { data = png, type = "image/gif" } }, "type 'image/gif' does not match")
      rejects({ image = { data = png, type = "" } }, "type '' does not match")
    end)

    it("a table must be well formed", function()
      rejects({ image = { data = png, path = "x.png" } }, "image: give either 'data' or 'path', not both")
      rejects({ image = { filename = "x.png" } }, "image: a table input needs 'data' (bytes) or 'path'")
      rejects({ image = { data = png, name = "x.png" } },
        "image: unknown field 'name' (a table input takes data or path, filename and type)")
      rejects({ image = { data = png, filename = "" } }, "image: 'filename' must be 1 to 255 bytes")
      rejects({ image = { data = png, filename = ("n"):rep(256) } }, "image: 'filename' must be 1 to 255 bytes")
      rejects({ image = { data = png, filename = 7 } }, "image: 'filename' must be a string, got number")
      rejects({ image = { data = {} } }, "image: 'data' must be a string, got table")
      rejects({ image = { png, png, filename = "x" } }, "option 'image' mixes a list with named fields")
      rejects({ image = { png, nil, png } }, "option 'image' is a list with holes")
    end)

    it("a single image is the part 'image'; a list is 'image[]', even a list of one", function()
      assert(client:edit{ image = png, prompt = "p" })
      assert.equals(1, #parts_named(srv:last_request(), "image"))
      assert.equals(0, #parts_named(srv:last_request(), "image[]"))
      assert(client:edit{ image = { png }, prompt = "p" })
      assert.equals(0, #parts_named(srv:last_request(), "image"))
      assert.equals(1, #parts_named(srv:last_request(), "image[]"))
      assert(client:edit{ image = { png }, prompt = "p", model = "dall-e-2" })
      assert.equals(1, #parts_named(srv:last_request(), "image[]"))
      assert(client:variation{ image = png })
      assert.equals(1, #parts_named(srv:last_request(), "image"))
    end)

    it("a list mixes every form, in order, each with its own name and type", function()
      local path = file("first.png", png)
      local f = assert(io.open(file("third.jpg", jpeg), "rb"))
      assert(client:edit{ prompt = "p", mask = file("mask.png", rgba),
                          image = { path, webp, f, { data = png, filename = "fourth.png" } } })
      f:close()
      local record = srv:last_request()
      local parts = parts_named(record, "image[]")
      assert.equals(4, #parts)
      check_part(parts[1], "image[]", "image/png", "first.png", png)
      check_part(parts[2], "image[]", "image/webp", "image.webp", webp)
      check_part(parts[3], "image[]", "image/jpeg", "image.jpg", jpeg)
      check_part(parts[4], "image[]", "image/png", "fourth.png", png)
      check_part(parts_named(record, "mask")[1], "mask", "image/png", "mask.png", rgba)
      -- the files come first, then the text fields
      assert.equals("image[]", record.parts[1].name)
      assert.equals("mask", record.parts[5].name)
      assert.equals("p", parts_named(record, "prompt")[1].value)
    end)

    it("are uploaded again in full when a retry follows a failure", function()
      local c = gptimage.new{ api_key = "sk-test", base_url = srv.base_url, max_retries = 1 }
      srv:fault{ action = "status", status = 500, body = "{}", headers = { ["retry-after-ms"] = "10" } }
      local f = assert(io.open(file("offset.bin", "0123456789" .. jpeg), "rb"))
      f:read(10)
      assert(c:edit{ prompt = "p", image = { file("disk.png", png), webp, f }, mask = rgba })
      f:close()
      c:close()
      local records = srv:requests()
      assert.equals(2, #records)
      for _, record in ipairs(records) do
        local parts = parts_named(record, "image[]")
        check_part(parts[1], "image[]", "image/png", "disk.png", png)
        check_part(parts[2], "image[]", "image/webp", "image.webp", webp)
        check_part(parts[3], "image[]", "image/jpeg", "image.jpg", jpeg)
        check_part(parts_named(record, "mask")[1], "mask", "image/png", "image.png", rgba)
      end
    end)
  end)

  describe("headers", function()
    -- The mask must match the first image's size: a mismatch message shows
    -- the dimensions read from the first image's headers.
    local function dimensions(image)
      local msg = raised(client.edit, client, { prompt = "p", image = image,
                                                mask = images.png{ width = 1, height = 1 } })
      local w, h = msg:match("is (%d+)x(%d+): they must be the same size$")
      assert(w, msg)
      return tonumber(w), tonumber(h)
    end

    it("give the size of PNG, JPEG and WebP images", function()
      local cases = {
        { images.png{ width = 300, height = 20, colour = "gray" }, 300, 20 },
        { images.png{ width = 7, height = 900, colour = "palette" }, 7, 900 },
        { images.jpeg{ width = 640, height = 480 }, 640, 480 },
        { images.jpeg{ width = 33, height = 4000, progressive = true }, 33, 4000 },
        { images.jpeg{ width = 120, height = 90, stray = true }, 120, 90 },
        { images.webp{ width = 1000, height = 16, chunk = "VP8 " }, 1000, 16 },
        { images.webp{ width = 16383, height = 3, chunk = "VP8L" }, 16383, 3 },
        { images.webp{ width = 16777216, height = 5000, chunk = "VP8X" }, 16777216, 5000 },
      }
      for _, case in ipairs(cases) do
        local w, h = dimensions(case[1])
        assert.same({ case[2], case[3] }, { w, h })
      end
      assert.same({}, srv:requests())
    end)

    it("read from files without reading them whole", function()
      local path = file("padded.png", images.png{ width = 48, height = 40 })
      assert.is_true(os.execute("truncate -s 40M " .. shell_quote(path)) ~= false)
      assert.same({ 48, 40 }, { dimensions(path) })
      local jpath = file("padded.jpg", images.jpeg{ width = 20, height = 10 })
      assert.is_true(os.execute("truncate -s 40M " .. shell_quote(jpath)) ~= false)
      assert.same({ 20, 10 }, { dimensions(jpath) })
    end)

    it("find a PNG's transparency in its colour type or a tRNS chunk before the image data", function()
      local text = {}
      for i = 1, 50 do text[i] = images.chunk("tEXt", "Comment\0note " .. i) end
      local masks = {
        images.png{ width = 64, height = 64, colour = "rgba" },
        images.png{ width = 64, height = 64, colour = "graya" },
        images.png{ width = 64, height = 64, colour = "palette", trns = true },
        images.png{ width = 64, height = 64, colour = "gray", trns = true, extra_chunks = text },
        images.png{ width = 64, height = 64, colour = "rgb", trns = true },
      }
      for _, mask in ipairs(masks) do
        assert(client:edit{ prompt = "p", image = png, mask = mask })
      end
      assert.equals(#masks, #srv:requests())
      srv:reset()
      rejects({ image = png, mask = images.png{ width = 64, height = 64, colour = "rgb" } },
        "the mask must have an alpha channel")
      rejects({ image = png, mask = images.png{ width = 64, height = 64, colour = "palette" } },
        "the mask must have an alpha channel")
      local late = images.png{ width = 64, height = 64, colour = "rgb",
                               after_idat = { images.chunk("tRNS", "\0\0\0\0\0\0") } }
      assert.same({ "IHDR", "IDAT", "tRNS", "IEND" }, images.png_chunks(late))
      rejects({ image = png, mask = file("late.png", late) }, "the mask '", "late.png' must have an alpha channel")
    end)
  end)

  describe("bad files raise naming the file and send nothing", function()
    it("missing, empty, a folder, a FIFO", function()
      rejects({ image = dir .. "/missing.png" }, "cannot read image '" .. dir .. "/missing.png': No such file or directory")
      rejects({ image = file("empty.png", "") }, "image '" .. dir .. "/empty.png' is empty")
      assert.is_true(os.execute("mkdir " .. shell_quote(dir .. "/folder.png")) ~= false)
      rejects({ image = dir .. "/folder.png" }, "cannot read image '" .. dir .. "/folder.png': not a regular file")
      assert.is_true(os.execute("mkfifo " .. shell_quote(dir .. "/fifo.png")) ~= false)
      rejects({ image = dir .. "/fifo.png" }, "cannot read image '" .. dir .. "/fifo.png': not a regular file")
      rejects({ image = { png, dir .. "/gone.png" } }, "cannot read image 2 '" .. dir .. "/gone.png'")
      rejects({ image = png, mask = dir .. "/nomask.png" }, "cannot read mask '" .. dir .. "/nomask.png'")
      rejects({ image = "" }, "image: the path is empty")
    end)

    it("not images, or images of a type the API does not take", function()
      rejects({ image = file("notes.png", "plain text, not a picture\n") },
        "image '" .. dir .. "/notes.png' is not a PNG, JPEG or WebP image")
      rejects({ image = file("anim.png", "GIF89a\1\0\1\0\0\0\0;") },
        "image '" .. dir .. "/anim.png' is a GIF; use a PNG, JPEG or WebP image")
      rejects({ image = { png, "GIF89a\1\0\1\0\0\0\0;" } }, "image 2 (bytes) is a GIF; use a PNG, JPEG or WebP image")
      rejects({ image = { png, "BM\0\0binary\0bytes" } }, "image 2 (bytes) is a BMP")
      rejects({ image = { png, "\0\1\2 not a path" } }, "image 2 (bytes) is not a PNG, JPEG or WebP image (nor a path)")
      rejects({ image = { data = "just words" } }, "image (bytes) is not a PNG, JPEG or WebP image")
    end)

    it("truncated or damaged", function()
      for _, cut in ipairs{ 8, 12, 20, 28, 33, 40 } do
        rejects({ image = file("cut" .. cut .. ".png", png:sub(1, cut)) }, "cut" .. cut .. ".png' is a truncated or damaged PNG image")
        rejects({ image = { rgba, png:sub(1, math.max(cut, 9)) } }, "image 2 (bytes) is a truncated or damaged PNG image")
      end
      local bad_ihdr = png:sub(1, 25) .. "\9" .. png:sub(27) -- colour type 9 does not exist
      rejects({ image = bad_ihdr }, "image (bytes) is a truncated or damaged PNG image")
      local sos = jpeg:find("\255\218", 1, true)
      local no_frame = jpeg:sub(1, jpeg:find("\255\192", 1, true) - 1) .. jpeg:sub(sos)
      rejects({ image = file("noframe.jpg", no_frame) }, "noframe.jpg' is a truncated or damaged JPEG image")
      rejects({ image = jpeg:sub(1, 40) }, "image (bytes) is a truncated or damaged JPEG image")
      rejects({ image = webp:sub(1, 25) }, "image (bytes) is a truncated or damaged WebP image")
      rejects({ image = "RIFF\0\0\0\0WEBPVP9 " .. ("\0"):rep(20) }, "image (bytes) is a truncated or damaged WebP image")
      local bad_vp8 = webp:sub(1, 23) .. "\0\0\0" .. webp:sub(27)
      rejects({ image = bad_vp8 }, "image (bytes) is a truncated or damaged WebP image")
    end)

    it("io files that are closed, write-only, or pipes", function()
      local f = assert(io.open(file("closed.png", png), "rb"))
      f:close()
      rejects({ image = f }, "image: the io file is closed")
      local w = assert(io.open(dir .. "/writeonly.png", "wb"))
      rejects({ image = { png, w } }, "image 2 (open file) is empty")
      w:write(png)
      w:seek("set", 0)
      rejects({ image = { png, w } }, "cannot read image 2 (open file)")
      w:close()
      local pipe = assert(io.popen("cat " .. shell_quote(file("piped.png", png))))
      rejects({ image = pipe }, "image (open file) cannot seek (pipes and terminals are not supported)")
      pipe:close()
    end)

    it("leave no descriptor open", function()
      local path = file("ok.png", png)
      local cut = file("cut.png", png:sub(1, 30))
      local before = util.open_fds()
      local c = gptimage.new{ api_key = "sk-test", base_url = srv.base_url, max_retries = 0 }
      for _ = 1, 20 do
        pcall(c.edit, c, { prompt = "p", image = { path, cut } })
        local f = assert(io.open(path, "rb"))
        assert(c:edit{ prompt = "p", image = { f, path } })
        f:close()
        pcall(c.edit, c, { prompt = "p", image = path, mask = path })
        f = assert(io.open(path, "rb"))
        pcall(c.edit, c, { prompt = "p", image = { f, cut } })
        f:close()
      end
      assert.equals(20, #srv:requests())
      c:close()
      c = nil
      collectgarbage()
      collectgarbage()
      assert.equals(before, util.open_fds())
    end)
  end)
end)
