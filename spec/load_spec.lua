-- Load: 500 jobs through one client, 16 at a time, against a server that
-- injects a random mix of faults. Every job ends exactly once, in a result
-- or a clear error; files, descriptors and memory come back to where they
-- started.
local gptimage = require "gptimage"
local util = require "helpers.util"
local fixture = require "helpers.fixture"

local JOBS = 500
local CONCURRENCY = 16
local SANITIZED = os.getenv("GPTIMAGE_SANITIZED") == "1"
local RSS_MARGIN_KIB = 20 * 1024

-- What one request may meet; "normal" answers fill the rest of the queue.
local FAULTS = {
  { action = "status", status = 500 },
  { action = "status", status = 503, headers = { ["retry-after-ms"] = "20" } },
  { action = "error", status = 429, headers = { ["retry-after-ms"] = "10" } },
  { action = "error", status = 400, message = "Injected bad request." },
  { action = "html", status = 502 },
  { action = "reset", after_bytes = 100 },
  { action = "reset", after_bytes = 4000 },
  { action = "truncate" },
  { action = "drop" },
  { action = "bad_base64" },
  { action = "bad_base64", variant = "length" },
  { action = "not_json" },
  { action = "escape_slashes" },
  { action = "sse_split", chunk = 512 },
  { action = "delay", delay = 0.2 },
  { action = "drip", chunk = 2048, interval = 0.01 },
}
local ERROR_KINDS = { api = true, http = true, network = true, decode = true }

