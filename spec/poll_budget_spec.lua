-- client:poll([seconds]) does a bounded amount of work: past its budget a
-- transfer pauses until the next poll, and wait goes at full speed. Proved
-- by counting work (bytes taken per poll, polls needed), never by timing.
local gptimage = require "gptimage"
local fake = require "helpers.server"
local util = require "helpers.util"

-- No piece libcurl hands over is bigger than the module's receive buffer.
local MAX_PIECE = 64 * 1024
local IMAGE_BYTES = 3000000

local function pause_a_little()
  gptimage.os.sleep(0.02)
end

local function budget_cases(name, start)
  describe(name, function()
    local srv, client, dir

    setup(function()
      srv, client = start()
    end)
    teardown(function()
      client:close()
      srv:stop()
    end)
    before_each(function()
      srv:reset()
      srv:config{ image_bytes = IMAGE_BYTES }
      dir = util.tmpdir()
    end)
    after_each(function() util.rmtree(dir) end)

    for _, mode in ipairs{ "bytes", "save" } do
      it("poll(0) takes one piece at a time, then wait finishes at full speed (" .. mode .. ")", function()
        local job = client:start("generate", { prompt = "budget", save = mode == "save" and dir .. "/b.png" or nil })
        local polls, last = 0, 0
        -- data piles up between polls, yet each takes at most one piece, so
        -- twenty polls cannot finish a 4 MB body
        for _ = 1, 20 do
          local pending, cut = client:poll(0)
          polls = polls + 1
          assert.equals(1, pending)
          assert.is_boolean(cut)
          local received = job:progress()
          assert.is_true(received - last <= MAX_PIECE, string.format("one poll took %d bytes", received - last))
          last = received
          pause_a_little()
        end
        assert.is_false(job:done())
        local received, expected = job:progress()
        if expected then
          assert.is_true(expected > IMAGE_BYTES and received < expected)
        end
        local res = assert(job:wait())
        local record = srv:last_request()
        local bytes = mode == "save" and util.read(res.images[1].path) or res.images[1].bytes
        assert.equals(srv:image(record.images[1]), bytes)
      end)
    end

    it("a budget spreads one big answer over many polls, each finishing what it took", function()
      local job = client:start("generate", { prompt = "spread" })
      local polls, cut_seen = 0, false
      while not job:done() and polls < 100000 do
        local _, cut = client:poll(0.0002)
        cut_seen = cut_seen or cut
        polls = polls + 1
      end
      assert.is_true(job:done())
      assert.is_true(polls > 1)
      local res = assert(job:result())
      assert.equals(srv:image(srv:last_request().images[1]), res.images[1].bytes)
    end)

    -- The client's timeout counts while a transfer waits paused between
    -- polls: a server that stops sending half way still ends the job. The
    -- first 1 MB of the body comes at once, then nothing for longer than the
    -- test.
    it("a transfer the budget paused still times out when the server stalls mid-body", function()
      srv:fault{ action = "drip", after_bytes = 1000000, chunk = 65536, interval = 60 }
      local c = gptimage.new{ api_key = "sk-test", base_url = srv.base_url, ca_file = srv.ca_file,
                              max_retries = 0, timeout = 1 }
      local job = c:start("generate", { prompt = "stall" })
      local polls, cut_seen, most = 0, false, 0
      -- a guard, not a clock: far more polls than a one-second timeout needs
      while not job:done() and polls < 100000 do
        local _, cut = c:poll(0)
        cut_seen = cut_seen or cut
        most = math.max(most, (job:progress()))
        polls = polls + 1
        if not cut then pause_a_little() end
      end
      c:close()
      assert.is_true(job:done())
      assert.is_true(cut_seen)
      assert.is_true(most >= 1000000 and most < 1100000, "received " .. most)
      local res, err = job:result()
      assert.is_nil(res)
      assert.equals("timeout", err.kind)
    end)

    it("a transfer paused between polls for less than the timeout does not time out", function()
      local c = gptimage.new{ api_key = "sk-test", base_url = srv.base_url, ca_file = srv.ca_file,
                              max_retries = 0, timeout = 5 }
      local job = c:start("generate", { prompt = "paused" })
      for _ = 1, 20 do
        c:poll(0)
        pause_a_little()
      end
      local res, err = job:wait()
      c:close()
      assert(res, tostring(err))
      assert.equals(srv:image(srv:last_request().images[1]), res.images[1].bytes)
    end)

    -- Once a poll's budget is spent, every running transfer is held (both
    -- directions) until a later poll resumes it: an edit still sending its
    -- image goes on sending in later polls, and every held download ends.
    it("a tiny budget holds uploads and downloads alike, and every job ends whole", function()
      local png = assert(client:generate{ prompt = "upload" }).images[1].bytes
      local sent_sha = srv:last_request().images[1]
      srv:reset()
      srv:config{ image_bytes = IMAGE_BYTES }
      local jobs = {}
      for index = 1, 3 do
        jobs[index] = client:start("generate", { prompt = "held " .. index,
                                                 save = index == 2 and dir .. "/held.png" or nil })
      end
      jobs[4] = client:start("edit", { image = png, prompt = "held upload" })
      local polls, pending = 0, #jobs
      while pending > 0 and polls < 400000 do
        local cut
        pending, cut = client:poll(0.0001)
        polls = polls + 1
        if not cut then gptimage.os.sleep(0.001) end
      end
      assert.equals(0, pending, "jobs still running after " .. polls .. " polls")
      assert.is_true(polls > 4)
      local records = srv:requests()
      assert.equals(4, #records)
      for index, job in ipairs(jobs) do
        local res = assert(job:result())
        local bytes = res.images[1].bytes or util.read(res.images[1].path)
        local record
        for _, r in ipairs(records) do
          if r.path:match(index == 4 and "edits$" or "generations$") and
            (index == 4 or r.json.prompt == "held " .. index) then
            record = r
          end
        end
        assert.equals(srv:image(record.images[1]), bytes)
      end
      local edit
      for _, r in ipairs(records) do
        if r.path:match("edits$") then edit = r end
      end
      local part
      for _, p in ipairs(edit.parts) do
        if p.name == "image" or p.name == "image[]" then part = p end
      end
      assert.equals(#png, part.size)
      assert.equals(sent_sha, part.sha256)
    end)

    it("poll without a budget argument returns the pending count and whether it was cut", function()
      local pending, cut = client:poll()
      assert.equals(0, pending)
      assert.is_false(cut)
      assert.has_error(function() client:poll(-1) end)
      assert.has_error(function() client:poll("soon") end)
    end)
  end)
end

budget_cases("the poll budget over HTTP/1.1", function()
  local srv = fake.start{}
  return srv, gptimage.new{ api_key = "sk-test", base_url = srv.base_url, max_retries = 0 }
end)

budget_cases("the poll budget over HTTP/2", function()
  local srv = fake.start{ http2 = true }
  return srv, gptimage.new{ api_key = "sk-test", base_url = srv.base_url, ca_file = srv.ca_file, max_retries = 0 }
end)

-- Several big answers on one HTTP/2 connection, polled back to back with the
-- default budget, as a game does. libcurl 7.88 stops decoding a connection's
-- input while one stream's buffer is full; when that stream's transfer then
-- ends on its last bytes, the frames behind them (the other streams' data
-- and ends) wait in libcurl for a socket event that never comes, unless the
-- module nudges the transfers left (transfer.h gi_transfer_nudge). Whether
-- a given batch meets that is up to the scheduler, so many batches run.
-- A stalled job never fails by itself (it would wait for its timeout): the
-- loop gives up after many polls in a row in which no job received a byte
-- or ended, resting a millisecond between such polls, so that a stall
-- fails here instead of hanging the suite.
describe("the default budget over a shared HTTP/2 connection", function()
  local BATCHES = tonumber(os.getenv("GPTIMAGE_H2_BATCHES") or "") or 40
  local JOBS = 4
  local IDLE_POLLS = 20000
  local srv, client, dir

  setup(function()
    srv = fake.start{ http2 = true }
    client = gptimage.new{ api_key = "sk-test", base_url = srv.base_url, ca_file = srv.ca_file, max_retries = 0 }
  end)
  teardown(function()
    client:close()
    srv:stop()
  end)
  before_each(function()
    srv:reset()
    srv:config{ image_bytes = IMAGE_BYTES }
    dir = util.tmpdir()
  end)
  after_each(function() util.rmtree(dir) end)

  -- bytes received by the jobs still running, plus a step for each that ended
  local function progress(jobs)
    local sum = 0
    for _, job in ipairs(jobs) do
      if job:done() then
        sum = sum + 1e12
      else
        sum = sum + job:progress()
      end
    end
    return sum
  end

  it("every job of every batch ends, in bytes and save modes alike", function()
    local expected
    for batch = 1, BATCHES do
      local jobs = {}
      for index = 1, JOBS do
        local save = index % 2 == 0 and string.format("%s/%d-%d.png", dir, batch, index) or nil
        jobs[index] = client:start("generate", { prompt = "batch " .. batch .. " job " .. index, save = save })
      end
      local idle, last, pending = 0, -1, JOBS
      while pending > 0 and idle < IDLE_POLLS do
        local cut
        pending, cut = client:poll()
        local now = progress(jobs)
        if now ~= last then
          idle, last = 0, now
        else
          idle = idle + 1
          if not cut then gptimage.os.sleep(0.001) end
        end
      end
      local stuck = {}
      for index, job in ipairs(jobs) do
        if not job:done() then
          local received, expected = job:progress()
          stuck[#stuck + 1] = string.format("job %d: %d of %s bytes", index, received, tostring(expected))
        end
      end
      assert.equals(0, #stuck, string.format("batch %d stalled: %s", batch, table.concat(stuck, ", ")))
      -- the fake sends the same noise image of IMAGE_BYTES to every request
      expected = expected or assert(srv:image(srv:last_request().images[1]))
      for _, job in ipairs(jobs) do
        local res = assert(job:result())
        local bytes = res.images[1].bytes or util.read(res.images[1].path)
        assert.is_true(bytes == expected, "an image arrived different from the server's")
      end
    end
    local records = srv:requests()
    assert.equals(BATCHES * JOBS, #records)
    for _, record in ipairs(records) do
      assert.equals(records[1].images[1], record.images[1])
    end
  end)
end)
