-- Hostile input from the caller: odd prompts, options of every wrong type,
-- image files that are not what they claim. Each gets a faithful request or
-- a clear error raised before any network, never a crash.
local gptimage = require "gptimage"
local util = require "helpers.util"
local fixture = require "helpers.fixture"
local expect = require "helpers.expect"

local shell_quote, run = util.shell_quote, util.run
local raises = expect.raises

-- One sample value of every Lua type.
local SAMPLES = {
  boolean = { true, false },
  number = { 1.5, -1, 0 / 0, math.huge },
  string = { "x", "" },
  table = { {}, { 1, 2 } },
  ["function"] = { function() end },
  userdata = { io.stdout },
  thread = { coroutine.create(function() end) },
}
local TYPE_NAMES = { "boolean", "number", "string", "table", "function", "userdata", "thread" }

-- For every option of an image call: the types it accepts and the options
-- that make a call valid around it (the model that has the option).
local OPTIONS = {
  prompt = { types = { string = true } },
  n = { types = { number = true } },
  size = { types = { string = true } },
  quality = { types = { string = true } },
  background = { types = { string = true } },
  output_format = { types = { string = true } },
  output_compression = { types = { number = true }, base = { output_format = "jpeg" } },
  moderation = { types = { string = true } },
  style = { types = { string = true }, base = { model = "dall-e-3" } },
  response_format = { types = { string = true }, base = { model = "dall-e-2" } },
  user = { types = { string = true } },
  partial_images = { types = { number = true }, base = { stream = true } },
  model = { types = { string = true } },
  save = { types = { string = true } },
  on_partial = { types = { ["function"] = true }, base = { stream = true } },
  on_done = { types = { ["function"] = true } },
  timeout = { types = { number = true } },
  max_retries = { types = { number = true } },
  extra = { types = { table = true } },
  stream = { types = { boolean = true } },
}
local EDIT_OPTIONS = {
  image = { types = { string = true, table = true, userdata = true } },
  mask = { types = { string = true, table = true, userdata = true } },
  input_fidelity = { types = { string = true } },
}

local CLIENT_OPTIONS = {
  api_key = { string = true }, base_url = { string = true }, organization = { string = true },
  project = { string = true }, model = { string = true }, timeout = { number = true },
  connect_timeout = { number = true }, max_retries = { number = true }, proxy = { string = true },
  ca_file = { string = true }, headers = { table = true }, azure = { table = true },
  prices = { table = true }, max_response_bytes = { number = true }, user_agent = { string = true },
}

