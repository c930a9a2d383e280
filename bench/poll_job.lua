-- One per-poll measurement, run as its own process by bench/polls.py: how
-- much CPU each client:poll() takes while big images arrive, as a game that
-- polls once per frame or an editor timer sees it.
--
--   lua5.4 bench/poll_job.lua BASE_URL OUT_DIR MODE JOBS PAUSE_MS [CA_FILE] [BUDGET]
--
-- Starts JOBS generate jobs on one client (MODE "save": each to a file under
-- OUT_DIR; "bytes": kept in memory and handed over as a Lua string;
-- "buffer": kept in memory and handed over as a gptimage.Buffer, no Lua
-- string made), then polls until all are done, pausing
-- PAUSE_MS between polls (0: back to back; 16: a 60 fps frame, so that data
-- piles up in the socket between polls). Each poll is timed by process CPU
-- time (os.clock). BUDGET, when given, is passed to poll.
--
-- Prints one JSON object: polls, longest_ms, p99_ms, p50_ms (all polls);
-- other_longest_ms, other_p99_ms (polls that handed no result to Lua);
-- delivery_longest_ms and delivery_ms_per_mb (the polls that did, and their
-- CPU per MB of image they handed over); cpu_s (all polls), start_ms (CPU
-- of the client:start calls, where the first one readies the client's
-- transport: libcurl, the default trust, the parsed authorities), bytes (images
-- delivered). Exits non-zero if a job fails, or if the jobs stall: no byte
-- received and no job ended in IDLE_CAP polls in a row (a bench must end,
-- whatever libcurl does).

local base_url, out_dir, mode, jobs, pause_ms, ca_file, budget = ...
jobs, pause_ms, budget = tonumber(jobs), tonumber(pause_ms), tonumber(budget)
if ca_file == "" or ca_file == "-" then
  ca_file = nil
end

local gptimage = require "gptimage"
local client = gptimage.new{ api_key = "sk-bench", base_url = base_url, ca_file = ca_file,
                             max_retries = 0, timeout = 600 }

local function pause(ms)
  if ms <= 0 then
    return
  end
  if gptimage.os and gptimage.os.sleep then
    gptimage.os.sleep(ms / 1000)
  else
    os.execute(string.format("sleep %.3f", ms / 1000))
  end
end

local delivered_now = 0    -- bytes handed to Lua during the current poll
local finished, failed = 0, nil
local total_bytes = 0
local kept = {}

local started = {}
local start_cpu = 0
for index = 1, jobs do
  local opts = { prompt = "poll benchmark " .. index, model = "gpt-image-2.6-flare", size = "1024x1024", quality = "low" }
  if mode == "save" then
    opts.save = string.format("%s/poll-%03d.png", out_dir, index)
  elseif mode == "buffer" then
    opts.buffer = true
  end
  opts.on_done = function(res, err)
    finished = finished + 1
    if not res then
      failed = failed or tostring(err)
      return
    end
    local size = 0
    for _, image in ipairs(res.images) do
      if image.bytes or image.buffer then
        size = size + #(image.bytes or image.buffer)
      elseif image.path then
        local handle = assert(io.open(image.path, "rb"))
        size = size + handle:seek("end")
        handle:close()
      end
    end
    delivered_now = delivered_now + size
    total_bytes = total_bytes + size
    kept[#kept + 1] = res
  end
  local before_start = os.clock()
  started[index] = client:start("generate", opts)
  start_cpu = start_cpu + (os.clock() - before_start)
end

-- bytes received by the jobs still running, plus a step for each that ended
local function progress()
  local sum = 0
  for _, job in ipairs(started) do
    if job:done() then
      sum = sum + 1e12
    else
      sum = sum + job:progress()
    end
  end
  return sum
end

local IDLE_CAP = 2000000
local idle, last_progress = 0, -1
local times, other, delivery = {}, {}, {}
local worst_per_mb = 0
local cpu = 0
while finished < jobs do
  pause(pause_ms)
  delivered_now = 0
  local before = os.clock()
  if budget then
    client:poll(budget)
  else
    client:poll()
  end
  local spent = os.clock() - before
  cpu = cpu + spent
  times[#times + 1] = spent
  if delivered_now > 0 then
    delivery[#delivery + 1] = spent
    if mode == "bytes" then
      local per_mb = spent / (delivered_now / 1e6)
      if per_mb > worst_per_mb then
        worst_per_mb = per_mb
      end
    end
  else
    other[#other + 1] = spent
  end
  local now = progress()
  if now ~= last_progress then
    idle, last_progress = 0, now
  else
    idle = idle + 1
    if idle >= IDLE_CAP then
      local stuck = {}
      for index, job in ipairs(started) do
        if not job:done() then
          local received, expected = job:progress()
          stuck[#stuck + 1] = string.format("job %d: %d of %s bytes", index, received, tostring(expected))
        end
      end
      io.stderr:write(string.format("stalled: no progress in %d polls (%s)\n", IDLE_CAP, table.concat(stuck, ", ")))
      os.exit(2)
    end
  end
end
if failed then
  io.stderr:write("a job failed: ", failed, "\n")
  os.exit(1)
end

local function quantile(list, q)
  if #list == 0 then
    return 0
  end
  local sorted = {}
  for i, v in ipairs(list) do
    sorted[i] = v
  end
  table.sort(sorted)
  local rank = math.max(1, math.ceil(q * #sorted))
  return sorted[rank]
end

local function ms(seconds)
  return string.format("%.3f", seconds * 1000)
end

io.stdout:write(string.format(
  '{"polls": %d, "longest_ms": %s, "p99_ms": %s, "p50_ms": %s, "other_longest_ms": %s, "other_p99_ms": %s,'
    .. ' "delivery_longest_ms": %s, "delivery_ms_per_mb": %s, "cpu_s": %.4f, "start_ms": %s, "bytes": %d}\n',
  #times, ms(quantile(times, 1)), ms(quantile(times, 0.99)), ms(quantile(times, 0.5)),
  ms(quantile(other, 1)), ms(quantile(other, 0.99)), ms(quantile(delivery, 1)), ms(worst_per_mb),
  cpu, ms(start_cpu), total_bytes))
client:close()
