-- Today's Images API from one table: gptimage.models and gptimage.options,
-- the fields of November 2026 (complexity, gif frames, svg nested in JSON
-- and in multipart, markup, safety_identifier, xhigh/max) sent as the SDK
-- sends them and checked per model, the answers' new fields (svg_usage,
-- safety_identifier, output_tokens_details) with whole numbers as integers,
-- and a shut-down model still sent, its refusal naming the replacement.
local gptimage = require "gptimage"
local fake = require "helpers.server"
local images = require "helpers.images"
local util = require "helpers.util"
local fixture = require "helpers.fixture"
local expect = require "helpers.expect"

local LUA54 = _VERSION == "Lua 5.4"
local raised, form, part = expect.raised, fake.form, fake.part

describe("gptimage.models", function()
  it("lists every model with its state, dates, replacement and what it takes", function()
    local models = gptimage.models
    assert.equals("gpt-image-2.6-flare", models[1].name)
    local flare = models["gpt-image-2.6-flare"]
    assert.equals("active", flare.state)
    assert.is_true(flare.gif and flare.svg and flare.markup and flare.streaming and flare.transparent and flare.edit)
    assert.is_false(flare.variation)
    assert.same({ text_input = 5, image_input = 8, image_output = 30 }, flare.prices)
    assert.same({ "low", "medium", "high", "xhigh", "max", "auto" }, flare.values.quality)
    assert.same({ "png", "jpeg", "webp", "gif", "svg" }, flare.values.output_format)
    assert.same({ "low", "medium", "high" }, flare.values.complexity)
    assert.is_string(flare.any_size)
    local one = models["gpt-image-1"]
    assert.equals("shut down", one.state)
    assert.equals("2026-10-23", one.shutdown)
    assert.equals("gpt-image-2.6-flare or gpt-image-2.6-sunburst", one.replacement)
    assert.is_true(one.token_table)
    assert.same({ "low", "medium", "high", "auto" }, one.values.quality)
    assert.is_nil(models["gpt-image-2"].values.input_fidelity)
    assert.same({ "low" }, models["gpt-image-1-mini"].values.input_fidelity)
    assert.same({ "vivid", "natural" }, models["dall-e-3"].values.style)
    assert.equals(0.12, models["dall-e-3"].prices.per_image["hd/1792x1024"])
    local seen = {}
    for i, m in ipairs(models) do
      assert.equals(m, models[m.name])
      seen[#seen + 1] = m.name
      assert.truthy(({ active = true, deprecated = true, ["shut down"] = true })[m.state], m.name)
      assert.equals(i, #seen)
    end
    assert.truthy(#seen >= 15)
  end)

  it("is read-only: a changed copy changes nothing the module knows", function()
    local models = gptimage.models
    models["gpt-image-2.6-flare"].values.quality = { "ultra" }
    models[1] = nil
    assert.equals("gpt-image-2.6-flare", gptimage.models[1].name)
    assert.same({ "low", "medium", "high", "xhigh", "max", "auto" }, gptimage.models[1].values.quality)
    assert.has_error(function() gptimage.validate("generate", { prompt = "a", quality = "ultra" }) end)
  end)
end)

describe("gptimage.options", function()
  it("lists the API's fields in send order with type, values, endpoints and models", function()
    local options = gptimage.options
    local names = {}
    for _, o in ipairs(options) do names[#names + 1] = o.name end
    for _, name in ipairs{ "image", "mask", "markup", "prompt", "model", "n", "size", "quality", "background",
                           "output_format", "output_compression", "moderation", "style", "response_format", "user",
                           "safety_identifier", "input_fidelity", "partial_images", "stream", "complexity",
                           "frame_count", "frame_duration_ms", "svg" } do
      assert.is_table(options[name], name)
      assert.is_string(options[name].help, name)
    end
    local c = options.complexity
    assert.equals("string", c.type)
    assert.same({ "low", "medium", "high" }, c.values)
    assert.same({ "generate", "edit" }, c.endpoints)
    assert.same({ 2, 16 }, { options.frame_count.min, options.frame_count.max })
    assert.same({ "edit" }, options.markup.endpoints)
    local takes_markup = {}
    for _, m in ipairs(options.markup.models) do takes_markup[m] = true end
    assert.is_true(takes_markup["gpt-image-2.6-sunburst"] and takes_markup["gpt-image-2.5-flare"])
    assert.is_nil(takes_markup["gpt-image-2"])
    assert.equals("table", options.svg.type)
    assert.equals("image", options.mask.type)
  end)
end)

describe("today's fields", function()
  local srv, client, png64, rgba64, dir

  fixture.each({ server = {}, client = { api_key = "sk-test", max_retries = 0 }, dir = true },
    function(f) srv, client, dir = f.srv, f.client, f.dir end)

  setup(function()
    png64 = images.png{ width = 64, height = 64, colour = "rgb" }
    rgba64 = images.png{ width = 64, height = 64, colour = "rgba" }
  end)

  it("sends complexity, safety_identifier and xhigh as JSON and reads back the new answer fields", function()
    local res = assert(client:generate{ prompt = "a tower", complexity = "high", safety_identifier = "user-7f3a",
                                        quality = "xhigh", size = "1536x864" })
    assert.same({ prompt = "a tower", model = "gpt-image-2.6-flare", complexity = "high",
                  safety_identifier = "user-7f3a", quality = "xhigh", size = "1536x864" }, srv:last_request().json)
    assert.equals("user-7f3a", res.safety_identifier)
    assert.is_table(res.usage.output_tokens_details)
    if LUA54 then
      assert.equals("integer", math.type(res.created))
      assert.equals("integer", math.type(res.usage.output_tokens))
      assert.equals("integer", math.type(res.usage.input_tokens_details.text_tokens))
      assert.equals("integer", math.type(res.usage.output_tokens_details.image_tokens))
    end
    assert.equals(res.usage.output_tokens, math.floor(res.usage.output_tokens))
    assert.is_number(res.cost)
  end)

  it("makes an animated gif with frames, saved under {ext} = gif", function()
    local res = assert(client:generate{ prompt = "a coin spinning", output_format = "gif", frame_count = 4,
                                        frame_duration_ms = 80, size = "256x256", save = dir .. "/coin.{ext}" })
    assert.same({ prompt = "a coin spinning", model = "gpt-image-2.6-flare", output_format = "gif",
                  frame_count = 4, frame_duration_ms = 80, size = "256x256" }, srv:last_request().json)
    assert.equals(dir .. "/coin.gif", res.images[1].path)
    assert.equals("GIF89a", util.read(res.images[1].path):sub(1, 6))
    assert.equals("gif", res.output_format)
  end)

  it("makes an svg: the nested svg table in JSON, the document saved as sent, svg_usage", function()
    local res = assert(client:generate{ prompt = "a shield icon", output_format = "svg",
                                        svg = { model = "gpt-5.5-mini", reasoning = { effort = "low" } },
                                        save = dir .. "/shield.{ext}" })
    assert.same({ model = "gpt-5.5-mini", reasoning = { effort = "low" } }, srv:last_request().json.svg)
    local doc = util.read(dir .. "/shield.svg")
    assert.truthy(doc:find("<svg", 1, true))
    assert.equals("gpt-5.5-mini", res.svg_usage.model)
    if LUA54 then assert.equals("integer", math.type(res.svg_usage.total_tokens)) end
    local bytes = assert(client:generate{ prompt = "a shield icon", output_format = "svg" })
    assert.truthy(bytes.images[1].bytes:find("<svg", 1, true))
  end)

  it("sends svg in an edit as the multipart fields svg[model] and svg[reasoning][effort]", function()
    assert(client:edit{ image = png64, prompt = "as a vector icon", output_format = "svg",
                        svg = { model = "gpt-5.5-mini", reasoning = { effort = "minimal" } } })
    local fields = form(srv:last_request())
    assert.equals("gpt-5.5-mini", fields["svg[model]"])
    assert.equals("minimal", fields["svg[reasoning][effort]"])
    assert.is_nil(fields.svg)
  end)

  it("sends markup as an image part beside several images, never with a mask", function()
    assert(client:edit{ image = { png64, images.jpeg{ width = 32, height = 32 } }, markup = rgba64,
                        prompt = "add a hat where drawn", model = "gpt-image-2.6-sunburst" })
    local r = srv:last_request()
    local m = part(r, "markup")
    assert.equals("image/png", m.content_type)
    assert.equals(#rgba64, m.size)
    assert.equals(2, #(function() local t = {} for _, p in ipairs(r.parts) do
      if p.name == "image[]" then t[#t + 1] = p end end return t end)())
    assert.equals("options 'markup' and 'mask' cannot be used together",
      raised(client.edit, client, { image = png64, markup = rgba64, mask = rgba64, prompt = "x" }))
    assert.equals("option 'markup' is not supported by gpt-image-2",
      raised(client.edit, client, { image = png64, markup = rgba64, prompt = "x", model = "gpt-image-2" }))
    assert.equals("the markup must have an alpha channel (transparent where nothing is drawn)",
      raised(client.edit, client, { image = png64, markup = png64, prompt = "x" }))
    assert.equals("option 'markup' is only for edit, not generate",
      raised(client.generate, client, { markup = rgba64, prompt = "x" }))
  end)

  it("refuses what gif and svg output rule out, before any request", function()
    local function refuses(opts, message)
      assert.equals(message, raised(gptimage.validate, "generate", opts))
      assert.equals(message, raised(client.generate, client, opts))
    end
    refuses({ prompt = "a", output_format = "gif", stream = true },
      "option 'stream' is not available with output_format 'gif'")
    refuses({ prompt = "a", output_format = "svg", partial_images = 1 },
      "option 'partial_images' is not available with output_format 'svg'")
    refuses({ prompt = "a", output_format = "gif", output_compression = 80 },
      "option 'output_compression' is not available with output_format 'gif'")
    refuses({ prompt = "a", output_format = "svg", n = 2 },
      "option 'n' = 2 is not valid with output_format 'svg'; it makes one image (n = 1)")
    refuses({ prompt = "a", frame_count = 4 }, "option 'frame_count' needs output_format 'gif'")
    refuses({ prompt = "a", frame_duration_ms = 80 }, "option 'frame_duration_ms' needs output_format 'gif'")
    refuses({ prompt = "a", output_format = "gif", frame_count = 17 },
      "option 'frame_count' = 17 is not valid for gpt-image-2.6-flare; use 2 to 16")
    refuses({ prompt = "a", output_format = "gif", frame_duration_ms = -5 },
      "option 'frame_duration_ms' = -5 is not valid for gpt-image-2.6-flare; use 0 or more")
    refuses({ prompt = "a", svg = { model = "m" } }, "option 'svg' needs output_format 'svg'")
    refuses({ prompt = "a", output_format = "svg", svg = { modle = "m" } },
      "option 'svg' takes 'model' and 'reasoning', not 'modle'")
    refuses({ prompt = "a", output_format = "svg", svg = { model = 5 } },
      "option 'svg' field 'model' must be a string, got number")
    refuses({ prompt = "a", output_format = "svg", svg = { reasoning = "low" } },
      "option 'svg' field 'reasoning' must be a table, got string")
    refuses({ prompt = "a", output_format = "svg", svg = { reasoning = { level = "low" } } },
      "option 'svg' field 'reasoning' takes only 'effort'")
    refuses({ prompt = "a", output_format = "svg", svg = { reasoning = { effort = 3 } } },
      "option 'svg' field 'reasoning.effort' must be a string, got number")
    -- its shape is checked for every model, known or not
    assert.equals("option 'svg' field 'model' must be a string, got boolean",
      raised(gptimage.validate, "generate", { prompt = "a", model = "gpt-image-9", svg = { model = true } }))
    refuses({ prompt = "a", output_format = "svg", svg = { reasoning = { effort = "huge" } } },
      "option 'svg' field 'reasoning.effort' = 'huge' is not valid; use 'none', 'minimal', 'low', 'medium', "
        .. "'high', 'xhigh' or 'max'")
    refuses({ prompt = "a", complexity = "extreme" },
      "option 'complexity' = 'extreme' is not valid for gpt-image-2.6-flare; use 'low', 'medium' or 'high'")
    refuses({ prompt = "a", model = "gpt-image-2", output_format = "svg" },
      "option 'output_format' = 'svg' is not valid for gpt-image-2; use 'png', 'jpeg' or 'webp'")
    refuses({ prompt = "a", model = "dall-e-3", complexity = "low" },
      "option 'complexity' = 'low' is only for GPT image models, not dall-e-3")
    assert.equals("option 'mask' is not available with output_format 'gif'",
      raised(client.edit, client, { image = png64, mask = rgba64, prompt = "x", output_format = "gif" }))
    -- a model the module does not know gets type checks only
    assert.is_true(gptimage.validate("generate", { prompt = "a", model = "gpt-image-9", output_format = "gif",
                                                   stream = true, frame_count = 99, complexity = "extreme" }))
    assert.same({}, srv:requests())
  end)

  it("still sends a shut-down model, and names its replacement when the API refuses it", function()
    srv:config{ shut_down = true }
    local res, err = client:generate{ prompt = "a", model = "gpt-image-1" }
    assert.is_nil(res)
    assert.equals("api", err.kind)
    assert.equals("gpt-image-1", srv:last_request().json.model)
    assert.matches("gpt%-image%-1 was shut down on 2026%-10%-23; use gpt%-image%-2%.6%-flare or "
      .. "gpt%-image%-2%.6%-sunburst", err.message)
    res, err = client:variation{ image = png64, model = "dall-e-2" }
    assert.is_nil(res)
    assert.matches("dall%-e%-2 was shut down on 2026%-05%-12; use gpt%-image%-2%.6%-flare", err.message)
    assert.is_table(assert(client:generate{ prompt = "a" }))
  end)
end)
