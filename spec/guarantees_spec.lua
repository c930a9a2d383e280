-- The README's Guarantees attacked from outside: a hostile caller, server
-- and file system.  Each case is one a review found broken; the fixes hold
-- each one's whole family, so most cases sweep the family.
local gptimage = require "gptimage"
local fake = require "helpers.server"
local util = require "helpers.util"
local fixture = require "helpers.fixture"
local expect = require "helpers.expect"
local cjson = require "cjson"
local manifest = require "gptimage.manifest"

local LUA = os.getenv("GPTIMAGE_LUA") or "lua5.4"
local q = fake.shell_quote

local KEY = "sk-guarantees-secret-key-0123456789abcdef"
local raises = expect.raises

describe("guarantees under attack", function()
  local srv, dir, client

  fixture.each({ server = {}, client = { api_key = KEY, max_retries = 0 }, dir = true },
    function(f) srv, client, dir = f.srv, f.client, f.dir end)

  -- Runs the gptimage command in dir against the fake server.
  local function command(args, prefix)
    local parts = { "cd", q(dir), "&&", prefix or "", "env", "OPENAI_API_KEY=" .. q(KEY),
                    "OPENAI_BASE_URL=" .. q(srv.base_url), "GPTIMAGE_PROGRESS=plain", q(LUA), q(util.command_path()) }
    for _, arg in ipairs(args) do parts[#parts + 1] = q(arg) end
    local out, err = dir .. "/.out", dir .. "/.err"
    local ok, _, code = os.execute(table.concat(parts, " ") .. " >" .. q(out) .. " 2>" .. q(err))
    if type(ok) == "number" then code = ok / 256 end
    local result = { code = code, stdout = util.read(out) or "", stderr = util.read(err) or "" }
    os.remove(out)
    os.remove(err)
    return result
  end

  describe("client options that would be sent wrong", function()
    it("an empty api_key raises before any request, as an empty OPENAI_API_KEY does", function()
      local msg = raises(gptimage.new, { api_key = "", base_url = srv.base_url })
      assert.matches("api_key", msg)
      for _, name in ipairs{ "organization", "project", "user_agent", "model", "proxy", "ca_file" } do
        msg = raises(gptimage.new, { api_key = KEY, base_url = srv.base_url, [name] = "" })
        assert.matches(name, msg, nil, true)
      end
      assert.same({}, srv:requests())
    end)

    it("NUL bytes in the key, organization, project, user agent or a header raise instead of cutting it", function()
      for _, name in ipairs{ "api_key", "organization", "project", "user_agent", "base_url", "model" } do
        local opts = { api_key = KEY, base_url = srv.base_url }
        opts[name] = (opts[name] or "value") .. "\0tail"
        local msg = raises(gptimage.new, opts)
        assert.matches(name, msg, nil, true)
        assert.matches("NUL", msg, nil, true)
      end
      raises(gptimage.new, { api_key = KEY, headers = { ["X-A\0B"] = "v" } })
      local msg = raises(gptimage.new, { api_key = KEY, headers = { ["X-Tag"] = "a\0b" } })
      assert.matches("NUL", msg, nil, true)
      raises(gptimage.new, { api_key = KEY, headers = { ["X-Tag"] = "a\1b" } })
    end)

    it("header names that are not HTTP tokens raise", function()
      for _, name in ipairs{ "X Tag", "X:Tag", "X(Tag)", "X\tTag", "", "X\"", "Ünï", "X/Y" } do
        raises(gptimage.new, { api_key = KEY, headers = { [name] = "v" } })
      end
      local c = gptimage.new{ api_key = KEY, base_url = srv.base_url,
                              headers = { ["X-Ok_1.2~!#$%&'*+^`|"] = "v" } }
      assert(c:generate{ prompt = "a" })
      c:close()
    end)

    it("headers the module sends itself raise in every spelling, naming the option to use", function()
      local own = { Authorization = "api_key", ["api-key"] = "api_key", ["OpenAI-Organization"] = "organization",
                    ["OpenAI-Project"] = "project", ["User-Agent"] = "user_agent", ["Content-Length"] = false,
                    ["Content-Type"] = false, ["Transfer-Encoding"] = false, Host = false, Expect = false,
                    Accept = false, Connection = false }
      for name, option in pairs(own) do
        for _, spelling in ipairs{ name, name:upper(), name:lower() } do
          local msg = raises(gptimage.new, { api_key = KEY, headers = { [spelling] = "x" } })
          if option then assert.matches("'" .. option .. "'", msg, nil, true) end
        end
      end
    end)

    it("a long user_agent is sent whole", function()
      local agent = "agent/" .. ("x"):rep(300)
      local c = gptimage.new{ api_key = KEY, base_url = srv.base_url, user_agent = agent }
      assert(c:generate{ prompt = "a" })
      c:close()
      assert.equals(agent, srv:last_request().headers["user-agent"])
    end)

    it("a base_url or azure endpoint with a query, fragment or space raises", function()
      for _, url in ipairs{ srv.base_url .. "?x=1", srv.base_url .. "#frag", srv.base_url .. "/?",
                            "http://127.0.0.1:1/a b", "http://127.0.0.1:1/a\tb" } do
        raises(gptimage.new, { api_key = KEY, base_url = url })
        raises(gptimage.new, { api_key = KEY, azure = { endpoint = url, deployment = "d", api_version = "v" } })
      end
    end)

    it("tostring(client) masks a password in base_url or the azure endpoint", function()
      local c = gptimage.new{ api_key = KEY, base_url = "http://user:hunter2secret@127.0.0.1:1/v1" }
      local shown = tostring(c)
      c:close()
      assert.not_matches("hunter2secret", shown, nil, true)
      assert.matches("user:", shown, nil, true)
      assert.matches("127.0.0.1:1/v1", shown, nil, true)
      local a = gptimage.new{ api_key = KEY, azure = { endpoint = "https://u:p@ss:w0rd@example.invalid",
                                                       deployment = "d", api_version = "v" } }
      shown = tostring(a)
      a:close()
      assert.not_matches("p@ss", shown, nil, true)
      assert.not_matches("w0rd", shown, nil, true)
      assert.matches("example.invalid", shown, nil, true)
    end)
  end)

  describe("the drive loop", function()
    it("a prices table whose lookup raises leaves no job running and the client closable", function()
      local raising = setmetatable({}, { __index = function() error("prices exploded") end })
      local c = gptimage.new{ api_key = KEY, base_url = srv.base_url, max_retries = 0,
                              prices = { ["gpt-image-1"] = raising, other = raising } }
      -- prices are read as data: the caller's metamethods never run inside the drive loop
      local res = assert(c:generate{ prompt = "a" })
      assert.is_table(res.images[1])
      local job = c:start("generate", { prompt = "b" })
      assert(job:wait(10))
      assert.equals("done", job:status())
      assert.is_true(pcall(c.close, c))
    end)

    it("an error raised inside the drive loop brings the nesting count back down", function()
      local c = gptimage.new{ api_key = KEY, base_url = srv.base_url, max_retries = 0 }
      local job = c:start("generate", { prompt = "a", on_done = function() error("callback exploded") end })
      local ok, msg = pcall(job.wait, job, 10)
      assert.is_false(ok)
      assert.matches("callback exploded", tostring(msg), 1, true)
      -- a raise from below the loop (not a callback) must restore the count too
      local c2 = gptimage.new{ api_key = KEY, base_url = srv.base_url, max_retries = 0,
                               prices = setmetatable({}, { __index = function() error("prices exploded") end }) }
      pcall(c2.generate, c2, { prompt = "b" })
      assert.is_true(pcall(c.close, c))
      assert.is_true(pcall(c2.close, c2), "the client must close after an error raised in its drive loop")
    end)
  end)

  describe("numbers out of every range", function()
    -- under the sanitizer build (float-cast-overflow) a cast of any of these
    -- to an integer type aborts the process: each must be checked first
    it("estimate with n = 1e300, math.huge or NaN raises naming n", function()
      for _, n in ipairs{ 1e300, -1e300, math.huge, -math.huge, 0 / 0, 2 ^ 63, 2 ^ 53 + 2 } do
        local msg = raises(gptimage.estimate, { model = "gpt-image-1", n = n })
        assert.matches("n", msg, 1, true)
      end
    end)

    it("concurrency of math.huge, 1e300 or NaN raises naming it", function()
      for _, conc in ipairs{ math.huge, 1e300, 0 / 0 } do
        local msg = raises(client.batch, client, { { prompt = "a" } }, { concurrency = conc })
        assert.matches("concurrency", msg, 1, true)
      end
      assert.same({}, srv:requests())
    end)

    it("max_retries and timeouts of math.huge are caps, NaN raises", function()
      raises(gptimage.new, { api_key = KEY, max_retries = 0 / 0 })
      raises(gptimage.new, { api_key = KEY, max_retries = 1.5 })
      raises(gptimage.new, { api_key = KEY, timeout = 0 / 0 })
      local c = gptimage.new{ api_key = KEY, base_url = srv.base_url, max_retries = math.huge,
                              timeout = math.huge, connect_timeout = 1e300 }
      assert(c:generate{ prompt = "a" })
      c:close()
      for _, retries in ipairs{ math.huge, 1e300, 0 / 0 } do
        raises(client.generate, client, { prompt = "a", max_retries = retries })
      end
      -- a per-call time limit of math.huge is refused, not cast out of range
      raises(client.generate, client, { prompt = "a", timeout = math.huge })
    end)
  end)

  describe("hostile answers", function()
    local PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

    -- A 200 answer with one image and the given usage.
    local function answer_with_usage(usage)
      srv:fault{ action = "status", status = 200, content_type = "application/json",
                 body = { created = 1, data = { { b64_json = PNG_B64 } }, usage = usage } }
    end

    it("usage numbers that are not sane token counts give cost nil, never inf, NaN or negative", function()
      local cases = {
        { input_tokens = 10, output_tokens = 1e308, input_tokens_details = { text_tokens = 10, image_tokens = 0 } },
        { input_tokens = 10, output_tokens = -4000 },
        { input_tokens = -1e300, output_tokens = 100 },
        { input_tokens = 10, output_tokens = 100, input_tokens_details = { text_tokens = 10, image_tokens = -5 } },
        { input_tokens = 10, output_tokens = "100" },
        { input_tokens = 10, output_tokens = 100.5 },
      }
      for i, usage in ipairs(cases) do
        answer_with_usage(usage)
        local res = assert(client:generate{ prompt = "a", model = "gpt-image-1" })
        assert.is_nil(res.cost, "case " .. i .. " gave cost " .. tostring(res.cost))
      end
      answer_with_usage{ input_tokens = 10, output_tokens = 100, total_tokens = 110,
                         input_tokens_details = { text_tokens = 10, image_tokens = 0 } }
      local res = assert(client:generate{ prompt = "a", model = "gpt-image-1" })
      assert.is_number(res.cost)
      assert.is_true(res.cost > 0 and res.cost < 1)
    end)
  end)

  describe("an interrupt", function()
    -- What lua.c does on Ctrl-C: a hook that removes itself and raises
    -- "interrupted!" at the next call, wherever that is.
    local function interrupt_at_next_call()
      debug.sethook(function()
        debug.sethook()
        error("interrupted!")
      end, "c")
    end

    -- The same hook, but firing only at a call made deep inside the module
    -- (five C frames: cjson's decode under the module's protected decode,
    -- under a drive round, under the call and the spec's pcall), which is
    -- where the module decodes an answer.
    local function interrupt_inside_decode()
      debug.sethook(function()
        for level = 2, 6 do
          local info = debug.getinfo(level, "S")
          if not info or info.what ~= "C" then return end
        end
        debug.sethook()
        error("interrupted!")
      end, "c")
    end

    it("that fires inside the module's JSON decode is raised, not turned into a decode error", function()
      local save = dir .. "/kept.png"
      interrupt_inside_decode()
      local ok, res, err = pcall(client.generate, client, { prompt = "a", save = save })
      debug.sethook()
      assert.is_false(ok, "the call returned " .. tostring(res) .. ", " .. tostring(err))
      assert.matches("interrupted!$", tostring(res))
      -- the answer had arrived whole: its image is kept, and no temporary file is left
      assert.is_true(util.is_png(util.read(save)))
      assert.same({ "kept.png" }, util.listdir(dir))
    end)

    it("that ends a blocking call cancels its job: nothing goes on in the background", function()
      -- the partial image comes at once, the final one 60 s later: the
      -- interrupt fires at the first call after the partial's callback,
      -- while the call still waits
      srv:config{ sse_interval = 60 }
      local ok, msg = pcall(client.generate, client, { prompt = "a", stream = true, partial_images = 1,
        save = dir .. "/bg.png", on_partial = function() interrupt_at_next_call() end })
      debug.sethook()
      assert.is_false(ok)
      assert.matches("interrupted!$", tostring(msg))
      assert.equals(0, client:poll(), "the interrupted call's job is still running")
      assert.same({}, util.listdir(dir))
    end)

    it("Ctrl-C during gptimage generate ends it at once with 130 and leaves no file", function()
      srv:fault{ action = "delay", delay = 60 }
      local pid_file, code_file = dir .. "/pid", dir .. "/code"
      local script = table.concat({ "cd", q(dir), "&&", "env", "OPENAI_API_KEY=" .. q(KEY),
        "OPENAI_BASE_URL=" .. q(srv.base_url), "GPTIMAGE_PROGRESS=none", q(LUA), q(util.command_path()),
        "generate", "a slow sword", "-o", "out/sword.png", "--max-retries", "0", ">/dev/null 2>&1 &",
        "echo $! >" .. q(pid_file) .. ";", "wait $!;", "echo $? >" .. q(code_file) }, " ")
      os.execute("sh -c " .. q(script) .. " >/dev/null 2>&1 &")
      assert(srv:wait_requests(1, 30), "the command never sent its request")
      local pid = tonumber(util.read(pid_file))
      assert(pid, "no pid")
      os.execute("kill -INT " .. pid)
      -- bounded by the server's 60 s delay: an interrupt that waits for the
      -- answer would take that long
      local code
      for _ = 1, 400 do
        code = tonumber(util.read(code_file) or "")
        if code then break end
        os.execute("sleep 0.05")
      end
      assert.equals(130, code)
      local left = util.listdir(dir .. "/out")
      assert.same({}, left)
    end)
  end)

  describe("what a 200 answer must hold", function()
    local PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

    local function answer(body)
      srv:fault{ action = "status", status = 200, content_type = "application/json", body = body }
    end

    local function images(count)
      local data = {}
      for i = 1, count do data[i] = { b64_json = PNG_B64 } end
      return data
    end

    it("an answer without a usable image is a decode error, for bytes and for save", function()
      local bodies = {
        { created = 1, data = {} },
        { created = 1, data = { { b64_json = cjson.null } } },
        { created = 1, data = { { b64_json = 42 } } },
        { created = 1, data = { b64_json = PNG_B64 } },
        { created = 1, data = "nothing" },
        { created = 1 },
      }
      for i, body in ipairs(bodies) do
        for _, save in ipairs{ false, true } do
          answer(body)
          local res, err = client:generate{ prompt = "a", save = save and (dir .. "/none.png") or nil }
          assert.is_nil(res, "body " .. i .. " gave a result")
          assert.equals("decode", err.kind, "body " .. i)
          assert.is_false(util.exists(dir .. "/none.png"))
        end
      end
    end)

    it("fewer usable images than asked is a decode error that still hands back what came", function()
      answer{ created = 1, data = { { b64_json = PNG_B64 }, { b64_json = cjson.null } } }
      local res, err = client:generate{ prompt = "a", n = 2 }
      assert.is_nil(res)
      assert.equals("decode", err.kind)
      assert.is_table(err.images)
      assert.equals(1, #err.images)
      assert.is_true(util.is_png(err.images[1].bytes))
    end)

    it("a stream whose completed event has no image is a decode error", function()
      local event = cjson.encode{ type = "image_generation.completed", created_at = 1, size = "1024x1024",
                                  quality = "low", background = "opaque", output_format = "png" }
      srv:fault{ action = "status", status = 200, content_type = "text/event-stream",
                 body = "event: image_generation.completed\ndata: " .. event .. "\n\n" }
      local res, err = client:generate{ prompt = "a", stream = true }
      assert.is_nil(res)
      assert.equals("decode", err.kind)
    end)

    it("more images than asked, or image data outside data, is an error that saves and replaces nothing", function()
      util.write(dir .. "/one.png", "old")
      for _, case in ipairs{ { n = 1, body = { created = 1, data = images(2) } },
                             { n = 2, body = { created = 1, data = images(3) } },
                             { n = 1, body = { created = 1, b64_json = PNG_B64, data = images(1) } },
                             { n = 1, body = { created = 1, data = images(1), extra = { b64_json = PNG_B64 } } } } do
        answer(case.body)
        local res, err = client:generate{ prompt = "a", n = case.n, save = dir .. "/one.png" }
        assert.is_nil(res)
        assert.equals("decode", err.kind)
        assert.equals("old", util.read(dir .. "/one.png"))
        assert.same({ "one.png" }, util.listdir(dir))
      end
    end)

    it("gptimage generate exits 1 and records nothing when the answer holds no image", function()
      answer{ created = 1, data = {} }
      local r = command{ "generate", "a sword", "-o", "sword.png", "--max-retries", "0" }
      assert.equals(1, r.code, r.stderr)
      assert.is_false(util.exists(dir .. "/sword.png"))
      assert.is_false(util.exists(dir .. "/sword.png.json"))
    end)

    it("an image download answered with an HTML page is a decode error, not a saved .png", function()
      srv:fault{ action = "status", status = 200, path = "/files/", content_type = "text/html",
                 body = "<html><body>sign in</body></html>" }
      local res, err = client:generate{ prompt = "a", model = "dall-e-2", response_format = "url",
                                        save = dir .. "/u.png" }
      assert.is_nil(res)
      assert.equals("decode", err.kind)
      assert.is_false(util.exists(dir .. "/u.png"))
    end)

    it("a gzip header on a plain body is a decode error", function()
      srv:fault{ action = "status", status = 200, content_type = "application/json",
                 headers = { ["content-encoding"] = "gzip" },
                 body = cjson.encode{ created = 1, data = images(1) } }
      local res, err = client:generate{ prompt = "a" }
      assert.is_nil(res)
      assert.equals("decode", err.kind)
    end)

    it("retry-after in hex is not a number of seconds", function()
      local c = gptimage.new{ api_key = KEY, base_url = srv.base_url, max_retries = 1 }
      srv:fault{ action = "error", status = 429, headers = { ["retry-after"] = "0x10" } }
      local job = c:start("generate", { prompt = "a" })
      -- honoured as 16 s it would still wait; the usual backoff is under a second
      local res = job:wait(8)
      c:close()
      assert.is_table(res, "the retry waited as if told 16 s")
    end)

    it("the API key echoed in revised_prompt reaches neither the result, the record nor --json", function()
      srv:config{ api_key = KEY }
      answer{ created = 1, data = { { b64_json = PNG_B64, revised_prompt = "key was " .. KEY } } }
      local res = assert(client:generate{ prompt = "a", save = dir .. "/r.png" })
      assert.is_nil(res.images[1].revised_prompt:find(KEY, 1, true))
      answer{ created = 1, data = { { b64_json = PNG_B64, revised_prompt = "key was " .. KEY } } }
      local r = command{ "generate", "a sword", "-o", "sword.png", "--json", "--max-retries", "0" }
      assert.equals(0, r.code, r.stderr)
      assert.is_nil(r.stdout:find(KEY, 1, true), "the key is in --json output")
      assert.is_nil((util.read(dir .. "/sword.png.json") or ""):find(KEY, 1, true), "the key is in the record")
    end)
  end)

  describe("saving", function()
    it("a failed n = 2 call replaces none of the old files", function()
      util.write(dir .. "/a-1.png", "old one")
      os.execute("mkdir " .. q(dir .. "/a-2.png"))
      local res, err = client:generate{ prompt = "a", n = 2, save = dir .. "/a.png" }
      assert.is_nil(res)
      assert.equals("io", err.kind)
      assert.equals("old one", util.read(dir .. "/a-1.png"))
      assert.same({ "a-1.png", "a-2.png" }, util.listdir(dir))
    end)

    it("a disk that fills after payment keeps the images already whole, under names the error gives", function()
      local mnt = dir .. "/small"
      os.execute("mkdir -p " .. q(mnt))
      -- room for the first 1.5 MB image and not the second: needs root (a tmpfs)
      local mounted = os.execute("mount -t tmpfs -o size=2m tmpfs " .. q(mnt) .. " 2>/dev/null")
      if mounted ~= true and mounted ~= 0 then -- Lua 5.4 / LuaJIT
        pending("a full filesystem needs permission to mount a tmpfs")
        return
      end
      srv:config{ image_bytes = 1500000 }
      util.write(mnt .. "/a-1.png", "OLD")
      local ok, res, err = pcall(client.generate, client, { prompt = "a", n = 2, save = mnt .. "/a.png" })
      local kept = err and err.kept and err.kept[1]
      local kept_png = kept and util.is_png(util.read(kept))
      local old = util.read(mnt .. "/a-1.png")
      os.execute("umount " .. q(mnt))
      assert.is_true(ok, res)
      assert.is_nil(res)
      assert.equals("io", err.kind)
      assert.is_string(kept, tostring(err))
      assert.is_true(kept_png)
      assert.matches(kept, err.message, 1, true)
      assert.is_nil(err.kept[2])
      assert.equals("OLD", old)
    end)

    it("save-path problems known before sending are reported before the API is paid", function()
      util.write(dir .. "/afile", "x")
      local cases = { dir .. "/afile/x.png", dir .. "/" .. ("n"):rep(250) .. ".png" }
      for _, save in ipairs(cases) do
        local res, err = client:generate{ prompt = "a", save = save }
        assert.is_nil(res)
        assert.equals("io", err.kind)
      end
      assert.same({}, srv:requests())
    end)
  end)

  describe("manifest outputs", function()
    local function problems_of(entries, opts)
      util.write(dir .. "/m.json", cjson.encode(entries))
      local m, problem = manifest.load(dir .. "/m.json", opts)
      return m, problem
    end

    it("a numbered image of one entry and another entry's output collide", function()
      local _, problem = problems_of{ { prompt = "coins", n = 2, output = "coin.png" },
                                      { prompt = "one coin", output = "coin-1.png" } }
      assert.is_string(problem)
      assert.matches("entry 2 (coin-1.png)", problem, 1, true)
      assert.matches("entry 1 (coin.png)", problem, 1, true)
    end)

    it("an output and another entry's sidecar record collide", function()
      local _, problem = problems_of{ { prompt = "x", output = "x.png" }, { prompt = "y", output = "x.png.json" } }
      assert.is_string(problem)
      assert.matches("entry 2 (x.png.json)", problem, 1, true)
      assert.matches("record", problem, 1, true)
    end)

    it("numbered images follow the module's numbering, templates and hidden names included", function()
      local _, problem = problems_of{ { prompt = "a", n = 2, output = "{i}.png" }, { prompt = "b", output = "2.png" } }
      assert.matches("entry 2 (2.png)", problem, 1, true)
      _, problem = problems_of{ { prompt = "a", n = 3, output = ".hidden" }, { prompt = "b", output = ".hidden-2" } }
      assert.matches("entry 2 (.hidden-2)", problem, 1, true)
      _, problem = problems_of{ { prompt = "a", n = 2, output = "a.{ext}", output_format = "jpeg" },
                                { prompt = "b", output = "a-2.jpg" } }
      assert.matches("entry 2 (a-2.jpg)", problem, 1, true)
      assert(problems_of{ { prompt = "a", n = 2, output = "a.png" }, { prompt = "b", output = "a.png.png" } })
    end)

    it("an output outside the output folder is refused unless the manifest or the caller allows it", function()
      for _, output in ipairs{ "../x.png", "../../x.png", "a/../../x.png", "/tmp/x.png", ".." } do
        local _, problem = problems_of{ { prompt = "a", output = output } }
        assert.is_string(problem, output)
        assert.matches("allow_outside_output_dir", problem, 1, true)
      end
      assert(problems_of{ { prompt = "a", output = "a/../b.png" }, { prompt = "b", output = "./c/d.png" } })
      assert(problems_of({ { prompt = "a", output = "../x.png" } }, { allow_outside_output_dir = true }))
      assert(problems_of{ allow_outside_output_dir = true, entries = { { prompt = "a", output = "../x.png" } } })
      local _, problem = problems_of{ allow_outside_output_dir = "yes", entries = { { prompt = "a", output = "x.png" } } }
      assert.matches("allow_outside_output_dir", problem, 1, true)
    end)

    it("a FIFO where a sidecar record should be neither hangs gptimage run nor counts as a record", function()
      util.write(dir .. "/m.json", cjson.encode{ { prompt = "a", output = "x.png" } })
      assert.is_true(os.execute("mkfifo " .. q(dir .. "/x.png.json")) ~= false)
      -- bounded: a reader blocked on the FIFO would be killed at 60 s (exit 124)
      local r = command({ "run", "m.json" }, "timeout 60")
      assert.equals(0, r.code, r.stderr)
      assert.is_true(util.is_png(util.read(dir .. "/x.png")))
      assert.is_table(cjson.decode(util.read(dir .. "/x.png.json")))
    end)

    it("gptimage run refuses a colliding or escaping manifest with exit 2 before any request", function()
      util.write(dir .. "/m.json", cjson.encode{ { prompt = "coins", n = 2, output = "coin.png" },
                                                 { prompt = "one coin", output = "coin-1.png" } })
      local r = command{ "run", "m.json" }
      assert.equals(2, r.code, r.stderr)
      assert.matches("entry 2 (coin-1.png)", r.stderr, 1, true)
      assert.matches("entry 1 (coin.png)", r.stderr, 1, true)
      util.write(dir .. "/m.json", cjson.encode{ { prompt = "a", output = "../escape.png" } })
      r = command{ "run", "m.json" }
      assert.equals(2, r.code, r.stderr)
      assert.same({}, srv:requests())
      r = command{ "run", "m.json", "--allow-outside-output-dir", "--dry-run" }
      assert.equals(0, r.code, r.stderr)
    end)
  end)

  describe("the Batch API helper", function()
    local PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

    local function ok_line(custom_id, images)
      local data = {}
      for i = 1, images or 1 do data[i] = { b64_json = PNG_B64, revised_prompt = "r" .. i } end
      return cjson.encode{ id = "batch_req_1", custom_id = custom_id, error = cjson.null,
        response = { status_code = 200, request_id = "req_1", body = { created = 1, data = data } } }
    end

    -- The batch batch_h, completed, whose output file holds `lines`.
    local function serve_batch(lines, batch)
      batch = batch or { id = "batch_h", object = "batch", status = "completed", output_file_id = "file-out" }
      srv:fault{ { action = "status", status = 200, path = "/batches/batch_h", body = batch, times = -1 },
                 { action = "status", status = 200, path = "/files/file-out/content", times = -1,
                   content_type = "application/octet-stream", body = table.concat(lines, "\n") .. "\n" } }
    end

    it("a custom_id answered twice writes one file and reports the second as an error", function()
      serve_batch{ ok_line("dup"), ok_line("dup"), ok_line("other") }
      local results = assert(client:batch_collect("batch_h", { dir = dir }))
      assert.equals(3, #results)
      local ok, failed = 0, {}
      for _, r in ipairs(results) do
        if r.res then ok = ok + 1 else failed[#failed + 1] = r end
      end
      assert.equals(2, ok)
      assert.equals(1, #failed)
      assert.equals("dup", failed[1].custom_id)
      assert.matches("twice", failed[1].err.message)
    end)

    it("two custom_ids whose files would collide never overwrite each other", function()
      serve_batch{ ok_line("a b"), ok_line("a_b") }
      local results = assert(client:batch_collect("batch_h", { dir = dir }))
      assert.equals(2, #results)
      assert.is_table(results[1].res)
      assert.is_nil(results[2].res)
      assert.equals("io", results[2].err.kind)
    end)

    it("a hostile output_file_id is nil, err, never a raise", function()
      for _, id in ipairs{ "../../etc/passwd", "file-1?x=1", "a/b", "" } do
        srv:reset()
        serve_batch({}, { id = "batch_h", status = "completed", output_file_id = id })
        local ok, results, err = pcall(client.batch_collect, client, "batch_h", { dir = dir })
        assert.is_true(ok, "batch_collect raised for output_file_id " .. id .. ": " .. tostring(results))
        assert.is_nil(results)
        assert.equals("decode", err.kind)
      end
    end)

    it("submit answered with a hostile file or batch id is nil, err, not an id a later call raises on", function()
      for _, fault in ipairs{ { path = "/v1/files", body = { id = "../../x", object = "file" } },
                              { path = "/v1/batches", body = { id = "batch_1/../../x", status = "validating" } } } do
        srv:reset()
        srv:fault{ action = "status", status = 200, path = fault.path, body = fault.body, method = "POST" }
        local ok, batch, err = pcall(client.batch_submit, client, { { prompt = "a" } })
        assert.is_true(ok, tostring(batch))
        assert.is_nil(batch)
        assert.equals("decode", err.kind)
      end
    end)

    it("a line with invalid base64 reports its output path with the extension resolved", function()
      local line = ok_line("bad"):gsub("iVBOR", "iV*OR")
      serve_batch{ line }
      local results = assert(client:batch_collect("batch_h", { dir = dir }))
      assert.equals("decode", results[1].err.kind)
      assert.not_matches("{ext}", results[1].output, 1, true)
      assert.matches("%.png$", results[1].output)
    end)

    it("fewer images than the entry asked for are kept but the entry is an error", function()
      local state = { id = "batch_h", entries = { { custom_id = "coins", n = 3, output = dir .. "/coin.png" } } }
      serve_batch{ ok_line("coins", 2) }
      local results = assert(client:batch_collect("batch_h", { state = state }))
      assert.equals("decode", results[1].err.kind)
      assert.equals(2, #results[1].res.images)
      assert.is_true(util.exists(dir .. "/coin-1.png"))
      assert.is_false(util.exists(dir .. "/coin.png.json"), "no record for an entry that was not built")
    end)

    it("masks the API key in every message, code and field the server echoes", function()
      local echoed = cjson.encode{ id = "batch_req_2", custom_id = "k", response = cjson.null,
                                   error = { code = KEY, message = "bad key " .. KEY } }
      local failing = cjson.encode{ id = "batch_req_3", custom_id = "k2", error = cjson.null,
        response = { status_code = 401, request_id = KEY, body = { error = { message = KEY, code = KEY,
                                                                             type = KEY, param = KEY } } } }
      local line = ok_line("k3"):gsub('"r1"', cjson.encode("said " .. KEY))
      serve_batch({ echoed, failing, line },
        { id = "batch_h", status = "completed", output_file_id = "file-out", metadata = { note = KEY } })
      local results, batch = assert(client:batch_collect("batch_h", { dir = dir }))
      local seen = {}
      local function walk(v, path)
        if type(v) == "string" then
          assert.is_nil(v:find(KEY, 1, true), "the key is in " .. path)
        elseif type(v) == "table" and not seen[v] then
          seen[v] = true
          for k, item in pairs(v) do walk(item, path .. "." .. tostring(k)) end
        end
      end
      walk(results, "results")
      walk(batch, "batch")
      for _, r in ipairs(results) do
        if r.err then assert.is_nil(tostring(r.err):find(KEY, 1, true)) end
      end
      local record = util.read(dir .. "/k3.png.json")
      assert.is_string(record)
      assert.is_nil(record:find(KEY, 1, true), "the key is in the sidecar record")
      srv:reset()
      srv:fault{ action = "status", status = 200, path = "/batches/batch_f", times = -1,
                 body = { id = "batch_f", status = "failed", errors = { data = { { code = KEY, message = KEY } } } } }
      local _, err = client:batch_collect("batch_f", { dir = dir })
      assert.is_nil(tostring(err):find(KEY, 1, true))
      walk(err, "err")
    end)

    it("client:redact masks the key in strings and nested tables, and leaves the rest", function()
      assert.equals("a [redacted] b", client:redact("a " .. KEY .. " b"))
      assert.equals("cut [redacted]", client:redact("cut " .. KEY:sub(1, 12)))
      local t = client:redact{ x = { KEY, 3, true }, [KEY] = "k" }
      assert.same({ x = { "[redacted]", 3, true }, ["[redacted]"] = "k" }, t)
      assert.equals(42, client:redact(42))
      local big = ("x"):rep(5000000)
      assert.equals(big, client:redact(big))
    end)
  end)
end)
