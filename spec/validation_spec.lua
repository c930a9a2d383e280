-- Validation of a call's options: every caller bug raises a clear message
-- before any network (the client points at a closed port, so a call that
-- got through would come back as nil, err instead of raising), and valid
-- calls of every model go through unchanged to the fake server.
local gptimage = require "gptimage"
local fake = require "helpers.server"
local images = require "helpers.images"
local util = require "helpers.util"
local fixture = require "helpers.fixture"
local expect = require "helpers.expect"

local CLOSED_PORT = "http://127.0.0.1:9/v1"
local raised, form = expect.raised, fake.form

local CURRENT_MODELS = { "gpt-image-2.6-flare", "gpt-image-2.6-sunburst", "gpt-image-2.5-flare",
                         "gpt-image-2.5-flare-2026-09-08", "gpt-image-2.5-sunburst", "gpt-image-2.5-sunburst-2026-09-08",
                         "gpt-image-2", "gpt-image-2-2026-04-21" }
local GPT_MODELS = { "gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5", "chatgpt-image-latest" }
for _, model in ipairs(CURRENT_MODELS) do GPT_MODELS[#GPT_MODELS + 1] = model end

local function copy(t, extra)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  for k, v in pairs(extra or {}) do out[k] = v end
  return out
end

describe("validation", function()
  local offline, png64, rgba64

  setup(function()
    png64 = images.png{ width = 64, height = 64, colour = "rgb" }
    rgba64 = images.png{ width = 64, height = 64, colour = "rgba" }
  end)
  before_each(function()
    offline = gptimage.new{ api_key = "sk-test", base_url = CLOSED_PORT, max_retries = 0 }
  end)
  after_each(function()
    offline:close()
  end)

  -- Raises with exactly this message (or one matching each plain fragment),
  -- and gptimage.validate, which builds no request, raises the same.
  local function rejects(op, opts, expected)
    local msg = raised(offline[op], offline, opts)
    assert.equals(msg, raised(gptimage.validate, op, opts))
    if type(expected) == "table" then
      for _, fragment in ipairs(expected) do
        assert.truthy(msg:find(fragment, 1, true), ("%q does not contain %q"):format(msg, fragment))
      end
    elseif expected then
      assert.equals(expected, msg)
    end
    return msg
  end

  -- Gets past validation: on the closed port that is a network failure.
  local function passes(op, opts)
    local ok, res, err = pcall(offline[op], offline, opts)
    assert.is_true(ok, "the call raised: " .. tostring(res))
    assert.is_nil(res)
    assert.equals("network", err.kind, tostring(err))
    assert.is_true(gptimage.validate(op, opts))
  end

  describe("option names", function()
    it("raise for unknown names, with a hint when close to a known one", function()
      rejects("generate", { prompt = "a", qualty = "low" }, "unknown option 'qualty' (did you mean 'quality'?)")
      rejects("generate", { prompt = "a", promt = "b" }, "unknown option 'promt' (did you mean 'prompt'?)")
      rejects("generate", { prompt = "a", sise = "auto" }, "unknown option 'sise' (did you mean 'size'?)")
      rejects("generate", { prompt = "a", qaulity = "low" }, "unknown option 'qaulity' (did you mean 'quality'?)")
      rejects("generate", { prompt = "a", outputformat = "png" },
        "unknown option 'outputformat' (did you mean 'output_format'?)")
      rejects("generate", { prompt = "a", on_partal = print }, "unknown option 'on_partal' (did you mean 'on_partial'?)")
      rejects("generate", { prompt = "a", colour = "red" }, "unknown option 'colour'")
      rejects("generate", { prompt = "a", x = 1 }, "unknown option 'x'")
    end)

    it("raise for keys that are not strings", function()
      rejects("generate", { "a prompt" }, "option names must be strings, got a number key")
      rejects("generate", { prompt = "a", [true] = 1 }, "option names must be strings, got a boolean key")
      rejects("generate", { prompt = "a", [{}] = 1 }, "option names must be strings, got a table key")
    end)

    it("accept 'op' only when it names the call's own operation", function()
      passes("generate", { prompt = "a", op = "generate" })
      passes("edit", { prompt = "a", image = png64, op = "edit" })
      rejects("generate", { prompt = "a", op = "edit" }, "option 'op' must be 'generate' in a generate call")
      rejects("variation", { image = png64, op = 1 }, "option 'op' must be 'variation' in a variation call")
    end)

    it("raise for options the operation does not take", function()
      rejects("generate", { prompt = "a", image = png64 }, "option 'image' is only for edit and variation, not generate")
      rejects("generate", { prompt = "a", mask = rgba64 }, "option 'mask' is only for edit, not generate")
      rejects("generate", { prompt = "a", input_fidelity = "high" },
        "option 'input_fidelity' is only for edit, not generate")
      rejects("edit", { prompt = "a", image = png64, moderation = "low" },
        "option 'moderation' is only for generate, not edit")
      rejects("edit", { prompt = "a", image = png64, style = "vivid", model = "dall-e-2" },
        "option 'style' is only for generate, not edit")
      -- the legacy variations endpoint (dall-e-2) takes no prompt, quality or streaming
      local dalle2 = { image = png64, model = "dall-e-2" }
      rejects("variation", copy(dalle2, { prompt = "a" }), "option 'prompt' is only for generate and edit, not variation")
      rejects("variation", copy(dalle2, { quality = "standard" }),
        "option 'quality' is only for generate and edit, not variation")
      rejects("variation", copy(dalle2, { stream = true }), "option 'stream' is only for generate and edit, not variation")
      rejects("variation", copy(dalle2, { partial_images = 1 }),
        "option 'partial_images' is only for generate and edit, not variation")
      -- on GPT image models a variation is an edit, and takes what an edit takes
      passes("variation", { image = png64, prompt = "a", quality = "low", stream = true, partial_images = 1 })
      rejects("variation", { image = png64, moderation = "low" },
        "option 'moderation' is only for generate, not variation (a variation is an edit on GPT image models)")
    end)

    it("export the local option names the job reads itself", function()
      for _, name in ipairs{ "save", "on_partial", "on_done", "timeout", "max_retries", "extra" } do
        local msg = raised(offline.generate, offline, { prompt = "a", [name] = coroutine.create(print) })
        assert.truthy(msg:find("option '" .. name .. "' must be", 1, true), msg)
      end
    end)
  end)

  describe("types", function()
    local CASES = {
      { { n = "2" }, "option 'n' must be an integer, got string" },
      { { n = 1.5 }, "option 'n' must be an integer, got 1.5" },
      { { n = 0 / 0 }, "option 'n' must be an integer, got nan" },
      { { n = math.huge }, "option 'n' must be an integer, got inf" },
      { { n = true }, "option 'n' must be an integer, got boolean" },
      { { size = 1024 }, "option 'size' must be a string, got number" },
      { { quality = {} }, "option 'quality' must be a string, got table" },
      { { prompt = 42 }, "option 'prompt' must be a string, got number" },
      { { model = false }, "option 'model' must be a string, got boolean" },
      { { user = 7 }, "option 'user' must be a string, got number" },
      { { stream = "true" }, "option 'stream' must be a boolean, got string" },
      { { stream = 1 }, "option 'stream' must be a boolean, got number" },
      { { output_compression = "80" }, "option 'output_compression' must be an integer, got string" },
      { { partial_images = 2.5 }, "option 'partial_images' must be an integer, got 2.5" },
      { { save = 1 }, "option 'save' must be a string, got number" },
      { { on_done = "f" }, "option 'on_done' must be a function, got string" },
      { { on_partial = {} }, "option 'on_partial' must be a function, got table" },
      { { timeout = "10" }, "option 'timeout' must be a number, got string" },
      { { max_retries = 0.5 }, "option 'max_retries' must be an integer, got 0.5" },
      { { extra = "x" }, "option 'extra' must be a table, got string" },
    }
    for _, case in ipairs(CASES) do
      local name, value = next(case[1])
      it("raise for " .. name .. " = " .. tostring(value), function()
        rejects("generate", copy({ prompt = "a" }, case[1]), case[2])
      end)
    end

    it("raise for an image of the wrong type", function()
      local msg = rejects("edit", { prompt = "a", image = true })
      assert.matches("^option 'image' must be a path, a string of bytes, an open io file", msg)
      msg = rejects("edit", { prompt = "a", image = png64, mask = 5 })
      assert.matches("^option 'mask' must be a path", msg)
      rejects("edit", { prompt = "a", image = { png64, 5 } }, { "image 2 must be a path", "got number" })
    end)
  end)

  describe("local options", function()
    it("check timeout, max_retries and save", function()
      for _, t in ipairs{ 0, -1, 0 / 0, math.huge, -math.huge, 2e9 } do
        rejects("generate", { prompt = "a", timeout = t }, { "option 'timeout' must be a positive number of seconds" })
      end
      for _, r in ipairs{ -1, 1e7, 2 ^ 63 } do
        rejects("generate", { prompt = "a", max_retries = r }, { "option 'max_retries' must be an integer from 0" })
      end
      rejects("generate", { prompt = "a", save = "" }, "option 'save' must not be empty")
      rejects("generate", { prompt = "a", save = "a\0b.png" }, "option 'save' must not contain NUL bytes")
      passes("generate", { prompt = "a", timeout = 0.5, max_retries = 0, on_done = function() end, on_partial = function() end })
    end)

    it("check extra: string keys, no option of its own, values the body can carry", function()
      rejects("generate", { prompt = "a", extra = { 1 } }, "option 'extra' must map field names (strings) to values, got a number key")
      rejects("generate", { prompt = "a", extra = { quality = "low" } },
        "option 'extra' must not set 'quality': pass quality = ... as an option of the call")
      rejects("generate", { prompt = "a", extra = { f = print } }, { "option 'extra' cannot be sent as JSON" })
      rejects("generate", { prompt = "a", extra = { x = 0 / 0 } }, { "option 'extra' cannot be sent as JSON" })
      rejects("edit", { prompt = "a", image = png64, extra = { t = { 1 } } },
        "option 'extra' field 't' must be a string, number or boolean for edit (it is sent as a form field), got table")
      rejects("edit", { prompt = "a", image = png64, extra = { x = 1 / 0 } }, "option 'extra' field 'x' must be a finite number")
      rejects("generate", { prompt = "a", extra = { [""] = 1 } }, "option 'extra' has an empty field name or one with NUL bytes")
      rejects("generate", { prompt = "a", extra = { ["a\0b"] = 1 } },
        "option 'extra' has an empty field name or one with NUL bytes")
      passes("generate", { prompt = "a", extra = { nested = { list = { 1, 2 }, flag = true } } })
      passes("edit", { prompt = "a", image = png64, extra = { s = "x", ratio = 1.25, b = false } })
    end)
  end)

  describe("models", function()
    it("make a variation an edit on every model but dall-e-2", function()
      for _, model in ipairs(GPT_MODELS) do
        passes("variation", { image = png64, model = model })
      end
      rejects("variation", { image = png64, model = "dall-e-3" },
        "edit is not available for dall-e-3; use dall-e-2 or a GPT image model")
    end)

    it("refuse edits with dall-e-3", function()
      rejects("edit", { image = png64, prompt = "a", model = "dall-e-3" },
        "edit is not available for dall-e-3; use dall-e-2 or a GPT image model")
    end)

    it("refuse an empty model name", function()
      rejects("generate", { prompt = "a", model = "" }, "option 'model' must be a model name, got ''")
    end)

    it("pass an unknown model through with type checks only", function()
      passes("generate", { prompt = ("a"):rep(40000), model = "gpt-image-9", n = 50, size = "7x7",
                           quality = "ultra", style = "any", response_format = "zip", background = "x",
                           output_format = "avif", output_compression = 500, partial_images = 9, stream = true,
                           moderation = "off" })
      passes("edit", { prompt = "a", model = "gpt-image-9", image = { images.jpeg{}, images.webp{} },
                       mask = images.jpeg{ width = 3, height = 5 }, input_fidelity = "max" })
      passes("variation", { image = images.jpeg{ width = 10, height = 20 }, model = "dall-e-4" })
      rejects("generate", { model = "gpt-image-9", prompt = 1 }, "option 'prompt' must be a string, got number")
      rejects("generate", { model = "gpt-image-9", prompt = "a", n = 0 }, "option 'n' = 0 is not valid; use 1 to 10")
      rejects("generate", { model = "gpt-image-9" }, "option 'prompt' is required for generate")
      rejects("generate", { model = "gpt-image-9", prompt = "\255" }, "option 'prompt' is not valid UTF-8 (at byte 1)")
    end)
  end)

  describe("prompt", function()
    it("is required for generate and edit", function()
      rejects("generate", {}, "option 'prompt' is required for generate")
      rejects("edit", { image = png64 }, "option 'prompt' is required for edit")
    end)

    it("must be valid UTF-8", function()
      rejects("generate", { prompt = "abc\128" }, "option 'prompt' is not valid UTF-8 (at byte 4)")
      rejects("generate", { prompt = "caf\195" }, "option 'prompt' is not valid UTF-8 (at byte 4)")
      rejects("generate", { prompt = "\192\175" }, "option 'prompt' is not valid UTF-8 (at byte 1)")
      rejects("generate", { prompt = "x\237\160\128" }, "option 'prompt' is not valid UTF-8 (at byte 2)")
      rejects("generate", { prompt = "\244\144\128\128" }, "option 'prompt' is not valid UTF-8 (at byte 1)")
      passes("generate", { prompt = "caf\195\169 \240\159\142\168 a\0b" })
    end)

    it("is limited in characters per model", function()
      local limits = { ["dall-e-2"] = 1000, ["dall-e-3"] = 4000 }
      for _, model in ipairs(GPT_MODELS) do limits[model] = 32000 end
      for model, limit in pairs(limits) do
        passes("generate", { prompt = ("\195\169"):rep(limit), model = model })
        rejects("generate", { prompt = ("\195\169"):rep(limit + 1), model = model },
          ("option 'prompt' is %d characters long; %s takes at most %d"):format(limit + 1, model, limit))
      end
      rejects("edit", { prompt = ("a"):rep(1001), model = "dall-e-2", image = png64 }, { "dall-e-2 takes at most 1000" })
    end)
  end)

  describe("n", function()
    it("is 1 to 10, and only 1 for dall-e-3", function()
      rejects("generate", { prompt = "a", n = 0 }, "option 'n' = 0 is not valid; use 1 to 10")
      rejects("generate", { prompt = "a", n = -3 }, "option 'n' = -3 is not valid; use 1 to 10")
      rejects("generate", { prompt = "a", n = 11 }, "option 'n' = 11 is not valid for gpt-image-2.6-flare; use 1 to 10")
      rejects("variation", { image = png64, n = 11 }, "option 'n' = 11 is not valid for gpt-image-2.6-flare; use 1 to 10")
      rejects("generate", { prompt = "a", n = 2 ^ 60 }, { "option 'n' = ", "is not valid" })
      rejects("generate", { prompt = "a", n = 2, model = "dall-e-3" },
        "option 'n' = 2 is not valid for dall-e-3; it makes one image per request (n = 1)")
      rejects("variation", { model = "dall-e-2", image = png64, n = 11 }, "option 'n' = 11 is not valid for dall-e-2; use 1 to 10")
      passes("generate", { prompt = "a", n = 10, model = "dall-e-2" })
      passes("generate", { prompt = "a", n = 1, model = "dall-e-3" })
      passes("generate", { prompt = "a", n = 3.0 })
    end)
  end)

  describe("size", function()
    local ALLOWED = {
      ["dall-e-2"] = { "256x256", "512x512", "1024x1024" },
      ["dall-e-3"] = { "1024x1024", "1792x1024", "1024x1792" },
    }
    for _, model in ipairs(GPT_MODELS) do ALLOWED[model] = { "1024x1024", "1536x1024", "1024x1536", "auto" } end

    it("takes each model's sizes", function()
      for model, sizes in pairs(ALLOWED) do
        for _, size in ipairs(sizes) do passes("generate", { prompt = "a", model = model, size = size }) end
      end
    end)

    it("refuses other sizes, naming the model and what it takes", function()
      rejects("generate", { prompt = "a", model = "dall-e-3", size = "512x512" },
        "option 'size' = '512x512' is not valid for dall-e-3; use '1024x1024', '1792x1024' or '1024x1792'")
      rejects("generate", { prompt = "a", model = "dall-e-2", size = "auto" },
        "option 'size' = 'auto' is not valid for dall-e-2; use '256x256', '512x512' or '1024x1024'")
      rejects("generate", { prompt = "a", model = "gpt-image-1", size = "1792x1024" },
        "option 'size' = '1792x1024' is not valid for gpt-image-1; use '1024x1024', '1536x1024', '1024x1536' or 'auto'")
      for _, model in ipairs{ "gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5", "chatgpt-image-latest" } do
        rejects("generate", { prompt = "a", model = model, size = "2048x1152" }, { "'2048x1152' is not valid for " .. model })
      end
      rejects("edit", { prompt = "a", image = png64, model = "dall-e-2", size = "1536x1024" }, { "not valid for dall-e-2" })
      rejects("variation", { model = "dall-e-2", image = png64, size = "1024x1536" }, { "not valid for dall-e-2" })
    end)

    for _, model in ipairs(CURRENT_MODELS) do
      it("of any shape within the limits for " .. model, function()
        for _, size in ipairs{ "2048x1152", "3840x2160", "2160x3840", "1280x3840", "3840x1280", "16x16", "512x1536" } do
          passes("generate", { prompt = "a", model = model, size = size })
        end
        local function bad(size, why)
          rejects("generate", { prompt = "a", model = model, size = size },
            ("option 'size' = '%s' is not valid for %s%s"):format(size, model, why))
        end
        bad("1000x1000", ": width and height must be multiples of 16")
        bad("1024x1000", ": width and height must be multiples of 16")
        bad("3840x1264", ": the aspect ratio must be between 1:3 and 3:1")
        bad("512x1552", ": the aspect ratio must be between 1:3 and 3:1")
        bad("4096x2048", ": the longest edge can be at most 3840 pixels")
        bad("3840x2176", ": at most 3840x2160 (8294400) pixels in all")
        bad("2896x2896", ": at most 3840x2160 (8294400) pixels in all")
        for _, malformed in ipairs{ "big", "1024x", "x1024", "1024X1024", "+1024x1024", " 1024x1024", "1024x1024 ",
                                    "01024x1024", "0x16", "16x16x16", "1024*1024", "99999999999999999999x16" } do
          rejects("generate", { prompt = "a", model = model, size = malformed },
            { ("option 'size' = '%s' is not valid for %s; use 'auto'"):format(malformed, model),
              "multiples of 16" })
        end
      end)
    end
  end)

  describe("quality, style, response_format", function()
    it("quality per model", function()
      for _, q in ipairs{ "low", "medium", "high", "auto" } do passes("generate", { prompt = "a", quality = q }) end
      for _, q in ipairs{ "standard", "hd" } do passes("generate", { prompt = "a", quality = q, model = "dall-e-3" }) end
      passes("generate", { prompt = "a", quality = "standard", model = "dall-e-2" })
      passes("edit", { prompt = "a", image = png64, quality = "standard", model = "dall-e-2" })
      rejects("generate", { prompt = "a", quality = "hd" },
        "option 'quality' = 'hd' is not valid for gpt-image-2.6-flare; use 'low', 'medium', 'high', 'xhigh', 'max' or 'auto'")
      rejects("generate", { prompt = "a", quality = "xhigh", model = "gpt-image-2" },
        "option 'quality' = 'xhigh' is not valid for gpt-image-2; use 'low', 'medium', 'high' or 'auto'")
      for _, model in ipairs{ "gpt-image-2.5-flare", "gpt-image-2.5-sunburst-2026-09-08", "gpt-image-2.6-sunburst" } do
        passes("generate", { prompt = "a", quality = "xhigh", model = model })
        passes("edit", { prompt = "a", image = png64, quality = "max", model = model })
      end
      rejects("generate", { prompt = "a", quality = "high", model = "dall-e-3" },
        "option 'quality' = 'high' is not valid for dall-e-3; use 'standard' or 'hd'")
      rejects("generate", { prompt = "a", quality = "hd", model = "dall-e-2" },
        "option 'quality' = 'hd' is not valid for dall-e-2; use 'standard'")
    end)

    it("style is for dall-e-3: vivid or natural", function()
      passes("generate", { prompt = "a", style = "vivid", model = "dall-e-3" })
      passes("generate", { prompt = "a", style = "natural", model = "dall-e-3" })
      rejects("generate", { prompt = "a", style = "cartoon", model = "dall-e-3" },
        "option 'style' = 'cartoon' is not valid for dall-e-3; use 'vivid' or 'natural'")
      rejects("generate", { prompt = "a", style = "vivid" }, "option 'style' = 'vivid' is only for dall-e-3, not gpt-image-2.6-flare")
      rejects("generate", { prompt = "a", style = "vivid", model = "dall-e-2" },
        "option 'style' = 'vivid' is only for dall-e-3, not dall-e-2")
    end)

    it("response_format is for dall-e: url or b64_json", function()
      for _, model in ipairs(GPT_MODELS) do
        rejects("generate", { prompt = "a", response_format = "b64_json", model = model },
          ("option 'response_format' = 'b64_json' is only for dall-e-2 and dall-e-3; GPT image models (%s here) "
           .. "always return b64_json"):format(model))
      end
      rejects("edit", { prompt = "a", image = png64, response_format = "url" }, { "always return b64_json" })
      passes("generate", { prompt = "a", response_format = "url", model = "dall-e-2" })
      passes("generate", { prompt = "a", response_format = "b64_json", model = "dall-e-3" })
      passes("variation", { model = "dall-e-2", image = png64, response_format = "url" })
      rejects("generate", { prompt = "a", response_format = "png", model = "dall-e-3" },
        "option 'response_format' = 'png' is not valid for dall-e-3; use 'url' or 'b64_json'")
    end)
  end)

  describe("options of GPT image models", function()
    it("raise for dall-e models", function()
      local CASES = {
        { "output_format", "png", "'png'" }, { "background", "opaque", "'opaque'" },
        { "moderation", "low", "'low'" }, { "partial_images", 1, "1" }, { "stream", true, "true" },
        { "stream", false, "false" }, { "output_compression", 90, "90" },
      }
      for _, model in ipairs{ "dall-e-2", "dall-e-3" } do
        for _, case in ipairs(CASES) do
          local msg = rejects("generate", { prompt = "a", model = model, [case[1]] = case[2] })
          assert.equals(("option '%s' = %s is only for GPT image models, not %s"):format(case[1], case[3], model),
            (msg:gsub(" %(dall%-e models return PNG%)$", "")))
        end
      end
      rejects("edit", { prompt = "a", image = png64, model = "dall-e-2", input_fidelity = "high" },
        "option 'input_fidelity' = 'high' is only for GPT image models, not dall-e-2")
      rejects("generate", { prompt = "a", model = "dall-e-3", output_format = "jpeg" },
        "option 'output_format' = 'jpeg' is only for GPT image models, not dall-e-3 (dall-e models return PNG)")
    end)

    it("output_format, moderation, background", function()
      for _, f in ipairs{ "png", "jpeg", "webp" } do passes("generate", { prompt = "a", output_format = f }) end
      rejects("generate", { prompt = "a", output_format = "bmp" },
        "option 'output_format' = 'bmp' is not valid for gpt-image-2.6-flare; use 'png', 'jpeg', 'webp', 'gif' or 'svg'")
      rejects("generate", { prompt = "a", output_format = "gif", model = "gpt-image-2" },
        "option 'output_format' = 'gif' is not valid for gpt-image-2; use 'png', 'jpeg' or 'webp'")
      passes("generate", { prompt = "a", moderation = "low" })
      rejects("generate", { prompt = "a", moderation = "high" },
        "option 'moderation' = 'high' is not valid for gpt-image-2.6-flare; use 'low' or 'auto'")
      for _, b in ipairs{ "transparent", "opaque", "auto" } do passes("generate", { prompt = "a", background = b }) end
      rejects("generate", { prompt = "a", background = "white" },
        "option 'background' = 'white' is not valid for gpt-image-2.6-flare; use 'transparent', 'opaque' or 'auto'")
    end)

    it("a transparent background needs png or webp (gpt-image-2: in preview, allowed)", function()
      passes("generate", { prompt = "a", background = "transparent", output_format = "png" })
      passes("generate", { prompt = "a", background = "transparent", output_format = "webp" })
      rejects("generate", { prompt = "a", background = "transparent", output_format = "jpeg" },
        "option 'background' = 'transparent' needs output_format 'png' or 'webp', not 'jpeg'")
      passes("generate", { prompt = "a", background = "transparent", output_format = "gif" })
      for _, model in ipairs{ "gpt-image-2", "gpt-image-2-2026-04-21", "gpt-image-1-mini", "gpt-image-1.5",
                              "chatgpt-image-latest", "gpt-image-2.5-flare", "gpt-image-2.6-sunburst" } do
        passes("generate", { prompt = "a", background = "transparent", model = model })
      end
    end)

    it("output_compression is 0 to 100, below 100 only for jpeg and webp", function()
      passes("generate", { prompt = "a", output_compression = 0, output_format = "jpeg" })
      passes("generate", { prompt = "a", output_compression = 100, output_format = "webp" })
      passes("generate", { prompt = "a", output_compression = 100 })
      rejects("generate", { prompt = "a", output_compression = 101, output_format = "jpeg" },
        "option 'output_compression' = 101 is not valid for gpt-image-2.6-flare; use 0 to 100")
      rejects("generate", { prompt = "a", output_compression = -1, output_format = "jpeg" },
        "option 'output_compression' = -1 is not valid; use 0 to 100")
      rejects("generate", { prompt = "a", output_compression = 50 },
        "option 'output_compression' = 50 needs output_format 'jpeg' or 'webp' (PNG output is lossless: leave it out or use 100)")
    end)

    it("stream and partial_images", function()
      for p = 0, 3 do passes("generate", { prompt = "a", stream = true, partial_images = p }) end
      passes("edit", { prompt = "a", image = png64, stream = true, partial_images = 2 })
      rejects("generate", { prompt = "a", stream = true, partial_images = 4 },
        "option 'partial_images' = 4 is not valid for gpt-image-2.6-flare; use 0 to 3")
      rejects("generate", { prompt = "a", stream = true, partial_images = -1 },
        "option 'partial_images' = -1 is not valid; use 0 to 3")
    end)

    it("input_fidelity: edit only, high or low; gpt-image-1-mini low only; never gpt-image-2", function()
      for _, model in ipairs(GPT_MODELS) do
        if model == "gpt-image-1-mini" then
          rejects("edit", { prompt = "a", image = png64, model = model, input_fidelity = "high" },
            "option 'input_fidelity' = 'high' is not valid for gpt-image-1-mini; use 'low'")
          passes("edit", { prompt = "a", image = png64, model = model, input_fidelity = "low" })
        elseif model:match("^gpt%-image%-2%-?") and not model:match("^gpt%-image%-2%.") then
          rejects("edit", { prompt = "a", image = png64, model = model, input_fidelity = "low" },
            ("option 'input_fidelity' = 'low' is not supported by %s"):format(model))
        else
          passes("edit", { prompt = "a", image = png64, model = model, input_fidelity = "high" })
          passes("edit", { prompt = "a", image = png64, model = model, input_fidelity = "low" })
        end
      end
      rejects("edit", { prompt = "a", image = png64, input_fidelity = "medium" },
        "option 'input_fidelity' = 'medium' is not valid for gpt-image-2.6-flare; use 'high' or 'low'")
    end)
  end)

  describe("edit and variation images", function()
    it("are required", function()
      rejects("edit", { prompt = "a" }, "option 'image' is required for edit")
      rejects("variation", {}, "option 'image' is required for variation")
      rejects("edit", { prompt = "a", image = {} }, "option 'image' is an empty list")
    end)

    it("up to 16 for GPT image models, exactly one for dall-e-2", function()
      local list = {}
      for i = 1, 17 do list[i] = png64 end
      rejects("edit", { prompt = "a", image = list }, "option 'image' has 17 images; gpt-image-2.6-flare takes at most 16")
      list[17] = nil
      passes("edit", { prompt = "a", image = list })
      rejects("edit", { prompt = "a", image = { png64, png64 }, model = "dall-e-2" },
        "option 'image' has 2 images; dall-e-2 edits exactly one")
      passes("edit", { prompt = "a", image = { png64 }, model = "dall-e-2" })
    end)

    it("for dall-e-2 are square PNGs under 4 MB", function()
      rejects("edit", { prompt = "a", image = images.jpeg{ width = 64, height = 64 }, model = "dall-e-2" },
        "image (bytes) must be a PNG for dall-e-2 (it is image/jpeg)")
      rejects("edit", { prompt = "a", image = images.png{ width = 64, height = 32 }, model = "dall-e-2" },
        "image (bytes) must be square for dall-e-2 (it is 64x32)")
      local big = png64 .. ("\0"):rep(4 * 1024 * 1024)
      rejects("edit", { prompt = "a", image = big, model = "dall-e-2" },
        ("image (bytes) must be under 4 MB for dall-e-2 (it is %d bytes)"):format(#big))
      passes("edit", { prompt = "a", image = png64 .. ("\0"):rep(4 * 1024 * 1024 - #png64 - 1), model = "dall-e-2" })
      rejects("variation", { model = "dall-e-2", image = images.webp{ width = 64, height = 64 } },
        "image (bytes) must be a PNG for a dall-e-2 variation (it is image/webp)")
      rejects("variation", { model = "dall-e-2", image = images.png{ width = 30, height = 40 } },
        "image (bytes) must be square for a dall-e-2 variation (it is 30x40)")
      rejects("variation", { model = "dall-e-2", image = big }, { "must be under 4 MB for a dall-e-2 variation" })
      rejects("variation", { model = "dall-e-2", image = { png64 } }, "option 'image' of a variation is one image, not a list")
    end)

    it("for GPT image models are PNG, JPEG or WebP under 50 MB each", function()
      local dir = util.tmpdir()
      local path = dir .. "/big.png"
      util.write(path, png64)
      assert.is_true(os.execute("truncate -s 50M '" .. path .. "'") ~= false)
      local ok, msg = pcall(offline.edit, offline, { prompt = "a", image = { png64, path } })
      util.rmtree(dir)
      assert.is_false(ok)
      assert.matches("image 2 '.*big.png' must be under 50 MB for gpt%-image%-2%.6%-flare %(it is 52428800 bytes%)", msg)
      passes("edit", { prompt = "a", image = { png64, images.jpeg{}, images.webp{} } })
    end)

    it("take a mask: a PNG with alpha, under 4 MB, the first image's size", function()
      rejects("edit", { prompt = "a", image = png64, mask = png64 },
        "the mask must have an alpha channel (transparent where to edit)")
      rejects("edit", { prompt = "a", image = png64, mask = images.webp{ width = 64, height = 64, alpha = true } },
        "the mask must be a PNG (it is image/webp)")
      rejects("edit", { prompt = "a", image = { png64, images.png{ width = 8, height = 8 } },
                        mask = images.png{ width = 8, height = 8 } },
        "the mask is 8x8 but image 1 (bytes) is 64x64: they must be the same size")
      rejects("edit", { prompt = "a", image = png64, mask = rgba64 .. ("\0"):rep(4 * 1024 * 1024) },
        { "the mask must be under 4 MB" })
      for _, mask in ipairs{
        rgba64,
        images.png{ width = 64, height = 64, colour = "graya" },
        images.png{ width = 64, height = 64, colour = "palette", trns = true },
        images.png{ width = 64, height = 64, colour = "gray", trns = true },
        images.png{ width = 64, height = 64, colour = "rgb", trns = true },
      } do
        passes("edit", { prompt = "a", image = png64, mask = mask })
        passes("edit", { prompt = "a", image = png64, mask = mask, model = "dall-e-2" })
      end
      passes("edit", { prompt = "a", image = { images.jpeg{ width = 64, height = 64 }, png64 }, mask = rgba64 })
    end)

    it("take markup: a PNG with alpha, under 50 MB, the first image's size; not with a mask", function()
      rejects("edit", { prompt = "a", image = png64, markup = png64 },
        "the markup must have an alpha channel (transparent where nothing is drawn)")
      rejects("edit", { prompt = "a", image = png64, markup = images.jpeg{ width = 64, height = 64 } },
        "the markup must be a PNG (it is image/jpeg)")
      rejects("edit", { prompt = "a", image = png64, markup = images.png{ width = 8, height = 8, colour = "rgba" } },
        "the markup is 8x8 but image (bytes) is 64x64: they must be the same size")
      rejects("edit", { prompt = "a", image = png64, markup = rgba64 .. ("\0"):rep(50 * 1024 * 1024) },
        { "the markup must be under 50 MB" })
      -- the mask's 4 MB limit is not the markup's
      passes("edit", { prompt = "a", image = png64, markup = rgba64 .. ("\0"):rep(4 * 1024 * 1024) })
      rejects("edit", { prompt = "a", image = png64, markup = rgba64, mask = rgba64 },
        "options 'markup' and 'mask' cannot be used together")
      rejects("edit", { prompt = "a", image = png64, markup = rgba64, model = "gpt-image-2" },
        "option 'markup' is not supported by gpt-image-2")
      -- a model the module does not know: the API tells
      passes("edit", { prompt = "a", image = png64, markup = png64, model = "gpt-image-9" })
    end)
  end)

  describe("gptimage.validate", function()
    it("checks without a client, a request or the network, for the model given or the default", function()
      assert.is_true(gptimage.validate("generate", { prompt = "a" }))
      assert.is_true(gptimage.validate("generate", { prompt = "a", size = "1792x1024" }, "dall-e-3"))
      assert.equals("option 'size' = '1792x1024' is not valid for gpt-image-1; use '1024x1024', '1536x1024', "
        .. "'1024x1536' or 'auto'", raised(gptimage.validate, "generate", { prompt = "a", size = "1792x1024" }, "gpt-image-1"))
      assert.equals("unknown operation 'paint' (use 'generate', 'edit' or 'variation')",
        raised(gptimage.validate, "paint", {}))
      assert.equals("option 'prompt' is required for generate", raised(gptimage.validate, "generate", {}))
      assert.is_true(gptimage.validate("generate", { op = "generate", prompt = "a", save = "x.png", on_done = print }))
      assert.is_true(gptimage.validate("generate", { prompt = "a", size = "7x7" }, "some-future-model"))
    end)
  end)

  describe("operations", function()
    it("raise for unknown names in start and batch", function()
      assert.equals("unknown operation 'paint' (use 'generate', 'edit' or 'variation')",
        raised(offline.start, offline, "paint", { prompt = "a" }))
      local msg = raised(offline.batch, offline, { { prompt = "a" }, { op = "draw", prompt = "b" } })
      assert.truthy(msg:find("unknown operation 'draw'", 1, true), msg)
    end)

    it("start raises as the blocking calls do, and leaves no job behind", function()
      raised(offline.start, offline, "generate", { prompt = "a", qualty = "low" })
      raised(offline.start, offline, "edit", { prompt = "a", image = png64, mask = png64 })
      raised(offline.start, offline, "variation", { image = png64, model = "dall-e-3" })
      assert.equals(0, offline:poll())
    end)
  end)
end)

describe("valid calls against the fake server", function()
  local srv, client, png64, rgba64

  fixture.each({ server = {}, client = { api_key = "sk-test", max_retries = 0 } },
    function(f) srv, client = f.srv, f.client end)

  setup(function()
    png64 = images.png{ width = 64, height = 64, colour = "rgb" }
    rgba64 = images.png{ width = 64, height = 64, colour = "rgba" }
  end)

  it("send only the fields given, plus the model", function()
    assert(client:generate{ prompt = "a" })
    assert.same({ prompt = "a", model = "gpt-image-2.6-flare" }, srv:last_request().json)
    assert(client:generate{ prompt = "b", n = 2, size = "1536x1024", quality = "low", background = "opaque",
                            output_format = "webp", output_compression = 60, moderation = "low", user = "u1" })
    assert.same({ prompt = "b", model = "gpt-image-2.6-flare", n = 2, size = "1536x1024", quality = "low",
                  background = "opaque", output_format = "webp", output_compression = 60, moderation = "low",
                  user = "u1" }, srv:last_request().json)
  end)

  it("use the client's model, for variations too: an edit with the variation prompt", function()
    local c = gptimage.new{ api_key = "sk-test", base_url = srv.base_url, model = "gpt-image-1.5" }
    assert(c:generate{ prompt = "a" })
    assert.equals("gpt-image-1.5", srv:last_request().json.model)
    assert(c:variation{ image = png64, n = 2, size = "1024x1536" })
    local r = srv:last_request()
    assert.equals("/v1/images/edits", r.path)
    assert.same({ model = "gpt-image-1.5", prompt = gptimage.variation_prompt, n = "2", size = "1024x1536" }, form(r))
    assert(c:variation{ image = png64, prompt = "the same cat, in winter" })
    assert.equals("the same cat, in winter", form(srv:last_request()).prompt)
    assert(c:variation{ image = png64, model = "dall-e-2" })
    assert.equals("/v1/images/variations", srv:last_request().path)
    assert.same({ model = "dall-e-2" }, form(srv:last_request()))
    assert(c:generate{ prompt = "a", model = "dall-e-3", style = "natural", quality = "hd", size = "1792x1024" })
    assert.same({ prompt = "a", model = "dall-e-3", style = "natural", quality = "hd", size = "1792x1024" },
      srv:last_request().json)
    c:close()
  end)

  it("merge extra into the JSON body", function()
    assert(client:generate{ prompt = "a", extra = { future_field = { depth = 2, list = { 1, 2 } }, seed = 7 } })
    assert.same({ prompt = "a", model = "gpt-image-2.6-flare", future_field = { depth = 2, list = { 1, 2 } }, seed = 7 },
      srv:last_request().json)
  end)

  it("send numbers and booleans as form text like the SDK", function()
    assert(client:edit{ image = png64, mask = rgba64, prompt = "p", n = 3, stream = true, partial_images = 0,
                        output_format = "jpeg", output_compression = 75, input_fidelity = "high",
                        extra = { ratio = 1.25, whole = 4.0, flag = false, big = 2 ^ 40, name = "x" } })
    local fields = form(srv:last_request())
    assert.same({ prompt = "p", model = "gpt-image-2.6-flare", n = "3", stream = "true", partial_images = "0",
                  output_format = "jpeg", output_compression = "75", input_fidelity = "high",
                  ratio = "1.25", whole = "4", flag = "false", big = "1099511627776", name = "x" }, fields)
  end)

  it("send a prompt with NUL bytes and every model's longest prompt faithfully", function()
    assert(client:generate{ prompt = "a\0b" })
    assert.equals("a\0b", srv:last_request().json.prompt)
    local long = ("\226\130\172"):rep(32000)
    assert(client:generate{ prompt = long, model = "gpt-image-1-mini" })
    assert.equals(long, srv:last_request().json.prompt)
    assert(client:edit{ image = png64, prompt = ("z"):rep(1000), model = "dall-e-2" })
    assert.equals(("z"):rep(1000), form(srv:last_request()).prompt)
  end)

  it("accept gpt-image-2 sizes of any shape", function()
    local res = assert(client:generate{ prompt = "a", model = "gpt-image-2", size = "512x1536" })
    assert.equals("512x1536", srv:last_request().json.size)
    assert.same({ 512, 1536 }, { util.png_size(res.images[1].bytes) })
  end)

  it("accept batch entries that carry their op", function()
    local results = client:batch{ { op = "generate", prompt = "a" }, { op = "variation", image = png64 } }
    assert.is_table(results[1].res)
    assert.is_table(results[2].res)
    assert.equals(2, #srv:requests())
  end)

  it("send nothing for a call that raises", function()
    pcall(client.generate, client, { prompt = "a", size = "999x999" })
    pcall(client.edit, client, { prompt = "a", image = png64, mask = png64 })
    pcall(client.variation, client, { model = "dall-e-2", image = images.png{ width = 4, height = 8 } })
    assert.same({}, srv:requests())
  end)
end)
