-- HTTP/2 over TLS, as the real API speaks it: the fake server behind its
-- HTTP/2 front (spec/server/h2_front.mjs) with a certificate made for this
-- run. Concurrent jobs share one connection, and retries, Retry-After,
-- cancellation, partial images and broken answers behave as over HTTP/1.1.
local gptimage = require "gptimage"
local fake = require "helpers.server"
local util = require "helpers.util"

local SLOW = os.getenv("GPTIMAGE_VALGRIND") == "1" and 10 or 1

describe("over HTTP/2 with TLS", function()
  local srv, client, dir

  setup(function() srv = fake.start{ http2 = true } end)
  teardown(function() srv:stop() end)
  before_each(function()
    srv:reset()
    dir = util.tmpdir()
    client = gptimage.new{ api_key = "sk-test", base_url = srv.base_url, ca_file = srv.ca_file,
                           max_retries = 0, timeout = 60 * SLOW }
  end)
  after_each(function()
    client:close()
    util.rmtree(dir)
  end)

  -- Sessions the front has seen so far; a test counts the ones it opened.
  local function sessions()
    return srv:h2_stats().sessions
  end

  local function connection_of(record)
    return record.headers["x-h2-connection"]
  end

  it("speaks HTTP/2 to the front and gets the fake's answer", function()
    local before = sessions()
    local res = assert(client:generate{ prompt = "a", size = "1024x1024", save = dir .. "/a.png" })
    assert.is_true(util.is_png(util.read(res.images[1].path)))
    local record = srv:last_request()
    assert.is_string(connection_of(record))
    assert.is_string(record.headers["x-h2-stream"])
    assert.equals("Bearer sk-test", record.headers.authorization)
    assert.equals(before + 1, sessions())
    -- the pass on another libcurl (scripts/test.sh) checks it runs on that one
    local libcurl = os.getenv("GPTIMAGE_EXPECT_LIBCURL")
    if libcurl then
      assert.matches("libcurl " .. libcurl:gsub("%p", "%%%0"), record.headers["user-agent"])
    end
  end)

  it("refuses a server its CA does not vouch for", function()
    local other = gptimage.new{ api_key = "sk-test", base_url = srv.base_url, max_retries = 0 }
    local res, err = other:generate{ prompt = "a" }
    other:close()
    assert.is_nil(res)
    assert.equals("network", err.kind)
    assert.same({}, srv:requests())
  end)

  it("multiplexes 64 concurrent jobs over one connection", function()
    srv:config{ delay = 0.5 }
    local before = sessions()
    local jobs = {}
    for index = 1, 64 do
      jobs[index] = client:start("generate", { prompt = "job " .. index, size = "1024x1024",
                                               save = string.format("%s/%02d.png", dir, index) })
    end
    for index, job in ipairs(jobs) do
      local res, err = job:wait()
      assert(res, tostring(err))
      assert.equals(string.format("%s/%02d.png", dir, index), res.images[1].path)
    end
    local stats = srv:h2_stats()
    assert.equals(before + 1, stats.sessions)
    assert.is_true(stats.max_open_streams >= 2)
    local records = srv:requests()
    assert.equals(64, #records)
    local streams = {}
    for _, record in ipairs(records) do
      assert.equals(connection_of(records[1]), connection_of(record))
      streams[record.headers["x-h2-stream"]] = true
    end
    local distinct = 0
    for _ in pairs(streams) do distinct = distinct + 1 end
    assert.equals(64, distinct)
    assert.equals(64, #util.listdir(dir))
  end)

  it("a kept connection the server has closed: the request goes on a new one, no retry spent", function()
    local before = sessions()
    -- five rounds: whether libcurl notices the close before it sends on the
    -- connection is a race; either way each request must succeed, with
    -- max_retries = 0, and reach the fake exactly once
    for round = 1, 5 do
      local res, err = client:generate{ prompt = "round " .. round, size = "1024x1024" }
      assert(res, err and err.message)
      assert.equals(1, srv:h2_close())
    end
    assert.equals(before + 5, sessions())
    local records = srv:requests()
    assert.equals(5, #records)
    local seen = {}
    for _, record in ipairs(records) do
      assert.is_nil(seen[connection_of(record)])
      seen[connection_of(record)] = true
    end
  end)

  it("fetches the images of a url answer over HTTP/2 as well, on the same connection", function()
    local res = assert(client:generate{ model = "dall-e-2", prompt = "a", size = "256x256", n = 2,
                                        response_format = "url", save = dir .. "/u.png" })
    assert.equals(2, #res.images)
    for _, image in ipairs(res.images) do
      assert.is_true(util.is_png(util.read(image.path)))
    end
    local records = srv:requests()
    assert.equals(3, #records)
    assert.equals("POST", records[1].method)
    for index = 2, 3 do
      assert.equals("GET", records[index].method)
      assert.matches("^/files/", records[index].path)
      assert.equals(connection_of(records[1]), connection_of(records[index]))
    end
  end)

  it("retries a 500 on the same connection", function()
    client:close()
    client = gptimage.new{ api_key = "sk-test", base_url = srv.base_url, ca_file = srv.ca_file,
                           max_retries = 2 }
    srv:fault{ action = "status", status = 500, times = 2, headers = { ["retry-after-ms"] = "10" } }
    local before = sessions()
    assert(client:generate{ prompt = "a" })
    local records = srv:requests()
    assert.equals(3, #records)
    assert.equals(500, records[1].status)
    assert.equals(200, records[3].status)
    assert.equals(connection_of(records[1]), connection_of(records[3]))
    assert.equals(before + 1, sessions())
  end)

  it("returns a 429's Retry-After when no retry is left", function()
    srv:fault{ action = "error", status = 429, headers = { ["retry-after"] = "7" } }
    local res, err = client:generate{ prompt = "a" }
    assert.is_nil(res)
    assert.equals("api", err.kind)
    assert.equals(429, err.status)
    assert.equals(7, err.retry_after)
  end)

  it("cancels one stream and keeps the connection for the next job", function()
    srv:fault{ action = "delay", delay = 30 }
    local before = sessions()
    local job = client:start("generate", { prompt = "slow", save = dir .. "/c.png" })
    local polls = 0
    while #srv:requests() == 0 and polls < 2000 do
      job:wait(0.01)
      polls = polls + 1
    end
    assert.equals(1, #srv:requests())
    assert.is_true(job:cancel())
    local res, err = job:result()
    assert.is_nil(res)
    assert.equals("cancelled", err.kind)
    assert(client:generate{ prompt = "next" })
    local records = srv:requests()
    assert.equals(connection_of(records[1]), connection_of(records[2]))
    assert.equals(before + 1, sessions())
    assert.same({}, util.listdir(dir))
  end)

  it("delivers partial images as they stream", function()
    local partials = {}
    local res, err = client:generate{ prompt = "a", stream = true, partial_images = 2,
                                      on_partial = function(image, index) partials[#partials + 1] = index end }
    assert.is_nil(err)
    assert.same({ 0, 1 }, partials)
    assert.is_true(util.is_png(res.images[1].bytes))
  end)

  it("a stream reset half way is a network error and leaves no file", function()
    srv:config{ image_bytes = 3000000 }
    srv:fault{ action = "reset" }
    local res, err = client:generate{ prompt = "a", save = dir .. "/r.png" }
    assert.is_nil(res)
    assert.equals("network", err.kind)
    assert.same({}, util.listdir(dir))
    assert(client:generate{ prompt = "again", save = dir .. "/r.png" })
    assert.same({ "r.png" }, util.listdir(dir))
  end)

  it("a big image arrives whole through HTTP/2 flow control", function()
    srv:config{ image_bytes = 6000000 }
    local res = assert(client:generate{ prompt = "big", save = dir .. "/big.png" })
    local record = srv:last_request()
    assert.equals(srv:image(record.images[1]), util.read(res.images[1].path))
    local bytes = assert(client:generate{ prompt = "big bytes" })
    assert.equals(srv:image(srv:last_request().images[1]), bytes.images[1].bytes)
  end)
  -- libcurl 8 reads one 16 KiB chunk of a stream per call and asks to be
  -- called again at once: a poll goes on while it asks and the budget
  -- lasts, so a game polling once a frame is not held to 16 KiB a frame.
  -- Counted in bytes per poll: the data piles up between polls, and one
  -- poll of them at least takes far more than a chunk.
  it("a poll with budget left takes more than one chunk of a stream", function()
    local image_bytes = 3000000
    srv:config{ image_bytes = image_bytes }
    local job = client:start("generate", { prompt = "frames" })
    local last, most, polls, length = 0, 0, 0, nil
    while not job:done() and polls < 2000 do
      gptimage.os.sleep(0.05)
      client:poll(30)
      polls = polls + 1
      local received, expected = job:progress()
      length = length or expected
      -- the poll that ends the job took the rest of the body (all of it,
      -- more than the image, when no poll before saw the headers)
      if job:done() then received = length or image_bytes end
      if received - last > most then most = received - last end
      last = received
    end
    local res = assert(job:result())
    assert.equals(srv:image(srv:last_request().images[1]), res.images[1].bytes)
    assert.is_true(most > 256 * 1024, string.format("at most %d bytes in one poll, %d polls", most, polls))
  end)
end)
