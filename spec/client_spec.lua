-- The client: options, environment fallbacks, what it prints, and that the
-- API key stays out of everything it shows.
local gptimage = require "gptimage"
local fixture = require "helpers.fixture"

local KEY = "sk-secret-key-do-not-leak-0123456789"

-- Runs a Lua snippet in a child interpreter with extra environment.
local function run_lua(env, code)
  local lua = os.getenv("GPTIMAGE_LUA") or "lua5.4"
  local name = os.tmpname()
  local f = assert(io.open(name, "w"))
  f:write(code)
  f:close()
  local cmd = env .. " " .. lua .. " " .. name .. " 2>&1"
  local p = io.popen(cmd)
  local out = p:read("*a")
  local ok = p:close()
  os.remove(name)
  return out, ok
end

describe("client", function()
  local srv
  fixture.each({ server = {} }, function(f) srv = f.srv end)

  it("raises for unknown options with a hint", function()
    assert.has_error(function() gptimage.new{ api_key = "k", timout = 3 } end,
      "gptimage.new: unknown option 'timout' (did you mean 'timeout'?)")
  end)

  it("raises for wrong option types", function()
    assert.has_error(function() gptimage.new{ api_key = 1 } end)
    assert.has_error(function() gptimage.new{ api_key = "k", timeout = "slow" } end)
    assert.has_error(function() gptimage.new{ api_key = "k", max_retries = -1 } end)
    assert.has_error(function() gptimage.new{ api_key = "k", headers = { ["Bad\nName"] = "x" } } end)
    assert.has_error(function() gptimage.new{ api_key = "k", headers = { X = "a\r\nInjected: 1" } } end)
    assert.has_error(function() gptimage.new{ api_key = "k", base_url = "ftp://example.invalid" } end)
    assert.has_error(function() gptimage.new{ api_key = "k", azure = { endpoint = "https://x" } } end)
  end)

  it("needs an API key", function()
    local out = run_lua("OPENAI_API_KEY=", [[
      local gptimage = require "gptimage"
      local ok, err = pcall(gptimage.new, {})
      print(ok, err)
    ]])
    assert.matches("no API key", out)
  end)

  it("takes the key and base URL from the environment", function()
    local out = run_lua("OPENAI_API_KEY=" .. KEY .. " OPENAI_BASE_URL=" .. srv.base_url, [[
      local gptimage = require "gptimage"
      local res, err = gptimage.generate{ prompt = "from env" }
      print(res and "ok" or tostring(err))
    ]])
    assert.matches("ok", out)
    assert.equals("Bearer " .. KEY, srv:last_request().headers["authorization"])
  end)

  it("uses gpt-image-2.6-flare unless the client or GPTIMAGE_MODEL names another model", function()
    assert.equals("gpt-image-2.6-flare", gptimage.default_model)
    local out = run_lua("GPTIMAGE_MODEL= OPENAI_API_KEY=" .. KEY .. " OPENAI_BASE_URL=" .. srv.base_url, [[
      local gptimage = require "gptimage"
      local res, err = gptimage.generate{ prompt = "no options" }
      print(res and res.model or tostring(err), gptimage.default_model)
    ]])
    assert.matches("gpt%-image%-2%.6%-flare\tgpt%-image%-2%.6%-flare", out)
    assert.same({ prompt = "no options", model = "gpt-image-2.6-flare" }, srv:last_request().json)
    out = run_lua("GPTIMAGE_MODEL=gpt-image-2.6-sunburst OPENAI_API_KEY=" .. KEY .. " OPENAI_BASE_URL=" .. srv.base_url, [[
      local gptimage = require "gptimage"
      assert(gptimage.generate{ prompt = "from env" })
      local c = gptimage.new{ model = "gpt-image-2" }
      assert(c:generate{ prompt = "from the client" })
      print(gptimage.default_model)
    ]])
    assert.matches("^gpt%-image%-2%.6%-sunburst", out)
    local requests = srv:requests()
    assert.equals("gpt-image-2.6-sunburst", requests[#requests - 1].json.model)
    assert.equals("gpt-image-2", requests[#requests].json.model)
  end)

  it("never shows the key", function()
    local c = gptimage.new{ api_key = KEY, base_url = srv.base_url, max_retries = 0 }
    assert.not_matches(KEY, tostring(c))
    srv:fault{ action = "error", status = 401, message = "Incorrect API key provided: " .. KEY,
               code = "invalid_api_key", type = "invalid_request_error" }
    local res, err = c:generate{ prompt = "a" }
    assert.is_nil(res)
    assert.equals("api", err.kind)
    assert.equals(401, err.status)
    assert.equals("invalid_api_key", err.code)
    for k, v in pairs(err) do
      assert.not_matches(KEY, tostring(v), nil, true)
    end
    assert.not_matches(KEY, tostring(err), nil, true)
    assert.matches("%[redacted%]", err.message)
    c:close()
  end)

  it("prints errors on one readable line", function()
    local c = gptimage.new{ api_key = KEY, base_url = srv.base_url, max_retries = 0 }
    srv:fault{ action = "error", status = 400, message = "Your request was rejected by the safety system.",
               code = "moderation_blocked", type = "image_generation_user_error" }
    local _, err = c:generate{ prompt = "a" }
    assert.equals("moderation_blocked", err.code)
    local line = tostring(err)
    assert.matches("^gptimage: api error 400 %(moderation_blocked%): Your request was rejected", line)
    assert.matches("%[request req_", line)
    c:close()
  end)

  it("loads libcurl when the first request starts, not at require or new", function()
    local build = os.getenv("GPTIMAGE_BUILD_DIR") or "build"
    local ldd = io.popen("ldd '" .. build .. "/gptimage.so' 2>/dev/null")
    local linked = ldd:read("*a"):find("libcurl", 1, true)
    ldd:close()
    if linked then return end -- a -DGPTIMAGE_LAZY_LIBCURL=OFF build links it
    local out, ok = run_lua("", string.format([[
      local function libcurl_mapped()
        local maps = assert(io.open("/proc/self/maps")):read("*a")
        return maps:find("libcurl", 1, true) ~= nil
      end
      local gptimage = require "gptimage"
      local c = gptimage.new{ api_key = "k", base_url = %q, max_retries = 0 }
      print("after new", libcurl_mapped())
      assert(c:poll() == 0)
      print("after poll", libcurl_mapped())
      local res, err = c:generate{ prompt = "a" }
      assert(res, tostring(err))
      print("after generate", libcurl_mapped())
    ]], srv.base_url))
    assert.is_truthy(ok, out)
    assert.equals("after new\tfalse\nafter poll\tfalse\nafter generate\ttrue\n", out)
  end)

  it("needs no global require: not when loaded, not for the Batch API helpers", function()
    -- a host that loads the module itself (package.loadlib) into a state
    -- whose require is gone, with cjson and the Lua helpers already loaded
    local out, ok = run_lua("", string.format([[
      require "cjson"
      require "gptimage.batchapi" -- loads the module the usual way too
      local path = assert(package.searchpath("gptimage", package.cpath))
      local open = assert(package.loadlib(path, "luaopen_gptimage"))
      require = nil
      local gptimage = open()
      local c = gptimage.new{ api_key = "k", base_url = %q, max_retries = 0 }
      local res, err = c:generate{ prompt = "a" }
      assert(res, tostring(err))
      local batch, berr = c:batch_status("batch_none")
      assert(batch or berr.kind == "api", tostring(berr))
      print("ok")
    ]], srv.base_url))
    assert.is_truthy(ok, out)
    assert.equals("ok\n", out)
  end)

  it("refuses to reach a closed port quickly with a network error", function()
    local c = gptimage.new{ api_key = KEY, base_url = "http://127.0.0.1:9/v1", max_retries = 0 }
    local res, err = c:generate{ prompt = "a" }
    assert.is_nil(res)
    assert.equals("network", err.kind)
    c:close()
  end)

  it("estimates cost before spending", function()
    local dollars, details = gptimage.estimate{ model = "gpt-image-1", quality = "low", size = "1024x1024", n = 2 }
    assert.near(2 * 272 * 40 / 1e6, dollars, 1e-12)
    assert.equals(544, details.output_tokens)
    local high = gptimage.estimate{ model = "gpt-image-1", quality = "high", size = "1536x1024", prompt = "abcd" }
    assert.near((6208 * 40 + 1 * 5) / 1e6, high, 1e-12)
    assert.near(0.08, gptimage.estimate{ model = "dall-e-3", quality = "hd", size = "1024x1024" }, 1e-12)
    assert.is_nil((gptimage.estimate{ model = "some-future-model" }))
  end)

  it("gptimage.type names the module's own values, as io.type does", function()
    local client = gptimage.new{ api_key = "sk-test", base_url = srv.base_url, max_retries = 0 }
    assert.equals("client", gptimage.type(client))
    local job = client:start("generate", { prompt = "a", buffer = true })
    assert.equals("job", gptimage.type(job))
    local res = assert(job:wait())
    assert.equals("buffer", gptimage.type(res.images[1].buffer))
    client:close()
    assert.equals("closed client", gptimage.type(client))
    for _, other in ipairs({ 1, "client", {}, io.stdout, false, print, res, setmetatable({}, getmetatable(client)) }) do
      assert.is_nil(gptimage.type(other))
    end
    assert.has_error(function() gptimage.type() end)
  end)

  it("decodes base64 strictly", function()
    assert.equals("hello", gptimage.b64decode("aGVsbG8="))
    local bytes, err = gptimage.b64decode("aGVs*G8=")
    assert.is_nil(bytes)
    assert.equals("decode", err.kind)
    assert.is_nil((gptimage.b64decode("aGVsbG8")))
  end)
end)
