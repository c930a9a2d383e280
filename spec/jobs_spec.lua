-- The non-blocking half: start/poll/wait/cancel, callbacks and their
-- errors, lifetimes (__gc, __close), batches and concurrency.
local gptimage = require "gptimage"
local fake = require "helpers.server"
local util = require "helpers.util"

-- The most API requests the server had in flight at once.
local function max_in_flight(srv)
  local most = 0
  for _, r in ipairs(srv:requests()) do
    if r.concurrent and r.concurrent + 1 > most then most = r.concurrent + 1 end
  end
  return most
end

describe("jobs", function()
  local srv, client, dir

  setup(function() srv = fake.start{} end)
  teardown(function() srv:stop() end)
  before_each(function()
    srv:reset()
    dir = util.tmpdir()
    client = gptimage.new{ api_key = "sk-test", base_url = srv.base_url, max_retries = 0 }
  end)
  after_each(function()
    client:close()
    util.rmtree(dir)
  end)

  it("start returns at once and poll drives the job to its result", function()
    srv:fault{ action = "delay", delay = 0.5 }
    local job = client:start("generate", { prompt = "a" })
    assert.is_false(job:done())
    assert.equals("running", job:status())
    local polls = 0
    while not job:done() do
      client:poll()
      polls = polls + 1
      os.execute("sleep 0.01")
    end
    -- poll came back while the server waited (more than once: a count that
    -- holds however slowly a loaded machine runs the loop)
    assert.is_true(polls > 1)
    local res, err = job:result()
    assert.is_nil(err)
    assert.is_true(util.is_png(res.images[1].bytes))
  end)

  it("wait with a time limit returns a pending timeout and the job goes on", function()
    srv:fault{ action = "delay", delay = 1 }
    local job = client:start("generate", { prompt = "a" })
    local res, err = job:wait(0.05)
    assert.is_nil(res)
    assert.equals("timeout", err.kind)
    assert.is_true(err.pending)
    res, err = job:wait()
    assert.is_nil(err)
    assert.is_table(res)
  end)

  it("runs on_done from poll with res, err", function()
    local got
    local job = client:start("generate", { prompt = "a", on_done = function(res, err) got = { res, err } end })
    job:wait()
    assert.is_table(got)
    assert.is_table(got[1])
    assert.is_nil(got[2])
  end)

  it("re-raises a callback error from the poll that ran it", function()
    client:start("generate", { prompt = "a", on_done = function() error("boom in callback") end })
    local ok, msg
    for _ = 1, 2000 do
      ok, msg = pcall(client.poll, client)
      if not ok then break end
      os.execute("sleep 0.005")
    end
    assert.is_false(ok)
    assert.matches("boom in callback", tostring(msg))
    -- the client still works afterwards
    assert(client:generate{ prompt = "b" })
  end)

  it("cancel ends the job with kind cancelled and leaves no file", function()
    srv:fault{ action = "delay", delay = 2 }
    local seen
    local job = client:start("generate", { prompt = "a", save = dir .. "/c.png",
                                           on_done = function(res, err) seen = err end })
    client:poll()
    assert.is_true(job:cancel())
    assert.is_true(job:done())
    local res, err = job:result()
    assert.is_nil(res)
    assert.equals("cancelled", err.kind)
    assert.equals("cancelled", seen.kind)
    assert.same({}, util.listdir(dir))
    assert.is_false(job:cancel())
  end)

  it("cancels a transfer that is streaming into a file and removes the temp file", function()
    srv:config{ image_bytes = 2000000 }
    -- One 64 KiB piece a second: the answer needs more than 30 s, so the
    -- transfer is still in flight when the temp file shows up, however slow
    -- the machine; the loop waits for that file, not for a time.
    srv:fault{ action = "drip", chunk = 65536, interval = 1 }
    local job = client:start("generate", { prompt = "a", save = dir .. "/big.png" })
    for _ = 1, 2000 do
      client:poll()
      if #util.listdir(dir) > 0 then break end
      os.execute("sleep 0.01")
    end
    assert.equals(1, #util.listdir(dir))
    assert.is_nil(util.listdir(dir)[1]:match("^big%.png$"))
    job:cancel()
    assert.same({}, util.listdir(dir))
  end)

  it("a callback that cancels other jobs runs each of their on_done once, in the order cancelled", function()
    srv:fault{ action = "delay", delay = 3, times = -1 }
    local order, calls, slow = {}, {}, {}
    for i = 1, 3 do
      slow[i] = client:start("generate", { prompt = "slow " .. i, on_done = function(res, err)
        calls[i] = (calls[i] or 0) + 1
        order[#order + 1] = i
        assert.is_nil(res)
        assert.equals("cancelled", err.kind)
      end })
    end
    -- not an image request: the delay does not apply to it
    local quick = client:start("request", { path = "batches/none", on_done = function()
      order[#order + 1] = "quick"
      slow[3]:cancel()
      slow[1]:cancel()
      slow[2]:cancel()
    end })
    quick:wait()
    assert.same({ "quick", 3, 1, 2 }, order)
    client:poll()
    for i = 1, 3 do assert.equals(1, calls[i]) end
    assert.equals(0, client:poll())
  end)

  -- A server of its own, so requests left sleeping by earlier tests do
  -- not count as in flight.
  local function with_own_server(fn)
    local own = fake.start{}
    local c = gptimage.new{ api_key = "sk-test", base_url = own.base_url, max_retries = 0 }
    local ok, err = pcall(fn, own, c)
    c:close()
    own:stop()
    assert(ok, err)
  end

  it("runs N delayed jobs at once", function()
    with_own_server(function(own, c)
      own:fault{ action = "delay", delay = 1, times = 6 }
      local jobs = {}
      for i = 1, 6 do jobs[i] = c:start("generate", { prompt = "p" .. i }) end
      for i = 1, 6 do assert(jobs[i]:wait()) end
      -- the server saw all six requests waiting at the same time
      assert.equals(6, max_in_flight(own))
    end)
  end)

  it("batch returns results in order and reports progress", function()
    local progress = {}
    local list = {}
    for i = 1, 7 do list[i] = { op = "generate", prompt = "p" .. i, save = dir .. "/b" .. i .. ".png" } end
    srv:fault{ action = "error", status = 400, message = "bad prompt", code = "bad", times = 1 }
    local results = client:batch(list, { concurrency = 3, on_progress = function(done, total, index, res, err)
      progress[#progress + 1] = { done = done, total = total, index = index, ok = res ~= nil, err = err }
    end })
    assert.equals(7, #results)
    local failed = 0
    for i, r in ipairs(results) do
      if r.err then failed = failed + 1 assert.equals("api", r.err.kind)
      else assert.equals(dir .. "/b" .. i .. ".png", r.res.images[1].path) end
    end
    assert.equals(1, failed)
    assert.equals(7, #progress)
    for i, p in ipairs(progress) do
      assert.equals(i, p.done)
      assert.equals(7, p.total)
    end
  end)

  it("batch never runs more than its concurrency at once", function()
    with_own_server(function(own, c)
      own:fault{ action = "delay", delay = 0.3, times = 6 }
      local list = {}
      for i = 1, 6 do list[i] = { prompt = "p" .. i } end
      local job = c:start("batch", list, { concurrency = 2 })
      local results = assert(job:wait())
      assert.equals(6, #results)
      assert.equals(2, max_in_flight(own))
    end)
  end)

  it("batch raises for a bad entry before any request", function()
    assert.has_error(function()
      client:batch({ { prompt = "ok" }, { prompt = "x", qualty = "low" } })
    end)
    assert.equals(0, #srv:requests())
  end)

  it("keeps a job alive while in flight even if the caller drops it", function()
    local got
    client:start("generate", { prompt = "a", on_done = function(res) got = res end })
    collectgarbage()
    collectgarbage()
    for _ = 1, 2000 do
      client:poll()
      if got then break end
      os.execute("sleep 0.005")
    end
    assert.is_table(got)
  end)

  it("collecting a client with jobs in flight cancels them cleanly", function()
    srv:fault{ action = "delay", delay = 2 }
    do
      local c = gptimage.new{ api_key = "sk-test", base_url = srv.base_url }
      c:start("generate", { prompt = "a", save = dir .. "/gc.png" })
      c:poll()
    end
    collectgarbage()
    collectgarbage()
    assert.same({}, util.listdir(dir))
  end)

  it("close is idempotent and a closed client raises", function()
    local c = gptimage.new{ api_key = "sk-test", base_url = srv.base_url }
    c:close()
    c:close()
    assert.has_error(function() c:generate{ prompt = "a" } end, "gptimage: the client is closed")
    assert.has_error(function() c:poll() end)
  end)

  if _VERSION == "Lua 5.4" then
    it("closes with <close>", function()
      local chunk = assert(load([[
        local gptimage, url = ...
        local kept
        do
          local c <close> = gptimage.new{ api_key = "sk-test", base_url = url }
          kept = c
        end
        return kept
      ]]))
      local c = chunk(gptimage, srv.base_url)
      assert.equals("gptimage.Client (closed)", tostring(c))
    end)
  end

  it("a cancelled job inside a batch is reported as cancelled", function()
    srv:fault{ action = "delay", delay = 2, times = 3 }
    local job = client:start("batch", { { prompt = "a" }, { prompt = "b" }, { prompt = "c" } }, { concurrency = 1 })
    client:poll()
    job:cancel()
    local results = job:result()
    assert.equals(3, #results)
    for _, r in ipairs(results) do assert.equals("cancelled", r.err.kind) end
  end)
end)

-- What the client keeps beside its list of jobs (a count of the jobs not
-- yet delivered, the jobs waiting to retry ordered by due time, the paused
-- transfers) must stay in step with the list through every way a job ends.
describe("jobs waiting to retry", function()
  local srv

  setup(function() srv = fake.start{} end)
  teardown(function() srv:stop() end)
  before_each(function() srv:reset() end)

  -- the server's records of each prompt, in the order they came
  local function by_prompt(records)
    local out = {}
    for _, r in ipairs(records) do
      local prompt = r.json and r.json.prompt
      if prompt then
        out[prompt] = out[prompt] or {}
        table.insert(out[prompt], r)
      end
    end
    return out
  end

  it("poll's pending count follows the undelivered jobs through retries, cancels and failures", function()
    local c = gptimage.new{ api_key = "sk-test", base_url = srv.base_url, max_retries = 5 }
    -- four attempts fail with a status that is retried after 0.2 s, one
    -- with a 400 that is not retried; the others succeed
    srv:fault{ { action = "status", status = 500, times = 4, headers = { ["retry-after-ms"] = "200" } },
               { action = "error", status = 400 } }
    local n = 8
    local jobs, calls, delivered = {}, {}, 0
    for i = 1, n do
      calls[i] = 0
      jobs[i] = c:start("generate", { prompt = "job " .. i, on_done = function()
        calls[i] = calls[i] + 1
        delivered = delivered + 1
      end })
    end
    assert.equals(n, (c:poll(0)) + delivered)
    local cancelled, ncancelled, retrying_seen = {}, 0, 0
    while delivered < n do
      local pending = c:poll()
      assert.equals(n - delivered, pending)
      for i = 1, n do
        -- a job that failed in this poll waits to retry at least until the next
        if jobs[i]:status() == "retrying" and not cancelled[i] then
          retrying_seen = retrying_seen + 1
          if ncancelled < 2 then
            assert.is_true(jobs[i]:cancel())
            cancelled[i] = true
            ncancelled = ncancelled + 1
            assert.equals(1, calls[i]) -- on_done ran in cancel
          end
        end
      end
      gptimage.os.sleep(0.002)
    end
    assert.equals(0, (c:poll()))
    assert.equals(2, ncancelled)
    local ok, failed = 0, 0
    local records = by_prompt(srv:requests())
    for i = 1, n do
      assert.equals(1, calls[i])
      local res, err = jobs[i]:result()
      if cancelled[i] then
        assert.equals("cancelled", err.kind)
        assert.equals(1, #records["job " .. i]) -- cancelled while waiting: never asked again
      elseif res then
        ok = ok + 1
      else
        assert.equals("api", err.kind)
        assert.equals(400, err.status)
        failed = failed + 1
      end
    end
    assert.equals(1, failed)
    assert.equals(n - 3, ok)
    -- every 500 cost one more request, but the two cancelled in their wait
    assert.equals(n + 4 - 2, #srv:requests())
    c:close()
  end)

  it("many jobs due at different times each start again once, never before their time", function()
    local c = gptimage.new{ api_key = "sk-test", base_url = srv.base_url, max_retries = 40 }
    local n = 20
    -- the later a fault is taken, the sooner its retry is due, so that the
    -- order of the retries is not the order of the jobs; each status says
    -- which wait it asked for
    local faults, wait_of = {}, {}
    for i = 1, n do
      wait_of[500 + i] = 0.02 * (n + 1 - i)
      faults[i] = { action = "status", status = 500 + i,
                    headers = { ["retry-after-ms"] = tostring(math.floor(wait_of[500 + i] * 1000 + 0.5)) } }
    end
    srv:fault(faults)
    local delivered = 0
    local jobs = {}
    for i = 1, n do
      jobs[i] = c:start("generate", { prompt = "r" .. i, on_done = function() delivered = delivered + 1 end })
    end
    while delivered < n do
      local pending = c:poll() -- on_done runs inside: read delivered after it
      assert.equals(n - delivered, pending)
      gptimage.os.sleep(0.002)
    end
    assert.equals(0, (c:poll()))
    for i = 1, n do assert.is_table((jobs[i]:result())) end
    -- each fault cost exactly one more request: none was lost or started twice
    local all = srv:requests()
    assert.equals(2 * n, #all)
    for prompt, list in pairs(by_prompt(all)) do
      assert.is_true(#list >= 2, prompt)
      assert.equals(200, list[#list].status)
      for k = 2, #list do
        local asked = wait_of[list[k - 1].status]
        assert.is_number(asked)
        -- the server's own clock: the retry came no sooner than it was told
        assert.is_true(list[k].time - list[k - 1].time >= asked - 0.01,
          string.format("%s: retried after %.3f s, asked %.3f s", prompt, list[k].time - list[k - 1].time, asked))
      end
    end
    c:close()
  end)

  it("closing a client or collecting it while jobs wait to retry ends them cleanly", function()
    srv:fault{ action = "status", status = 500, times = -1, headers = { ["retry-after-ms"] = "60000" } }
    local c = gptimage.new{ api_key = "sk-test", base_url = srv.base_url, max_retries = 3 }
    local jobs = {}
    for i = 1, 4 do jobs[i] = c:start("generate", { prompt = "w" .. i }) end
    local function all_retrying()
      for i = 1, #jobs do
        if jobs[i]:status() ~= "retrying" then return false end
      end
      return true
    end
    while not all_retrying() do
      assert.equals(#jobs, (c:poll()))
      gptimage.os.sleep(0.002)
    end
    -- one cancelled from the middle of the wait, the others by close
    assert.is_true(jobs[2]:cancel())
    assert.equals(3, (c:poll()))
    c:close()
    for i = 1, #jobs do
      local res, err = jobs[i]:wait()
      assert.is_nil(res)
      assert.equals("cancelled", err.kind)
    end
    -- and a client dropped with its waiting jobs is collected with them
    do
      local c2 = gptimage.new{ api_key = "sk-test", base_url = srv.base_url, max_retries = 3 }
      local waiting = { c2:start("generate", { prompt = "x1" }), c2:start("generate", { prompt = "x2" }) }
      while waiting[1]:status() ~= "retrying" or waiting[2]:status() ~= "retrying" do
        c2:poll()
        gptimage.os.sleep(0.002)
      end
    end
    collectgarbage()
    collectgarbage()
    assert.equals(4 + 2, #srv:requests())
  end)
end)
