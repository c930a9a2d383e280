-- generate end to end against the fake server: the request on the wire, the
-- result as bytes and as files, save templates, atomic writes, cost.
local gptimage = require "gptimage"
local util = require "helpers.util"
local fixture = require "helpers.fixture"

describe("generate", function()
  local srv, client, dir

  fixture.each({ server = {}, client = { api_key = "sk-test-key-0123456789", max_retries = 0 }, dir = true },
    function(f) srv, client, dir = f.srv, f.client, f.dir end)

  it("returns image bytes and the metadata of the response", function()
    local res, err = client:generate{ prompt = "a pixel-art sword", size = "1024x1024", quality = "low" }
    assert.is_nil(err)
    assert.equals(1, #res.images)
    assert.is_true(util.is_png(res.images[1].bytes))
    assert.is_nil(res.images[1].path)
    assert.is_number(res.created)
    assert.is_table(res.usage)
    assert.equals("1024x1024", res.size)
    assert.equals("low", res.quality)
    assert.matches("^req_", res.request_id)
    assert.equals("gpt-image-2.6-flare", res.model)
    assert.is_number(res.cost)
  end)

  it("sends the request the API expects", function()
    assert(client:generate{ prompt = "a shield", n = 2, size = "1536x1024", quality = "high",
                            background = "opaque", output_format = "webp", output_compression = 80,
                            moderation = "low", user = "u-1" })
    local r = srv:last_request()
    assert.equals("POST", r.method)
    assert.equals("/v1/images/generations", r.path)
    assert.equals("Bearer sk-test-key-0123456789", r.headers["authorization"])
    assert.matches("^application/json", r.headers["content-type"])
    assert.same({ prompt = "a shield", n = 2, size = "1536x1024", quality = "high", model = "gpt-image-2.6-flare",
                  background = "opaque", output_format = "webp", output_compression = 80,
                  moderation = "low", user = "u-1" }, r.json)
  end)

  it("merges extra into the body", function()
    assert(client:generate{ prompt = "x", extra = { future_field = "yes", seed = 7 } })
    local r = srv:last_request()
    assert.equals("yes", r.json.future_field)
    assert.equals(7, r.json.seed)
  end)

  it("saves n images with -1, -2 before the extension", function()
    local res = assert(client:generate{ prompt = "sword", n = 3, save = dir .. "/sub/dir/sword.png" })
    assert.equals(3, #res.images)
    for i = 1, 3 do
      local path = dir .. "/sub/dir/sword-" .. i .. ".png"
      assert.equals(path, res.images[i].path)
      assert.is_nil(res.images[i].bytes)
      assert.is_true(util.is_png(util.read(path)))
    end
    assert.same({ "sword-1.png", "sword-2.png", "sword-3.png" }, util.listdir(dir .. "/sub/dir"))
  end)

  it("expands {i} and {ext} in the save path", function()
    local res = assert(client:generate{ prompt = "gem", n = 2, output_format = "jpeg",
                                        save = dir .. "/gem_{i}.{ext}" })
    assert.equals(dir .. "/gem_1.jpg", res.images[1].path)
    assert.equals(dir .. "/gem_2.jpg", res.images[2].path)
    assert.equals("\255\216\255", util.read(res.images[1].path):sub(1, 3))
  end)

  it("saves one image under the exact name", function()
    local res = assert(client:generate{ prompt = "gem", save = dir .. "/gem.png" })
    assert.equals(dir .. "/gem.png", res.images[1].path)
    assert.same({ "gem.png" }, util.listdir(dir))
  end)

  it("handles escaped slashes in the base64", function()
    srv:fault{ action = "escape_slashes" }
    local res = assert(client:generate{ prompt = "a" })
    local plain = assert(client:generate{ prompt = "a" })
    assert.is_true(util.is_png(res.images[1].bytes))
    assert.equals(#plain.images[1].bytes, #res.images[1].bytes)
  end)

  it("computes cost from usage with each model's token prices", function()
    for model, p in pairs{ ["gpt-image-2.6-flare"] = { 5, 8, 30 }, ["gpt-image-1"] = { 5, 10, 40 } } do
      local res = assert(client:generate{ prompt = "a", quality = "low", model = model })
      local u = res.usage
      local text = u.input_tokens_details and u.input_tokens_details.text_tokens or u.input_tokens
      local image = u.input_tokens_details and u.input_tokens_details.image_tokens or 0
      local expected = (text * p[1] + image * p[2] + u.output_tokens * p[3]) / 1e6
      assert.near(expected, res.cost, 1e-12)
    end
  end)

  it("lets a client prices table override the built-in prices", function()
    local c = gptimage.new{ api_key = "sk-test", base_url = srv.base_url,
                            prices = { ["gpt-image-2.6-flare"] = { text_input = 0, image_input = 0, image_output = 1e6 } } }
    local res = assert(c:generate{ prompt = "a" })
    assert.equals(res.usage.output_tokens, res.cost)
    c:close()
  end)

  it("prices dall-e per image and returns revised prompts", function()
    local res = assert(client:generate{ model = "dall-e-3", prompt = "castle", size = "1792x1024", quality = "hd" })
    assert.near(0.12, res.cost, 1e-9)
    assert.is_string(res.images[1].revised_prompt)
  end)

  it("downloads url images when saving", function()
    local res = assert(client:generate{ model = "dall-e-2", prompt = "cat", n = 2, size = "256x256",
                                        response_format = "url", save = dir .. "/cat.png" })
    for i = 1, 2 do
      assert.matches("^http://127%.0%.0%.1:%d+/", res.images[i].url)
      assert.is_true(util.is_png(util.read(res.images[i].path)))
    end
    -- the image host never sees the key
    for _, r in ipairs(srv:requests()) do
      if r.method == "GET" then assert.is_nil(r.headers["authorization"]) end
    end
  end)

  it("returns urls without downloading when not saving", function()
    local res = assert(client:generate{ model = "dall-e-2", prompt = "cat", response_format = "url" })
    assert.is_string(res.images[1].url)
    assert.is_nil(res.images[1].bytes)
    assert.equals(1, #srv:requests())
  end)

  it("uses the module-level functions with the environment", function()
    assert.is_function(gptimage.generate)
    assert.is_function(gptimage.edit)
    assert.is_function(gptimage.variation)
    assert.is_string(gptimage.version)
  end)

  it("sends organization, project and extra headers", function()
    local c = gptimage.new{ api_key = "sk-test", base_url = srv.base_url, organization = "org-1",
                            project = "proj-1", headers = { ["X-Custom"] = "yes" } }
    assert(c:generate{ prompt = "a" })
    local h = srv:last_request().headers
    assert.equals("org-1", h["openai-organization"])
    assert.equals("proj-1", h["openai-project"])
    assert.equals("yes", h["x-custom"])
    c:close()
  end)

  it("talks to Azure OpenAI deployments with the api-key header", function()
    local root = srv.base_url:gsub("/v1$", "")
    local c = gptimage.new{ api_key = "azure-key-0123456789",
                            azure = { endpoint = root, deployment = "img", api_version = "2025-04-01-preview" } }
    local res = assert(c:generate{ prompt = "a" })
    assert.is_true(util.is_png(res.images[1].bytes))
    local r = srv:last_request()
    assert.equals("/openai/deployments/img/images/generations", r.path)
    assert.equals("2025-04-01-preview", r.query["api-version"])
    assert.equals("azure-key-0123456789", r.headers["api-key"])
    assert.is_nil(r.headers["authorization"])
    c:close()
  end)
end)
