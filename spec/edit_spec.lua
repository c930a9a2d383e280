-- edit and variation end to end: every input form, the multipart request
-- the official SDK would send, masks, and the checks on input images.
local gptimage = require "gptimage"
local fake = require "helpers.server"
local util = require "helpers.util"
local fixture = require "helpers.fixture"

local parts_named = fake.parts_named

describe("edit and variation", function()
  local srv, client, dir, png, rgba, png_path

  fixture.each({ server = {}, client = { api_key = "sk-test", max_retries = 0 }, dir = true },
    function(f) srv, client, dir = f.srv, f.client, f.dir end)

  setup(function()
    local c = gptimage.new{ api_key = "sk-test", base_url = srv.base_url }
    png = assert(c:generate{ prompt = "fixture", size = "1024x1024" }).images[1].bytes
    rgba = assert(c:generate{ prompt = "mask", size = "1024x1024", background = "transparent" }).images[1].bytes
    c:close()
  end)
  before_each(function()
    png_path = dir .. "/input.png"
    util.write(png_path, png)
  end)

  it("sends one image as the part 'image' with its sniffed type", function()
    local res = assert(client:edit{ image = png_path, prompt = "make it gold", quality = "low", n = 2 })
    assert.equals(2, #res.images)
    local r = srv:last_request()
    assert.equals("/v1/images/edits", r.path)
    assert.matches("^multipart/form%-data", r.headers["content-type"])
    local img = parts_named(r, "image")
    assert.equals(1, #img)
    assert.equals("input.png", img[1].filename)
    assert.equals("image/png", img[1].content_type)
    assert.equals(#png, img[1].size)
    assert.equals("make it gold", parts_named(r, "prompt")[1].value)
    assert.equals("2", parts_named(r, "n")[1].value)
    assert.equals("low", parts_named(r, "quality")[1].value)
    assert.equals("gpt-image-2.6-flare", parts_named(r, "model")[1].value)
  end)

  it("sends a list as image[] (even a list of one)", function()
    assert(client:edit{ image = { png_path }, prompt = "x" })
    assert.equals(1, #parts_named(srv:last_request(), "image[]"))
    assert.equals(0, #parts_named(srv:last_request(), "image"))
    local f = assert(io.open(png_path, "rb"))
    assert(client:edit{ image = { png_path, png, f, { data = png, filename = "named.png" } },
                        prompt = "x", input_fidelity = "high" })
    f:close()
    local parts = parts_named(srv:last_request(), "image[]")
    assert.equals(4, #parts)
    assert.equals("input.png", parts[1].filename)
    assert.equals("image.png", parts[2].filename)
    assert.equals("named.png", parts[4].filename)
    for _, p in ipairs(parts) do
      assert.equals("image/png", p.content_type)
      assert.equals(#png, p.size)
    end
    assert.equals("high", parts_named(srv:last_request(), "input_fidelity")[1].value)
  end)

  it("sends the mask as a PNG part", function()
    assert(client:edit{ image = png, mask = rgba, prompt = "fill the hole" })
    local mask = parts_named(srv:last_request(), "mask")
    assert.equals(1, #mask)
    assert.equals("image/png", mask[1].content_type)
    assert.equals(#rgba, mask[1].size)
  end)

  it("sends booleans and numbers as text, like the SDK", function()
    assert(client:edit{ image = png, prompt = "x", stream = true, partial_images = 1, output_compression = 50,
                        output_format = "webp" })
    local r = srv:last_request()
    assert.equals("true", parts_named(r, "stream")[1].value)
    assert.equals("1", parts_named(r, "partial_images")[1].value)
    assert.equals("50", parts_named(r, "output_compression")[1].value)
  end)

  it("saves edits like generations", function()
    local res = assert(client:edit{ image = png, prompt = "x", n = 2, save = dir .. "/out/e.png" })
    assert.equals(dir .. "/out/e-1.png", res.images[1].path)
    assert.is_true(util.is_png(util.read(dir .. "/out/e-2.png")))
  end)

  it("rejects a mask without alpha, of another size, or not a PNG", function()
    assert.has_error(function() client:edit{ image = png, mask = png, prompt = "x" } end,
      "the mask must have an alpha channel (transparent where to edit)")
    local c = gptimage.new{ api_key = "sk-test", base_url = srv.base_url }
    local small = assert(c:generate{ prompt = "m", size = "1024x1536", background = "transparent" }).images[1].bytes
    c:close()
    srv:reset()
    assert.has_error(function() client:edit{ image = png, mask = small, prompt = "x" } end)
    assert.equals(0, #srv:requests())
  end)

  it("names a missing or non-image file and sends nothing", function()
    local ok, msg = pcall(client.edit, client, { image = dir .. "/missing.png", prompt = "x" })
    assert.is_false(ok)
    assert.matches("missing.png", msg, 1, true)
    util.write(dir .. "/notes.txt", "hello, not an image")
    ok, msg = pcall(client.edit, client, { image = dir .. "/notes.txt", prompt = "x" })
    assert.is_false(ok)
    assert.matches("not a PNG, JPEG or WebP", msg, 1, true)
    assert.equals(0, #srv:requests())
  end)

  it("sends JPEG and WebP inputs with their own types", function()
    local jpeg = assert(client:generate{ prompt = "j", output_format = "jpeg" }).images[1].bytes
    local webp = assert(client:generate{ prompt = "w", output_format = "webp" }).images[1].bytes
    srv:reset()
    assert(client:edit{ image = { jpeg, webp }, prompt = "x" })
    local parts = parts_named(srv:last_request(), "image[]")
    assert.equals("image/jpeg", parts[1].content_type)
    assert.equals("image/webp", parts[2].content_type)
    assert.equals("image.jpg", parts[1].filename)
  end)

  it("varies an image as an edit with the variation prompt on the default model", function()
    local res = assert(client:variation{ image = png_path, n = 2, size = "1536x1024" })
    assert.equals(2, #res.images)
    local r = srv:last_request()
    assert.equals("/v1/images/edits", r.path)
    assert.equals("gpt-image-2.6-flare", parts_named(r, "model")[1].value)
    assert.equals(gptimage.variation_prompt, parts_named(r, "prompt")[1].value)
    assert.equals("2", parts_named(r, "n")[1].value)
    assert.equals("1536x1024", parts_named(r, "size")[1].value)
    assert.equals(1, #parts_named(r, "image"))
  end)

  it("varies a square PNG on the legacy endpoint when dall-e-2 is named", function()
    local res = assert(client:variation{ model = "dall-e-2", image = png_path, n = 2, size = "256x256" })
    assert.equals(2, #res.images)
    local r = srv:last_request()
    assert.equals("/v1/images/variations", r.path)
    assert.equals("dall-e-2", parts_named(r, "model")[1].value)
    assert.equals(1, #parts_named(r, "image"))
    assert.near(0.032, res.cost, 1e-9)
  end)

  it("refuses a prompt on the legacy variation endpoint", function()
    assert.has_error(function() client:variation{ image = png, model = "dall-e-2", prompt = "x" } end)
  end)

  it("re-sends the whole file when a retry follows a failure", function()
    local c = gptimage.new{ api_key = "sk-test", base_url = srv.base_url, max_retries = 1 }
    srv:fault{ action = "status", status = 500, body = "{}", headers = { ["retry-after-ms"] = "10" } }
    local f = assert(io.open(png_path, "rb"))
    assert(c:edit{ image = { f, png }, prompt = "x" })
    f:close()
    local reqs = srv:requests()
    assert.equals(2, #reqs)
    for _, p in ipairs(parts_named(reqs[2], "image[]")) do assert.equals(#png, p.size) end
    c:close()
  end)
end)
