-- Proves that the fake Images API speaks today's API as spec/server/README.md
-- documents it (the shapes of openai-node 7.60.0): current models, GIF and
-- SVG output, nested svg options, markup edits, safety_identifier, quality
-- xhigh/max, any WxH size, the new usage fields, shut-down models, and
-- images that follow the prompt. Talks to it with the curl CLI only.

local cjson = require "cjson"
local fake = require "helpers.server"
local util = require "helpers.util"
local fixture = require "helpers.fixture"

local quote = fake.shell_quote

-- One API call through the curl CLI: json (a table) or form (a list of -F
-- values). Returns the status and the decoded body (nil for a non-JSON one).
local function call(url, opts)
  local dir = util.tmpdir()
  local body_path = dir .. "/body"
  local command = { fake.unsanitized .. "curl -sS -o", quote(body_path), "-w '%{http_code}'",
                    "-H 'Authorization: Bearer sk-test'" }
  if opts.json then
    util.write(dir .. "/request.json", cjson.encode(opts.json))
    command[#command + 1] = "-H 'Content-Type: application/json' --data-binary @" .. quote(dir .. "/request.json")
  end
  for _, field in ipairs(opts.form or {}) do
    command[#command + 1] = "-F " .. quote(field)
  end
  command[#command + 1] = quote(url)
  local pipe = assert(io.popen(table.concat(command, " ") .. " 2>&1"))
  local status = tonumber(pipe:read("*a"):match("(%d+)%s*$"))
  pipe:close()
  local text = util.read(body_path) or ""
  util.rmtree(dir)
  local ok, value = pcall(cjson.decode, text)
  return status, ok and value or nil, text
end

local function u16(bytes, at)
  local low, high = bytes:byte(at, at + 1)
  return low + high * 256
end

-- Frames, per-frame delays (1/100 s), width and height of a GIF, read from its
-- block structure; nil when the blocks do not parse.
local function gif_frames(bytes)
  if bytes:sub(1, 6) ~= "GIF89a" then return nil end
  local width, height = u16(bytes, 7), u16(bytes, 9)
  local at = 14
  if bytes:byte(11) >= 128 then at = at + 3 * 2 ^ (bytes:byte(11) % 8 + 1) end
  local delays, delay = {}, 0
  local function skip_blocks()
    while at <= #bytes and bytes:byte(at) ~= 0 do at = at + bytes:byte(at) + 1 end
    at = at + 1
  end
  while at <= #bytes do
    local kind = bytes:byte(at)
    if kind == 0x3B then
      return #delays, delays, width, height
    elseif kind == 0x21 then
      if bytes:byte(at + 1) == 0xF9 then delay = u16(bytes, at + 4) end
      at = at + 2
      skip_blocks()
    elseif kind == 0x2C then
      local flags = bytes:byte(at + 9)
      at = at + 10
      if flags >= 128 then at = at + 3 * 2 ^ (flags % 8 + 1) end
      at = at + 1
      skip_blocks()
      delays[#delays + 1] = delay
      delay = 0
    else
      return nil
    end
  end
  return nil
end

describe("fake Images API: today's API", function()
  local srv, base, image_path, markup_path, small_markup_path

  local function generate(body)
    return call(base .. "/images/generations", { json = body })
  end

  local function edit(fields)
    return call(base .. "/images/edits", { form = fields })
  end

  -- The bytes of the first image of the last answer, from the server's records.
  local function last_image()
    local record = srv:last_request()
    return srv:image(record.images[1]), record
  end

  fixture.each({ server = {} }, function(f) srv = f.srv end)

  setup(function()
    base = srv.base_url
    local dir = util.tmpdir()
    image_path, markup_path, small_markup_path = dir .. "/image.png", dir .. "/markup.png", dir .. "/small.png"
    assert.are.equal(200, (generate{ prompt = "input", size = "64x64" }))
    util.write(image_path, (last_image()))
    assert.are.equal(200, (generate{ prompt = "markup", size = "64x64", background = "transparent" }))
    util.write(markup_path, (last_image()))
    assert.are.equal(200, (generate{ prompt = "markup", size = "32x64", background = "transparent" }))
    util.write(small_markup_path, (last_image()))
  end)

  describe("models", function()
    it("answers a request naming no model as the current default model", function()
      local status, body = generate{ prompt = "a sword" }
      assert.are.equal(200, status)
      assert.are.equal("png", body.output_format)
      assert.is_table(body.usage.output_tokens_details)
    end)

    it("serves every current model and snapshot", function()
      for _, model in ipairs{ "gpt-image-2", "gpt-image-2-2026-04-21", "gpt-image-2.5-sunburst",
                              "gpt-image-2.5-sunburst-2026-09-08", "gpt-image-2.5-flare",
                              "gpt-image-2.5-flare-2026-09-08", "gpt-image-2.6-sunburst",
                              "gpt-image-2.6-flare" } do
        local status, body = generate{ prompt = "x", model = model, size = "256x256" }
        assert.are.equal(200, status, model)
        assert.are.equal("256x256", body.size)
      end
    end)

    it("refuses shut-down models with the API's error when shut_down is on", function()
      srv:config{ shut_down = true }
      for _, model in ipairs{ "gpt-image-1", "dall-e-2", "dall-e-3", "gpt-image-1-mini",
                              "gpt-image-1.5", "chatgpt-image-latest" } do
        local status, body = generate{ prompt = "x", model = model }
        assert.are.equal(404, status, model)
        assert.are.same({ message = "The model `" .. model .. "` has been deprecated, learn more here: "
                            .. "https://platform.openai.com/docs/deprecations",
                          type = "invalid_request_error", param = cjson.null, code = "model_not_found" },
                        body.error)
      end
      -- an Azure deployment keeps its own schedule
      local status = call(srv.root .. "/openai/deployments/gpt-image-1/images/generations?api-version=1",
                          { json = { prompt = "x" } })
      assert.are.equal(200, status)
    end)

    it("still serves the shut-down models by default, for compatible-server specs", function()
      assert.are.equal(200, (generate{ prompt = "x", model = "gpt-image-1" }))
      assert.are.equal(200, (generate{ prompt = "x", model = "dall-e-2", size = "256x256" }))
    end)
  end)

  describe("gif output", function()
    it("answers a real animated GIF with frame_count frames and the asked delay", function()
      local status, body = generate{ prompt = "a walking knight", model = "gpt-image-2.6-flare",
                                     output_format = "gif", frame_count = 4, frame_duration_ms = 120,
                                     size = "128x96" }
      assert.are.equal(200, status)
      assert.are.equal("gif", body.output_format)
      local frames, delays, width, height = gif_frames((last_image()))
      assert.are.same({ 4, { 12, 12, 12, 12 }, 128, 96 }, { frames, delays, width, height })
    end)

    it("defaults to 9 frames of 200 ms and counts output tokens per frame", function()
      local _, body = generate{ prompt = "x", model = "gpt-image-2.6-flare", output_format = "gif",
                                size = "256x256", quality = "low" }
      local frames, delays = gif_frames((last_image()))
      assert.are.equal(9, frames)
      assert.are.equal(20, delays[9])
      assert.are.equal(9 * 17, body.usage.output_tokens_details.image_tokens)
    end)

    it("refuses what GIF output does not support", function()
      local cases = {
        { { frame_count = 1 }, "frame_count" }, { { frame_count = 17 }, "frame_count" },
        { { stream = true }, "stream" }, { { output_compression = 50 }, "output_compression" },
      }
      for _, case in ipairs(cases) do
        local request = { prompt = "x", model = "gpt-image-2.6-flare", output_format = "gif" }
        for key, value in pairs(case[1]) do request[key] = value end
        local status, body = generate(request)
        assert.are.equal(400, status)
        assert.are.equal(case[2], body.error.param)
      end
      local status, body = generate{ prompt = "x", model = "gpt-image-2.6-flare", frame_count = 3 }
      assert.are.equal(400, status)
      assert.are.equal("unsupported_parameter", body.error.code)
      status, body = edit{ "image=@" .. image_path .. ";type=image/png", "mask=@" .. markup_path .. ";type=image/png",
                           "prompt=x", "model=gpt-image-2.6-flare", "output_format=gif" }
      assert.are.equal(400, status)
      assert.are.equal("mask", body.error.param)
    end)
  end)

  describe("svg output", function()
    it("answers a real SVG document and svg_usage for nested options in JSON", function()
      local status, body = generate{ prompt = "a <shield> & sword", model = "gpt-image-2.6-sunburst",
                                     output_format = "svg", size = "512x512",
                                     svg = { model = "svg-author", reasoning = { effort = "high" } } }
      assert.are.equal(200, status)
      assert.are.equal("svg", body.output_format)
      local document = last_image()
      assert.matches('^<%?xml[^>]*>%s*<svg xmlns="http://www.w3.org/2000/svg" width="512" height="512"', document)
      assert.matches("<title>a &lt;shield&gt; &amp; sword</title>", document, 1, true)
      assert.matches("</svg>%s*$", document)
      assert.are.equal("svg-author", body.svg_usage.model)
      assert.are.equal(1024, body.svg_usage.reasoning_tokens)
      assert.are.equal(body.svg_usage.input_tokens + body.svg_usage.output_tokens, body.svg_usage.total_tokens)
    end)

    it("reads svg[model] and svg[reasoning][effort] multipart fields in edits", function()
      local status, body = edit{ "image=@" .. image_path .. ";type=image/png", "prompt=x",
                                 "model=gpt-image-2.6-flare", "output_format=svg",
                                 "svg[model]=svg-author", "svg[reasoning][effort]=low" }
      assert.are.equal(200, status)
      assert.are.equal("svg-author", body.svg_usage.model)
      assert.are.equal(64, body.svg_usage.reasoning_tokens)
      status, body = edit{ "image=@" .. image_path .. ";type=image/png", "prompt=x",
                           "model=gpt-image-2.6-flare", "output_format=svg", "svg[reasoning][effort]=huge" }
      assert.are.equal(400, status)
      assert.are.equal("invalid_value", body.error.code)
    end)

    it("refuses n above 1 and svg options without svg output", function()
      local status = generate{ prompt = "x", model = "gpt-image-2.6-flare", output_format = "svg", n = 2 }
      assert.are.equal(400, status)
      local body
      status, body = generate{ prompt = "x", model = "gpt-image-2.6-flare", svg = { model = "m" } }
      assert.are.equal(400, status)
      assert.are.equal("svg", body.error.param)
    end)
  end)

  describe("markup edits", function()
    it("takes a markup the size of the first image with several images", function()
      local status = edit{ "image[]=@" .. image_path .. ";type=image/png",
                           "image[]=@" .. image_path .. ";type=image/png",
                           "markup=@" .. markup_path .. ";type=image/png",
                           "prompt=x", "model=gpt-image-2.6-sunburst" }
      assert.are.equal(200, status)
      local names = {}
      for _, part in ipairs(srv:last_request().parts) do names[#names + 1] = part.name end
      assert.are.same({ "image[]", "image[]", "markup", "prompt", "model" }, names)
    end)

    it("refuses a markup with a mask, of another size, or for gpt-image-2", function()
      local cases = {
        { { "mask=@" .. markup_path .. ";type=image/png", "markup=@" .. markup_path .. ";type=image/png" },
          "gpt-image-2.6-sunburst" },
        { { "markup=@" .. small_markup_path .. ";type=image/png" }, "gpt-image-2.6-sunburst" },
        { { "markup=@" .. markup_path .. ";type=image/png" }, "gpt-image-2" },
      }
      for _, case in ipairs(cases) do
        local fields = { "image=@" .. image_path .. ";type=image/png", "prompt=x", "model=" .. case[2] }
        for _, field in ipairs(case[1]) do fields[#fields + 1] = field end
        local status, body = edit(fields)
        assert.are.equal(400, status)
        assert.are.equal("markup", body.error.param)
      end
    end)
  end)

  describe("new fields", function()
    it("echoes safety_identifier (or the deprecated user) in answers and completed events", function()
      local _, body = generate{ prompt = "x", model = "gpt-image-2.6-flare", safety_identifier = "hash-1" }
      assert.are.equal("hash-1", body.safety_identifier)
      _, body = generate{ prompt = "x", model = "gpt-image-2.6-flare", user = "old-user" }
      assert.are.equal("old-user", body.safety_identifier)
      _, body = generate{ prompt = "x", model = "gpt-image-2.6-flare", user = "old", safety_identifier = "new" }
      assert.are.equal("new", body.safety_identifier)
      local _, _, text = edit{ "image=@" .. image_path .. ";type=image/png", "prompt=x",
                               "model=gpt-image-2.6-flare", "stream=true", "partial_images=1",
                               "safety_identifier=hash-2" }
      local completed = text:match("event: image_edit%.completed\ndata: ([^\n]+)")
      assert.are.equal("hash-2", cjson.decode(completed).safety_identifier)
      assert.are.equal(1, #srv:last_request().partial_images)
    end)

    it("takes quality xhigh and max on 2.5 and newer, not on gpt-image-2", function()
      for _, quality in ipairs{ "xhigh", "max" } do
        local status, body = generate{ prompt = "x", model = "gpt-image-2.5-flare", quality = quality }
        assert.are.equal(200, status)
        assert.are.equal(quality, body.quality)
        status, body = generate{ prompt = "x", model = "gpt-image-2", quality = quality }
        assert.are.equal(400, status)
        assert.are.equal("quality", body.error.param)
      end
    end)

    it("takes any WxH within the 2.x rules and refuses the rest", function()
      local status, body = generate{ prompt = "x", model = "gpt-image-2.6-flare", size = "1536x864" }
      assert.are.equal(200, status)
      assert.are.same({ 1536, 864 }, { util.png_size((last_image())) })
      assert.are.equal("1536x864", body.size)
      for _, size in ipairs{ "1000x1000", "3840x1024", "4096x2304", "3840x2176" } do
        status, body = generate{ prompt = "x", model = "gpt-image-2.6-flare", size = size }
        assert.are.equal(400, status, size)
        assert.are.equal("size", body.error.param)
      end
    end)

    it("splits output tokens into image and text (complexity) tokens", function()
      local details = {}
      for _, complexity in ipairs{ "low", "medium", "high" } do
        local _, body = generate{ prompt = "x", model = "gpt-image-2.6-flare", quality = "low",
                                  complexity = complexity }
        local usage = body.usage
        assert.are.equal(usage.output_tokens_details.image_tokens + usage.output_tokens_details.text_tokens,
                         usage.output_tokens)
        details[#details + 1] = usage.output_tokens_details.text_tokens
      end
      assert.is_true(details[1] < details[2] and details[2] < details[3])
      local status, body = generate{ prompt = "x", model = "gpt-image-2.6-flare", complexity = "extreme" }
      assert.are.equal(400, status)
      assert.are.equal("complexity", body.error.param)
    end)

    it("refuses input_fidelity for gpt-image-2 and transparent JPEG on 2.x", function()
      local status, body = edit{ "image=@" .. image_path .. ";type=image/png", "prompt=x",
                                 "model=gpt-image-2", "input_fidelity=high" }
      assert.are.equal(400, status)
      assert.are.equal("input_fidelity", body.error.param)
      status, body = generate{ prompt = "x", model = "gpt-image-2", background = "transparent",
                               output_format = "jpeg" }
      assert.are.equal(400, status)
      assert.are.equal("background", body.error.param)
      status, body = generate{ prompt = "x", model = "gpt-image-2", background = "transparent" }
      assert.are.equal(200, status)
      assert.are.equal("transparent", body.background)
    end)
  end)

  describe("images follow the prompt", function()
    it("gives different prompts different images and one prompt the same image", function()
      generate{ prompt = "a red dragon", size = "64x64" }
      local dragon = last_image()
      generate{ prompt = "a blue whale", size = "64x64" }
      local whale = last_image()
      generate{ prompt = "a red dragon", size = "64x64" }
      assert.are_not.equal(dragon, whale)
      assert.are.equal(dragon, (last_image()))
    end)
  end)
end)