describe("hostile input", function()
  local srv, client, dir, png, jpeg, tall_png

  fixture.each({ server = {}, client = { api_key = "sk-test", max_retries = 0 }, dir = true },
    function(f) srv, client, dir = f.srv, f.client, f.dir end)

  setup(function()
    local c = gptimage.new{ api_key = "sk-test", base_url = srv.base_url }
    png = assert(c:generate{ prompt = "fixture" }).images[1].bytes
    tall_png = assert(c:generate{ prompt = "fixture", size = "1024x1536" }).images[1].bytes
    jpeg = assert(c:generate{ prompt = "fixture", output_format = "jpeg" }).images[1].bytes
    c:close()
  end)

  describe("prompts", function()
    it("with NUL bytes are sent faithfully as JSON", function()
      local prompt = "a\0b\0\0c\0"
      assert(client:generate{ prompt = prompt })
      assert.equals(prompt, srv:last_request().json.prompt)
    end)

    it("with NUL bytes are sent faithfully in a multipart edit", function()
      local prompt = "edit\0me\0"
      assert(client:edit{ image = png, prompt = prompt })
      local value
      for _, part in ipairs(srv:last_request().parts) do
        if part.name == "prompt" then value = part.value end
      end
      assert.equals(prompt, value)
    end)

    it("with every control character and quotes are sent faithfully", function()
      local chars = {}
      for b = 1, 31 do chars[#chars + 1] = string.char(b) end
      local prompt = table.concat(chars) .. "\"\\/\127 {\"}} </script> \226\128\168 \240\159\146\150"
      assert(client:generate{ prompt = prompt })
      assert.equals(prompt, srv:last_request().json.prompt)
    end)

    local INVALID_UTF8 = {
      { "a lone continuation byte", "abc\128def" },
      { "a 0xFF byte", "\255" },
      { "a sequence cut short", "caf\195" },
      { "an overlong encoding", "\192\175" },
      { "a UTF-16 surrogate", "\237\160\128" },
      { "a code point above U+10FFFF", "\244\144\128\128" },
    }
    for _, case in ipairs(INVALID_UTF8) do
      it("with invalid UTF-8 (" .. case[1] .. ") raise before any request", function()
        local msg = raises(client.generate, client, { prompt = case[2] })
        assert.matches("UTF%-8", msg)
        raises(client.edit, client, { image = png, prompt = case[2] })
        assert.same({}, srv:requests())
      end)
    end

    it("of 32000 characters are sent whole", function()
      local prompt = ("abcd"):rep(8000)
      assert(client:generate{ prompt = prompt })
      assert.equals(prompt, srv:last_request().json.prompt)
    end)

    it("of 32001 characters raise before any request", function()
      local msg = raises(client.generate, client, { prompt = ("a"):rep(32001) })
      assert.matches("prompt", msg)
      assert.same({}, srv:requests())
    end)

    it("are measured in characters, not bytes", function()
      local prompt = ("\195\169"):rep(32000) -- 32000 times "é", 64000 bytes
      assert(client:generate{ prompt = prompt })
      assert.equals(prompt, srv:last_request().json.prompt)
      raises(client.generate, client, { prompt = prompt .. "\195\169" })
    end)

    it("longer than dall-e-2 and dall-e-3 take raise", function()
      assert(client:generate{ model = "dall-e-2", prompt = ("a"):rep(1000) })
      raises(client.generate, client, { model = "dall-e-2", prompt = ("a"):rep(1001) })
      assert(client:generate{ model = "dall-e-3", prompt = ("a"):rep(4000) })
      raises(client.generate, client, { model = "dall-e-3", prompt = ("a"):rep(4001) })
      assert.equals(2, #srv:requests())
    end)
  end)

  describe("options of every wrong type", function()
    local function check_all(op, options, base)
      local count = 0
      for name, spec in pairs(options) do
        for _, tname in ipairs(TYPE_NAMES) do
          if not spec.types[tname] then
            for _, value in ipairs(SAMPLES[tname]) do
              local opts = {}
              for k, v in pairs(base) do opts[k] = v end
              for k, v in pairs(spec.base or {}) do opts[k] = v end
              opts[name] = value
              local ok, msg = pcall(client[op], client, opts)
              assert.is_false(ok, op .. " accepted " .. name .. " = " .. tostring(value))
              assert.is_string(msg)
              assert.matches(name, msg, 1, true)
              count = count + 1
            end
          end
        end
      end
      return count
    end

    it("raise for generate, naming the option, before any request", function()
      assert.is_true(check_all("generate", OPTIONS, { prompt = "a" }) > 100)
      assert.same({}, srv:requests())
    end)

    it("raise for edit, naming the option, before any request", function()
      local options = {}
      for k, v in pairs(OPTIONS) do options[k] = v end
      for k, v in pairs(EDIT_OPTIONS) do options[k] = v end
      options.style, options.response_format = nil, nil
      check_all("edit", options, { prompt = "a", image = png })
      assert.same({}, srv:requests())
    end)

    it("raise for start as for the blocking calls", function()
      for name, spec in pairs(OPTIONS) do
        for _, tname in ipairs(TYPE_NAMES) do
          if not spec.types[tname] then
            local opts = { prompt = "a" }
            for k, v in pairs(spec.base or {}) do opts[k] = v end
            opts[name] = SAMPLES[tname][1]
            raises(client.start, client, "generate", opts)
          end
        end
      end
      assert.same({}, srv:requests())
      assert.equals(0, client:poll())
    end)

    it("raise for the client, naming the option", function()
      for name, types in pairs(CLIENT_OPTIONS) do
        for _, tname in ipairs(TYPE_NAMES) do
          if not types[tname] then
            for _, value in ipairs(SAMPLES[tname]) do
              local opts = { api_key = "sk-test" }
              opts[name] = value
              local msg = raises(gptimage.new, opts)
              assert.matches(name, msg, 1, true)
            end
          end
        end
      end
    end)

    it("raise for out-of-range numbers", function()
      for _, value in ipairs{ 0, -1, 11, 1.5, 0 / 0, math.huge, -math.huge, 2 ^ 53, 2 ^ 63 } do
        raises(client.generate, client, { prompt = "a", n = value })
      end
      for _, value in ipairs{ -1, 101, 50.5, 0 / 0, math.huge } do
        raises(client.generate, client, { prompt = "a", output_format = "jpeg", output_compression = value })
      end
      for _, value in ipairs{ -1, 4, 1.5, 0 / 0 } do
        raises(client.generate, client, { prompt = "a", stream = true, partial_images = value })
      end
      for _, value in ipairs{ 0, -1, 0 / 0, -math.huge } do
        raises(client.generate, client, { prompt = "a", timeout = value })
      end
      for _, value in ipairs{ -1, 1.5, 0 / 0, math.huge } do
        raises(client.generate, client, { prompt = "a", max_retries = value })
      end
      assert.same({}, srv:requests())
    end)

    it("raise for option names that are not strings, and unknown names with a hint", function()
      raises(client.generate, client, { prompt = "a", [1] = "x" })
      raises(client.generate, client, { prompt = "a", [true] = "x" })
      raises(client.generate, client, { prompt = "a", [{}] = "x" })
      local msg = raises(client.generate, client, { prompt = "a", qualty = "low" })
      assert.matches("quality", msg, 1, true)
      assert.same({}, srv:requests())
    end)

    it("raise for extra values that cannot be JSON", function()
      local loop = {}
      loop.self = loop
      raises(client.generate, client, { prompt = "a", extra = { f = function() end } })
      raises(client.generate, client, { prompt = "a", extra = loop })
      raises(client.generate, client, { prompt = "a", extra = { x = io.stdout } })
      raises(client.generate, client, { prompt = "a", extra = { [io.stdout] = 1 } })
      local deep = {}
      local node = deep
      for _ = 1, 5000 do
        node.next = {}
        node = node.next
      end
      raises(client.generate, client, { prompt = "a", extra = deep })
      assert.same({}, srv:requests())
    end)

    it("raise for wrong arguments to the methods themselves", function()
      raises(client.generate, client)
      raises(client.generate, client, "a prompt")
      raises(client.generate, client, nil)
      raises(client.generate, nil, { prompt = "a" })
      raises(client.generate, {}, { prompt = "a" })
      raises(client.generate, io.stdout, { prompt = "a" })
      raises(client.start, client, 42, { prompt = "a" })
      raises(client.start, client, "paint", { prompt = "a" })
      raises(client.start, client, "generate")
      raises(client.batch, client, "list")
      raises(client.batch, client, { 1, 2 })
      raises(client.batch, client, { { prompt = "a" } }, { concurrency = 0 })
      raises(client.batch, client, { { prompt = "a" } }, { concurrency = "4" })
      raises(client.poll, {})
      raises(gptimage.new, "sk-test")
      local job = client:start("generate", { prompt = "a" })
      raises(job.wait, job, "soon")
      raises(job.wait, client)
      raises(job.result, {})
      raises(job.cancel, io.stdout)
      assert(job:wait())
      assert.equals(1, #srv:requests())
    end)

    it("b64decode returns nil, err for garbage and never crashes", function()
      for _, text in ipairs{ "====", "a", "ab=c", "\0\0\0\0", "####", ("A"):rep(4097) .. "=", "QQ==QQ==" } do
        local bytes, err = gptimage.b64decode(text)
        assert.is_nil(bytes, text)
        assert.is_not_nil(err)
      end
      assert.equals("", gptimage.b64decode(""))
      assert.equals("A", gptimage.b64decode("QQ=="))
      raises(gptimage.b64decode, nil)
      raises(gptimage.b64decode, {})
    end)
  end)

  describe("image files", function()
    -- The error must name the file, and nothing may have been sent.
    local function rejects(image, name, opts)
      local call = { image = image, prompt = "edit" }
      for k, v in pairs(opts or {}) do call[k] = v end
      local msg = raises(client.edit, client, call)
      if name then assert.matches(name, msg, 1, true) end
      assert.same({}, srv:requests())
      return msg
    end

    it("that do not exist", function()
      rejects(dir .. "/missing.png", "missing.png")
    end)

    it("that are empty", function()
      util.write(dir .. "/empty.png", "")
      rejects(dir .. "/empty.png", "empty.png")
    end)

    it("that are not images", function()
      util.write(dir .. "/text.png", "just some text, not a picture\n")
      rejects(dir .. "/text.png", "text.png")
      util.write(dir .. "/gif.png", "GIF89a\1\0\1\0\0\0\0;")
      rejects(dir .. "/gif.png", "gif.png")
    end)

    for _, cut in ipairs{ 4, 8, 16, 20, 24 } do
      it("that are truncated inside the PNG header (" .. cut .. " bytes)", function()
        util.write(dir .. "/cut.png", png:sub(1, cut))
        rejects(dir .. "/cut.png", "cut.png")
      end)
    end

    it("that are a folder", function()
      run("mkdir -p " .. shell_quote(dir .. "/folder.png"))
      rejects(dir .. "/folder.png", "folder.png")
    end)

    it("that are huge (a sparse 60 MB file)", function()
      util.write(dir .. "/huge.png", png:sub(1, 33))
      local _, code = run("truncate -s 60M " .. shell_quote(dir .. "/huge.png"))
      assert.equals(0, code)
      rejects(dir .. "/huge.png", "huge.png")
    end)

    it("that are huge for dall-e-2 variations (a sparse 5 MB file)", function()
      util.write(dir .. "/big.png", png:sub(1, 33))
      run("truncate -s 5M " .. shell_quote(dir .. "/big.png"))
      local msg = raises(client.variation, client, { image = dir .. "/big.png", model = "dall-e-2" })
      assert.matches("big.png", msg, 1, true)
      assert.same({}, srv:requests())
    end)

    it("that are huge as the second of several images", function()
      util.write(dir .. "/ok.png", png)
      util.write(dir .. "/huge.png", png:sub(1, 33))
      run("truncate -s 60M " .. shell_quote(dir .. "/huge.png"))
      rejects({ dir .. "/ok.png", dir .. "/huge.png" }, "huge.png")
    end)

    it("given as bytes that are empty, truncated or not an image", function()
      raises(client.edit, client, { image = "", prompt = "edit" })
      raises(client.edit, client, { image = png:sub(1, 8), prompt = "edit" })
      raises(client.edit, client, { image = { data = "", filename = "a.png" }, prompt = "edit" })
      raises(client.edit, client, { image = { data = png:sub(1, 16), filename = "a.png" }, prompt = "edit" })
      raises(client.edit, client, { image = { data = "not an image at all" }, prompt = "edit" })
      raises(client.edit, client, { image = { data = 42 }, prompt = "edit" })
      raises(client.edit, client, { image = { filename = "a.png" }, prompt = "edit" })
      assert.same({}, srv:requests())
    end)

    it("given as an io file that is closed or empty", function()
      local f = assert(io.open(dir .. "/closed.png", "wb"))
      f:write(png)
      f:close()
      raises(client.edit, client, { image = f, prompt = "edit" })
      util.write(dir .. "/empty.png", "")
      local e = assert(io.open(dir .. "/empty.png", "rb"))
      raises(client.edit, client, { image = e, prompt = "edit" })
      e:close()
      assert.same({}, srv:requests())
    end)

    it("with a mask that is not a PNG or not the image's size", function()
      util.write(dir .. "/img.png", png)
      util.write(dir .. "/mask.jpg", jpeg)
      util.write(dir .. "/tall.png", tall_png)
      rejects(dir .. "/img.png", "mask", { mask = dir .. "/mask.jpg" })
      rejects(dir .. "/img.png", "mask", { mask = dir .. "/tall.png" })
      util.write(dir .. "/cutmask.png", png:sub(1, 20))
      rejects(dir .. "/img.png", "cutmask.png", { mask = dir .. "/cutmask.png" })
    end)

    it("more than a model takes", function()
      local list = {}
      for i = 1, 17 do list[i] = png end
      rejects(list)
      rejects({ png, png }, nil, { model = "dall-e-2" })
      rejects({}, nil)
    end)

    it("a valid image after all the bad ones still goes through", function()
      util.write(dir .. "/good.png", png)
      local res = assert(client:edit{ image = dir .. "/good.png", prompt = "edit" })
      assert.is_true(util.is_png(res.images[1].bytes))
      assert.equals(1, #srv:requests())
    end)
  end)
end)
