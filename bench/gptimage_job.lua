-- One benchmark job done with gptimage, run as its own process so that its
-- CPU time and peak memory can be measured from outside (bench/bench.py).
--
--   lua5.4 bench/gptimage_job.lua BASE_URL OUT_DIR CALLS N MODE [CONCURRENT [CA_FILE]]
--
-- CALLS generate calls one after another, each for N images of the fake
-- server's noise PNG; MODE "save" writes them under OUT_DIR, "bytes" keeps
-- every image in memory until the end; CONCURRENT > 1 starts that many jobs
-- at once on one client and waits for them all. MODE "startup" only does
-- require + new. CA_FILE (not "-") is the CA of an HTTPS base URL. Exits
-- non-zero if any call fails.

local base_url, out_dir, calls, n, mode, concurrent, ca_file = ...
calls, n, concurrent = tonumber(calls), tonumber(n), tonumber(concurrent or "1")
if ca_file == "-" then
  ca_file = nil
end

local gptimage = require "gptimage"
local client = gptimage.new{ api_key = "sk-bench", base_url = base_url, ca_file = ca_file, max_retries = 0,
                             timeout = 120 }
if mode == "startup" then
  return
end

local function options(index)
  local opts = { prompt = "benchmark image", model = "gpt-image-2.6-flare", size = "1024x1024", quality = "low", n = n }
  if mode == "save" then
    opts.save = string.format("%s/gptimage-%03d.png", out_dir, index)
  end
  return opts
end

local function check(res, err, index)
  if not res then
    io.stderr:write(string.format("call %d failed: %s\n", index, tostring(err)))
    os.exit(1)
  end
  if #res.images ~= n then
    io.stderr:write(string.format("call %d: %d images, expected %d\n", index, #res.images, n))
    os.exit(1)
  end
end

local kept = {}
if concurrent > 1 then
  local jobs = {}
  for index = 1, concurrent do
    jobs[index] = client:start("generate", options(index))
  end
  for index, job in ipairs(jobs) do
    local res, err = job:wait()
    check(res, err, index)
    kept[index] = res
  end
else
  for index = 1, calls do
    local res, err = client:generate(options(index))
    check(res, err, index)
    if mode == "bytes" then
      kept[index] = res
    end
  end
end

-- The images are counted while still held, so bytes mode really holds them.
local total = 0
for _, res in ipairs(kept) do
  for _, image in ipairs(res.images) do
    total = total + #(image.bytes or "")
  end
end
io.stdout:write(string.format("%d\n", total))
client:close()
