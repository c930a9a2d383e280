-- The fault matrix: every way the server, the network or the disk can fail,
-- each with its expected outcome (success after a retry, or nil, err of the
-- right kind) and the proof that nothing was lost or left behind: no file
-- at the target, no temporary file in the folder, an existing file intact.
local gptimage = require "gptimage"
local fake = require "helpers.server"
local util = require "helpers.util"
local fixture = require "helpers.fixture"

-- Under valgrind everything in this process runs many times slower: client
-- time limits and the server delays that must outlast them grow together.
local SLOW = os.getenv("GPTIMAGE_VALGRIND") == "1" and 10 or 1

local shell_quote, run = util.shell_quote, util.run

local function is_root()
  local out = run("id -u")
  return out:match("^0%s*$") ~= nil
end

-- Whether this process may mount a small tmpfs (root with CAP_SYS_ADMIN).
local function can_mount_tmpfs()
  if not is_root() then return false end
  local dir = util.tmpdir()
  local _, code = run("mount -t tmpfs -o size=1m tmpfs " .. shell_quote(dir))
  if code == 0 then run("umount " .. shell_quote(dir)) end
  util.rmtree(dir)
  return code == 0
end

local ROOT = is_root()
local TMPFS = can_mount_tmpfs()

-- Entries a failed call may have left: temporary files (".name.*.part") or
-- anything else hidden.
local function leftovers(dir)
  local found = {}
  for _, name in ipairs(util.listdir(dir)) do
    if name:match("%.part$") or name:match("^%.") then found[#found + 1] = name end
  end
  return found
end

-- A port nothing listens on: a fake server's, once it has stopped.
local function closed_port()
  local tmp = fake.start{}
  local port = tmp.port
  tmp:stop()
  return port
end

describe("fault matrix", function()
  local srv, dir
  local clients = {}

  local function new_client(opts)
    local o = { api_key = "sk-test-faults-0123456789", base_url = srv.base_url, max_retries = 0 }
    for k, v in pairs(opts or {}) do o[k] = v end
    local c = gptimage.new(o)
    clients[#clients + 1] = c
    return c
  end

  fixture.each({ server = {}, dir = true }, function(f) srv, dir = f.srv, f.dir end)

  after_each(function()
    for i = #clients, 1, -1 do
      clients[i]:close()
      clients[i] = nil
    end
  end)

  -- Every case fails twice: once saving to a new path in a missing folder,
  -- once over an existing file, which must keep its old content.
  local CASES = {
    { name = "a 500 with max_retries = 0", kind = "api", status = 500, requests = 1,
      fault = { action = "status", status = 500 } },
    { name = "a 400 (never retried)", kind = "api", status = 400, requests = 1, client = { max_retries = 2 },
      fault = { action = "error", status = 400, message = "Invalid size.", code = "invalid_value" } },
    { name = "a 502 HTML page after every retry", kind = "http", status = 502, requests = 3,
      client = { max_retries = 2 }, message = "Bad Gateway",
      fault = { action = "html", status = 502, times = 3 } },
    { name = "a 500 storm outlasting max_retries", kind = "api", status = 500, requests = 3,
      client = { max_retries = 2 }, fault = { action = "status", status = 500, times = 3 } },
    { name = "a connection reset mid-body", kind = "network", requests = 1,
      fault = { action = "reset", after_bytes = 100 } },
    { name = "a connection reset after most of the body", kind = "network", requests = 1,
      fault = { action = "reset", after_bytes = 7000 } },
    { name = "a body shorter than its Content-Length", kind = "network", requests = 1,
      fault = { action = "truncate" } },
    { name = "a connection closed without an answer", kind = "network", requests = 1,
      fault = { action = "drop" } },
    { name = "a connection closed without an answer, after every retry", kind = "network", requests = 2,
      client = { max_retries = 1 }, fault = { action = "drop", times = 2 } },
    { name = "a 200 whose JSON stops half way", kind = "decode", requests = 1,
      fault = { action = "status", status = 200, content_type = "application/json",
                body = '{"created": 1700000000, "data": [{"b64_json": "iVBORw0KGgoAAAANSUhEUg' } },
    { name = "a 200 whose JSON stops after the image", kind = "decode", requests = 1,
      fault = { action = "status", status = 200, content_type = "application/json",
                body = '{"created": 1700000000, "data": [{"b64_json": "iVBORw0KGgo="}' } },
    { name = "a 200 that is not JSON", kind = "decode", requests = 1,
      fault = { action = "not_json" } },
    { name = "base64 with a character outside the alphabet", kind = "decode", requests = 1,
      fault = { action = "bad_base64" } },
    { name = "base64 with padding in the middle", kind = "decode", requests = 1,
      fault = { action = "bad_base64", variant = "padding" } },
    { name = "base64 of a bad length", kind = "decode", requests = 1,
      fault = { action = "bad_base64", variant = "length" } },
    { name = "a body larger than max_response_bytes", kind = "http", requests = 1,
      client = { max_response_bytes = 65536 }, message = "max_response_bytes",
      fault = { action = "huge", bytes = 1048576 } },
    { name = "a server slower than the timeout", kind = "timeout", requests = 1,
      client = { timeout = 0.5 * SLOW }, fault = { action = "delay", delay = 3 * SLOW } },
    { name = "a server slower than the timeout, after every retry", kind = "timeout", requests = 2,
      client = { timeout = 0.5 * SLOW, max_retries = 1 },
      fault = { action = "delay", delay = 3 * SLOW, times = 2 } },
    { name = "a body that drips for longer than the timeout", kind = "timeout", requests = 1,
      client = { timeout = 1 * SLOW }, fault = { action = "drip", chunk = 64, interval = 0.1 } },
    { name = "an SSE stream whose first event is not JSON", kind = "decode", requests = 1,
      opts = { stream = true, partial_images = 1 }, fault = { action = "sse_malformed" } },
    { name = "an SSE stream reset half way", kind = "network", requests = 1,
      opts = { stream = true, partial_images = 2 }, fault = { action = "reset" } },
    { name = "an SSE stream cut short", kind = "network", requests = 1,
      opts = { stream = true, partial_images = 2 }, fault = { action = "truncate" } },
  }

  local function call(c, case, save)
    local opts = { prompt = "a faulty sword", save = save }
    for k, v in pairs(case.opts or {}) do opts[k] = v end
    if opts.stream then
      opts.on_partial = function(image)
        assert(util.is_png(image.bytes), "a partial image that is not a PNG was delivered")
      end
    end
    return c:generate(opts)
  end

  local function check_error(case, res, err)
    assert.is_nil(res)
    assert.is_table(err)
    assert.equals(case.kind, err.kind)
    if case.status then assert.equals(case.status, err.status) end
    if case.message then assert.matches(case.message, err.message, 1, true) end
    assert.is_string(tostring(err))
  end

  for _, case in ipairs(CASES) do
    it(case.name .. ": " .. case.kind .. " error, nothing written, nothing left", function()
      local c = new_client(case.client)
      srv:fault(case.fault)
      local res, err = call(c, case, dir .. "/new/folder/x.png")
      check_error(case, res, err)
      assert.equals(case.requests, #srv:requests())
      -- a retried request's error says how many attempts were made
      assert.equals(case.requests > 1 and case.requests or nil, err.attempts)
      assert.is_false(util.exists(dir .. "/new/folder/x.png"))
      assert.same({}, leftovers(dir))
      assert.same({}, leftovers(dir .. "/new/folder"))
    end)

    it(case.name .. ": an existing file is not clobbered", function()
      local c = new_client(case.client)
      util.write(dir .. "/x.png", "OLD")
      srv:fault(case.fault)
      local res, err = call(c, case, dir .. "/x.png")
      check_error(case, res, err)
      assert.equals("OLD", util.read(dir .. "/x.png"))
      assert.same({ "x.png" }, util.listdir(dir))
    end)
  end

  it("an HTML error page gives a short printable excerpt, not the whole page", function()
    local c = new_client()
    srv:fault{ action = "html", status = 502 }
    local res, err = c:generate{ prompt = "a" }
    assert.is_nil(res)
    assert.equals("http", err.kind)
    assert.equals(502, err.status)
    assert.matches("502 Bad Gateway", err.message, 1, true)
    assert.is_true(#err.message <= 300)
    assert.is_nil(err.message:find("[%c]"))
    assert.matches("^req_", err.request_id)
  end)

  it("a 502 HTML page is retried and the retry succeeds", function()
    local c = new_client{ max_retries = 1 }
    srv:fault{ action = "html", status = 502 }
    local res = assert(c:generate{ prompt = "a", save = dir .. "/ok.png" })
    assert.equals(dir .. "/ok.png", res.images[1].path)
    assert.equals(2, #srv:requests())
    assert.same({ "ok.png" }, util.listdir(dir))
  end)

  it("a 500 storm shorter than max_retries ends in success", function()
    local c = new_client{ max_retries = 2 }
    srv:fault{ action = "status", status = 500, times = 2 }
    local res = assert(c:generate{ prompt = "a", save = dir .. "/storm.png" })
    assert.is_true(util.is_png(util.read(res.images[1].path)))
    local records = srv:requests()
    assert.equals(3, #records)
    assert.equals(500, records[1].status)
    assert.equals(500, records[2].status)
    assert.equals(200, records[3].status)
    assert.same({ "storm.png" }, util.listdir(dir))
  end)

  it("408, 409 and 503 are retried like 500", function()
    local c = new_client{ max_retries = 3 }
    srv:fault{ { action = "status", status = 408 }, { action = "status", status = 409 },
               { action = "status", status = 503 } }
    assert(c:generate{ prompt = "a" })
    assert.equals(4, #srv:requests())
  end)

  it("401, 403, 404 and 422 are never retried", function()
    local c = new_client{ max_retries = 3 }
    for _, status in ipairs{ 401, 403, 404, 422 } do
      srv:reset()
      srv:fault{ action = "error", status = status }
      local res, err = c:generate{ prompt = "a" }
      assert.is_nil(res)
      assert.equals("api", err.kind)
      assert.equals(status, err.status)
      assert.equals(1, #srv:requests())
    end
  end)

  it("x-should-retry: false stops a retry the status would allow", function()
    local c = new_client{ max_retries = 2 }
    srv:fault{ action = "status", status = 500, headers = { ["x-should-retry"] = "false" } }
    local res, err = c:generate{ prompt = "a" }
    assert.is_nil(res)
    assert.equals(500, err.status)
    assert.equals(1, #srv:requests())
  end)

  it("a 429 with retry-after is retried after the time asked, then succeeds", function()
    local c = new_client{ max_retries = 1 }
    srv:fault{ action = "error", status = 429, headers = { ["retry-after"] = "1" } }
    local res = assert(c:generate{ prompt = "a", save = dir .. "/after.png" })
    assert.equals(dir .. "/after.png", res.images[1].path)
    local records = srv:requests()
    assert.equals(2, #records)
    assert.equals(429, records[1].status)
    assert.equals(200, records[2].status)
    -- the server's own clock: the retry came no sooner than it was told
    assert.is_true(records[2].time - records[1].time >= 0.95)
  end)

  it("a 429 with retry-after-ms is retried after the milliseconds asked", function()
    local c = new_client{ max_retries = 1 }
    srv:fault{ action = "error", status = 429, headers = { ["retry-after-ms"] = "1300" } }
    assert(c:generate{ prompt = "a" })
    local records = srv:requests()
    assert.equals(2, #records)
    -- longer than the default first backoff (at most 0.5 s): the header won
    assert.is_true(records[2].time - records[1].time >= 1.25)
  end)

  it("a 429 without retries left returns the error with retry_after", function()
    local c = new_client()
    srv:fault{ action = "error", status = 429, headers = { ["retry-after"] = "7" } }
    local res, err = c:generate{ prompt = "a" }
    assert.is_nil(res)
    assert.equals("api", err.kind)
    assert.equals(429, err.status)
    assert.equals("rate_limit_exceeded", err.code)
    assert.equals(7, err.retry_after)
    assert.equals(1, #srv:requests())
  end)

  it("a timeout is retried and the retry succeeds", function()
    local c = new_client{ max_retries = 1, timeout = 1 * SLOW }
    srv:fault{ action = "delay", delay = 4 * SLOW }
    local res = assert(c:generate{ prompt = "a", save = dir .. "/late.png" })
    assert.is_true(util.is_png(util.read(res.images[1].path)))
    assert.equals(2, #srv:requests())
    assert.same({ "late.png" }, util.listdir(dir))
  end)

  describe("an image download (dall-e url answers, saved)", function()
    local function gets()
      local n = 0
      for _, r in ipairs(srv:requests()) do
        if r.method == "GET" then n = n + 1 end
      end
      return n
    end

    local function generate(c)
      return c:generate{ model = "dall-e-2", prompt = "a", size = "256x256", response_format = "url",
                         save = dir .. "/dl/x.png" }
    end

    it("answered 503 is fetched again and saved", function()
      local c = new_client{ max_retries = 2 }
      srv:fault{ action = "status", status = 503, path = "/files/", times = 1 }
      local res = assert(generate(c))
      assert.is_true(util.is_png(util.read(res.images[1].path)))
      assert.equals(2, gets())
      assert.same({ "x.png" }, util.listdir(dir .. "/dl"))
    end)

    it("reset mid-body is fetched again into a fresh file", function()
      local c = new_client{ max_retries = 1 }
      srv:fault{ action = "reset", path = "/files/", times = 1 }
      local res = assert(generate(c))
      local record = srv:requests()[#srv:requests()]
      assert.equals(record.images[1] and srv:image(record.images[1]), util.read(res.images[1].path))
      assert.equals(2, gets())
      assert.same({ "x.png" }, util.listdir(dir .. "/dl"))
    end)

    it("failing every time returns the image urls with the error and leaves no file", function()
      local c = new_client{ max_retries = 1 }
      srv:fault{ action = "status", status = 500, path = "/files/", times = 5 }
      local res, err = generate(c)
      assert.is_nil(res)
      assert.equals("http", err.kind)
      assert.equals(500, err.status)
      assert.matches("^http://127%.0%.0%.1:%d+/files/", err.urls[1])
      assert.equals(2, gets())
      assert.same({}, util.listdir(dir .. "/dl"))
    end)

    it("answered 404 is not fetched again", function()
      local c = new_client{ max_retries = 2 }
      srv:fault{ action = "status", status = 404, path = "/files/", times = 5 }
      local res, err = generate(c)
      assert.is_nil(res)
      assert.equals("http", err.kind)
      assert.equals(1, gets())
    end)
  end)

  it("a per-call timeout overrides the client's", function()
    local c = new_client{ timeout = 60 }
    srv:fault{ action = "delay", delay = 3 * SLOW }
    local res, err = c:generate{ prompt = "a", timeout = 0.5 * SLOW }
    assert.is_nil(res)
    assert.equals("timeout", err.kind)
    assert.equals(1, #srv:requests())
  end)

  it("a reset mid-body is retried and the retry succeeds", function()
    local c = new_client{ max_retries = 1 }
    srv:fault{ action = "reset", after_bytes = 3000 }
    local res = assert(c:generate{ prompt = "a", save = dir .. "/r.png" })
    assert.is_true(util.is_png(util.read(res.images[1].path)))
    assert.equals(2, #srv:requests())
    assert.same({ "r.png" }, util.listdir(dir))
  end)

  it("a truncated SSE stream is retried and the retry succeeds", function()
    local c = new_client{ max_retries = 1 }
    srv:fault{ action = "truncate" }
    local partials = 0
    local res = assert(c:generate{ prompt = "a", stream = true, partial_images = 1, save = dir .. "/s.png",
                                   on_partial = function() partials = partials + 1 end })
    assert.is_true(util.is_png(util.read(res.images[1].path)))
    assert.equals(2, #srv:requests())
    assert.same({ "s.png" }, util.listdir(dir))
    assert.is_true(partials >= 1)
  end)

  it("connection refused is a network error, after the retries", function()
    local port = closed_port()
    local c = new_client{ base_url = "http://127.0.0.1:" .. port .. "/v1", max_retries = 1 }
    local res, err = c:generate{ prompt = "a", save = dir .. "/refused.png" }
    assert.is_nil(res)
    assert.equals("network", err.kind)
    assert.is_string(err.message)
    assert.same({}, util.listdir(dir))
  end)

  it("connection refused with max_retries = 0 fails at once", function()
    local port = closed_port()
    local c = new_client{ base_url = "http://127.0.0.1:" .. port .. "/v1" }
    local job = c:start("generate", { prompt = "a" })
    local res, err = job:wait(30 * SLOW)
    assert.is_nil(res)
    assert.equals("network", err.kind)
    assert.equals("done", job:status())
  end)

  it("with n = 2, a failure in the second image leaves neither file", function()
    local c = new_client()
    local whole = assert(c:generate{ prompt = "two", n = 2 })
    local first, second = #whole.images[1].bytes, #whole.images[2].bytes
    -- past the first image's base64, half way into the second's
    local cut = math.floor(first * 4 / 3) + math.floor(second * 2 / 3) + 200
    srv:reset()
    srv:fault{ action = "reset", after_bytes = cut }
    local res, err = c:generate{ prompt = "two", n = 2, save = dir .. "/pair.png" }
    assert.is_nil(res)
    assert.equals("network", err.kind)
    assert.same({}, util.listdir(dir))
  end)

  it("with n = 2, bad base64 in the first image keeps both old files", function()
    local c = new_client()
    util.write(dir .. "/pair-1.png", "OLD1")
    util.write(dir .. "/pair-2.png", "OLD2")
    srv:fault{ action = "bad_base64" }
    local res, err = c:generate{ prompt = "two", n = 2, save = dir .. "/pair.png" }
    assert.is_nil(res)
    assert.equals("decode", err.kind)
    assert.equals("OLD1", util.read(dir .. "/pair-1.png"))
    assert.equals("OLD2", util.read(dir .. "/pair-2.png"))
    assert.same({ "pair-1.png", "pair-2.png" }, util.listdir(dir))
  end)

  it("a cancelled transfer keeps the old file and leaves no temporary file", function()
    local c = new_client()
    util.write(dir .. "/x.png", "OLD")
    -- 256 bytes a second: still in flight when cancelled, however slow the machine
    srv:fault{ action = "drip", chunk = 256, interval = 1 }
    local job = c:start("generate", { prompt = "a", save = dir .. "/x.png" })
    for _ = 1, 20 do
      c:poll()
      job:wait(0.02)
    end
    assert.is_true(job:cancel())
    local res, err = job:result()
    assert.is_nil(res)
    assert.equals("cancelled", err.kind)
    assert.equals("OLD", util.read(dir .. "/x.png"))
    assert.same({ "x.png" }, util.listdir(dir))
  end)

  describe("an upload the server refuses half way", function()
    local big_png

    before_each(function()
      srv:config{ image_bytes = 3000000 }
      local c = new_client()
      big_png = dir .. "/big.png"
      assert(c:generate{ prompt = "big input", save = big_png })
      srv:reset()
    end)

    it("is a network error with max_retries = 0", function()
      local c = new_client()
      srv:fault{ action = "drop_upload" }
      local res, err = c:edit{ image = big_png, prompt = "edit", save = dir .. "/out/edited.png" }
      assert.is_nil(res)
      assert.equals("network", err.kind)
      assert.equals(1, #srv:requests())
      assert.is_false(util.exists(dir .. "/out/edited.png"))
      assert.same({}, leftovers(dir))
    end)

    it("is retried, and the retry sends the whole file again", function()
      local c = new_client{ max_retries = 1 }
      srv:fault{ action = "drop_upload" }
      local res = assert(c:edit{ image = big_png, prompt = "edit", save = dir .. "/edited.png" })
      assert.is_true(util.is_png(util.read(res.images[1].path)))
      local records = srv:requests()
      assert.equals(2, #records)
      assert.equals("drop_upload", records[1].fault)
      local size = #util.read(big_png)
      local image_part
      for _, part in ipairs(records[2].parts) do
        if part.name == "image" or part.name == "image[]" then image_part = part end
      end
      assert.is_table(image_part)
      assert.equals(size, image_part.size)
    end)
  end)

  describe("the output folder", function()
    it("is created when missing", function()
      local c = new_client()
      local res = assert(c:generate{ prompt = "a", save = dir .. "/a/b/c/x.png" })
      assert.equals(dir .. "/a/b/c/x.png", res.images[1].path)
      assert.same({ "x.png" }, util.listdir(dir .. "/a/b/c"))
    end)

    it("under a regular file is an io error and the file is untouched", function()
      local c = new_client()
      util.write(dir .. "/afile", "I am a file")
      local res, err = c:generate{ prompt = "a", save = dir .. "/afile/sub/x.png" }
      assert.is_nil(res)
      assert.equals("io", err.kind)
      assert.matches("afile", err.message, 1, true)
      assert.equals("I am a file", util.read(dir .. "/afile"))
      assert.same({ "afile" }, util.listdir(dir))
    end)

    it("that is itself a regular file is an io error", function()
      local c = new_client()
      util.write(dir .. "/afile", "I am a file")
      local res, err = c:generate{ prompt = "a", save = dir .. "/afile/x.png" }
      assert.is_nil(res)
      assert.equals("io", err.kind)
      assert.equals("I am a file", util.read(dir .. "/afile"))
    end)

    it("that is a directory at the target path is an io error, the folder untouched", function()
      local c = new_client()
      run("mkdir -p " .. shell_quote(dir .. "/x.png/inner"))
      local res, err = c:generate{ prompt = "a", save = dir .. "/x.png" }
      assert.is_nil(res)
      assert.equals("io", err.kind)
      assert.same({ "inner" }, util.listdir(dir .. "/x.png"))
      assert.same({ "x.png" }, util.listdir(dir))
    end)

    if not ROOT then
      it("that is read-only (chmod 555) is an io error", function()
        local c = new_client()
        run("mkdir -p " .. shell_quote(dir .. "/ro") .. " && chmod 555 " .. shell_quote(dir .. "/ro"))
        local res, err = c:generate{ prompt = "a", save = dir .. "/ro/x.png" }
        run("chmod 755 " .. shell_quote(dir .. "/ro"))
        assert.is_nil(res)
        assert.equals("io", err.kind)
        assert.same({}, util.listdir(dir .. "/ro"))
      end)
    end

    if TMPFS then
      it("on a read-only filesystem is an io error", function()
        local c = new_client()
        local mnt = dir .. "/ro"
        run("mkdir -p " .. shell_quote(mnt))
        local _, code = run("mount -t tmpfs -o size=1m,ro tmpfs " .. shell_quote(mnt))
        assert.equals(0, code)
        local ok, res, err = pcall(c.generate, c, { prompt = "a", save = mnt .. "/x.png" })
        local listing = util.listdir(mnt)
        run("umount " .. shell_quote(mnt))
        assert.is_true(ok, res)
        assert.is_nil(res)
        assert.equals("io", err.kind)
        assert.same({}, listing)
      end)

      it("on a full filesystem is an io error and leaves no partial file", function()
        srv:config{ image_bytes = 2000000 }
        local c = new_client()
        local mnt = dir .. "/small"
        run("mkdir -p " .. shell_quote(mnt))
        local _, code = run("mount -t tmpfs -o size=1m tmpfs " .. shell_quote(mnt))
        assert.equals(0, code)
        util.write(mnt .. "/x.png", "OLD")
        local ok, res, err = pcall(c.generate, c, { prompt = "a", save = mnt .. "/x.png" })
        local listing = util.listdir(mnt)
        local old = util.read(mnt .. "/x.png")
        run("umount " .. shell_quote(mnt))
        assert.is_true(ok, res)
        assert.is_nil(res)
        assert.equals("io", err.kind)
        assert.same({ "x.png" }, listing)
        assert.equals("OLD", old)
      end)
    else
      pending("read-only and full filesystems (needs root and permission to mount a tmpfs)")
    end

    it("past the file-size limit (a full disk) is an io error and leaves no partial file", function()
      srv:config{ image_bytes = 2000000 }
      local script = dir .. "/child.lua"
      util.write(script, [[
        local gptimage = require "gptimage"
        local c = gptimage.new{ api_key = "sk-test", base_url = arg[1], max_retries = 0 }
        local res, err = c:generate{ prompt = "big", save = arg[2] }
        io.write(res and "ok" or (tostring(err.kind) .. "|" .. tostring(err)))
        c:close()
      ]])
      run("mkdir -p " .. shell_quote(dir .. "/out"))
      util.write(dir .. "/out/x.png", "OLD")
      local lua = os.getenv("GPTIMAGE_LUA") or "lua5.4"
      -- SIGXFSZ ignored (inherited through exec): the write fails with EFBIG
      local out = run("sh -c " .. shell_quote("trap '' XFSZ; ulimit -f 512; exec " .. shell_quote(lua) .. " "
        .. shell_quote(script) .. " " .. shell_quote(srv.base_url) .. " " .. shell_quote(dir .. "/out/x.png")))
      assert.matches("^io|", out)
      assert.equals("OLD", util.read(dir .. "/out/x.png"))
      assert.same({ "x.png" }, util.listdir(dir .. "/out"))
    end)
  end)

  it("a malformed SSE event reaches no on_partial and no file", function()
    local c = new_client()
    local partials = 0
    srv:fault{ action = "sse_malformed" }
    local res, err = c:generate{ prompt = "a", stream = true, partial_images = 2, save = dir .. "/m.png",
                                 on_partial = function() partials = partials + 1 end }
    assert.is_nil(res)
    assert.equals("decode", err.kind)
    assert.equals(0, partials)
    assert.same({}, util.listdir(dir))
  end)

  it("the same client keeps working after every kind of failure", function()
    local c = new_client()
    for _, case in ipairs(CASES) do
      -- timeouts are slow and the response limit is another client's option;
      -- a request dropped on a reused connection is resent by libcurl itself
      -- (it cannot tell it from an idle connection the server had closed)
      if case.kind ~= "timeout" and not (case.client and case.client.max_response_bytes)
          and case.fault.action ~= "drop" then
        srv:reset()
        local fault = {}
        for k, v in pairs(case.fault) do fault[k] = v end
        fault.times = 1
        srv:fault(fault)
        local opts = { prompt = "x", max_retries = 0 }
        for k, v in pairs(case.opts or {}) do opts[k] = v end
        local res, err = c:generate(opts)
        assert.is_nil(res, case.name)
        assert.equals(case.kind, err.kind, case.name)
        local after = assert(c:generate{ prompt = "and now a good one", save = dir .. "/good.png" })
        assert.is_true(util.is_png(util.read(after.images[1].path)), case.name)
      end
    end
    assert.same({ "good.png" }, util.listdir(dir))
  end)
end)