-- A fixed pseudo-random fault queue (the same on every Lua): about 40% of
-- the requests meet a fault, the rest a normal answer.
local function fault_queue(count)
  local state = 12345
  local function next_random(n)
    state = (state * 1103515245 + 12345) % 2147483648
    return math.floor(state / 65536) % n + 1
  end
  local queue = {}
  for i = 1, count do
    if next_random(10) <= 4 then
      queue[i] = FAULTS[next_random(#FAULTS)]
    else
      queue[i] = { action = "delay", delay = 0 }
    end
  end
  return queue
end

local function full_collect()
  collectgarbage()
  collectgarbage()
end

local function max_in_flight(srv)
  local most = 0
  for _, r in ipairs(srv:requests()) do
    if r.concurrent and r.concurrent + 1 > most then most = r.concurrent + 1 end
  end
  return most
end

describe("load", function()
  local srv, dir, fds_before, rss_before

  fixture.each({ server = {}, dir = true }, function(f) srv, dir = f.srv, f.dir end)

  setup(function()
    -- warm up: libcurl's global state and the first client's allocations
    local c = gptimage.new{ api_key = "sk-test", base_url = srv.base_url }
    assert(c:generate{ prompt = "warm up" })
    c:close()
  end)
  before_each(function()
    full_collect()
    fds_before = util.open_fds()
    rss_before = util.rss_kib()
  end)

  local function fd_listing()
    local pipe = io.popen("ls -l /proc/" .. util.pid() .. "/fd 2>&1")
    local text = pipe:read("*a")
    pipe:close()
    return text
  end

  local function check_resources_returned()
    full_collect()
    local fds = util.open_fds()
    assert.equals(fds_before, fds, "open descriptors now:\n" .. fd_listing())
    if not SANITIZED then -- ASan keeps freed memory in quarantine
      local grown = util.rss_kib() - rss_before
      assert.is_true(grown < RSS_MARGIN_KIB, "resident memory grew by " .. grown .. " KiB")
    end
  end

  it("500 saved jobs in one batch, 16 at a time, with random faults: each reported once, no file lost or left", function()
    srv:fault(fault_queue(JOBS + 100))
    local client = gptimage.new{ api_key = "sk-test", base_url = srv.base_url, max_retries = 1 }
    local list, done_calls, progress_calls, done_order = {}, {}, {}, {}
    for i = 1, JOBS do
      list[i] = { prompt = "load " .. i, size = "1024x1024", quality = "low",
                  save = dir .. "/img-" .. i .. ".png",
                  on_done = function() done_calls[i] = (done_calls[i] or 0) + 1 end }
    end
    local results = client:batch(list, { concurrency = CONCURRENCY,
      on_progress = function(done, total, index)
        assert.equals(JOBS, total)
        progress_calls[index] = (progress_calls[index] or 0) + 1
        done_order[#done_order + 1] = done
      end })

    assert.equals(JOBS, #results)
    local expected_files, successes, failures, kinds = {}, 0, 0, {}
    for i = 1, JOBS do
      local r = results[i]
      assert.equals(1, done_calls[i], "on_done of job " .. i)
      assert.equals(1, progress_calls[i], "on_progress of job " .. i)
      assert.is_true((r.res == nil) ~= (r.err == nil), "job " .. i .. " has exactly one of res and err")
      local path = dir .. "/img-" .. i .. ".png"
      if r.res then
        successes = successes + 1
        assert.equals(path, r.res.images[1].path)
        assert.is_true(util.is_png(util.read(path)))
        expected_files[#expected_files + 1] = "img-" .. i .. ".png"
      else
        failures = failures + 1
        assert.is_true(ERROR_KINDS[r.err.kind] == true, "unexpected error kind " .. tostring(r.err.kind))
        assert.is_string(tostring(r.err))
        assert.is_false(util.exists(path))
        kinds[r.err.kind] = true
      end
    end
    for n = 1, JOBS do assert.equals(n, done_order[n]) end
    assert.is_true(successes > JOBS / 2)
    assert.is_true(failures > 0)
    table.sort(expected_files)
    assert.same(expected_files, util.listdir(dir)) -- and nothing else: no temporary file
    assert.is_true(max_in_flight(srv) <= CONCURRENCY)

    client:close()
    results, list = nil, nil
    check_resources_returned()
  end)

  it("500 jobs started and polled by hand, 16 at a time, some cancelled: each reported once, resources returned", function()
    srv:fault(fault_queue(JOBS + 100))
    local client = gptimage.new{ api_key = "sk-test", base_url = srv.base_url, max_retries = 1 }
    local calls, outcome = {}, {}
    local jobs = {}
    local started, running, finished = 0, 0, 0
    local function on_done_for(i)
      return function(res, err)
        calls[i] = (calls[i] or 0) + 1
        finished = finished + 1
        running = running - 1
        outcome[i] = res and "ok" or err.kind
        if res then assert.is_true(util.is_png(res.images[1].bytes)) end
      end
    end
    local guard = 0
    while finished < JOBS do
      while running < CONCURRENCY and started < JOBS do
        started = started + 1
        local i = started
        running = running + 1
        jobs[i] = client:start("generate", { prompt = "load " .. i, on_done = on_done_for(i) })
        if i % 25 == 0 then assert.is_true(jobs[i]:cancel()) end
      end
      client:poll()
      for i = math.max(1, started - CONCURRENCY), started do
        -- cancel a few while their transfer runs
        if i % 25 == 10 and not jobs[i]:done() then jobs[i]:cancel() end
      end
      -- sleep in curl until something happens on the oldest unfinished job
      for i = 1, started do
        if not jobs[i]:done() then
          jobs[i]:wait(0.01)
          break
        end
      end
      guard = guard + 1
      assert.is_true(guard < 1000000)
    end

    assert.equals(0, client:poll())
    local ok, cancelled = 0, 0
    for i = 1, JOBS do
      assert.equals(1, calls[i], "on_done of job " .. i)
      assert.is_true(jobs[i]:done())
      local res, err = jobs[i]:result()
      if outcome[i] == "ok" then
        ok = ok + 1
        assert.is_table(res)
      elseif outcome[i] == "cancelled" then
        cancelled = cancelled + 1
        assert.equals("cancelled", err.kind)
      else
        assert.is_true(ERROR_KINDS[outcome[i]] == true, "unexpected error kind " .. tostring(outcome[i]))
        assert.equals(outcome[i], err.kind)
      end
    end
    assert.is_true(cancelled >= JOBS / 25)
    assert.is_true(ok > JOBS / 2)
    assert.is_true(max_in_flight(srv) <= CONCURRENCY)

    client:close()
    jobs = nil
    check_resources_returned()
  end)

  it("many clients created and closed with jobs in flight return every descriptor", function()
    srv:config{ delay = 0.3 }
    for round = 1, 20 do
      local c = gptimage.new{ api_key = "sk-test", base_url = srv.base_url }
      for i = 1, 4 do c:start("generate", { prompt = "round " .. round .. " job " .. i }) end
      c:poll()
      if round % 2 == 0 then c:close() end
    end
    check_resources_returned()
  end)
end)
