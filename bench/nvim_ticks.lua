-- Timer ticks of gptimage.nvim while four 6 MB images arrive, in a real
-- headless Neovim: every tick of the helper's timer is timed by the
-- process's CPU clock. Run by bench/polls.py:
--
--   GPTIMAGE_BASE_URL=... GPTIMAGE_SOURCE_DIR=... GPTIMAGE_BUILD_DIR=... \
--     nvim --headless -u NONE -i NONE -n -c "luafile bench/nvim_ticks.lua"
--
-- With GPTIMAGE_SAVE_DIR set the images are saved there (the plugin's usual
-- use), else kept in memory, and each callback reads image.bytes (made on
-- the main loop, timed apart as bytes_ms: the callback's own work, not a
-- tick). Prints one JSON object (ticks, longest_ms, p99_ms, median_ms,
-- bytes_ms, seconds) and quits; exits 1 if a job fails.

local source_dir = assert(os.getenv("GPTIMAGE_SOURCE_DIR"), "set GPTIMAGE_SOURCE_DIR")
local build_dir = assert(os.getenv("GPTIMAGE_BUILD_DIR"), "set GPTIMAGE_BUILD_DIR")
package.path = source_dir .. "/lua/?.lua;" .. package.path
package.cpath = build_dir .. "/?.so;" .. package.cpath

local gptimage = require "gptimage"
local gi = require "gptimage.nvim"
local JOBS = 4

local client = gptimage.new{ api_key = "sk-bench", base_url = os.getenv("GPTIMAGE_BASE_URL"), max_retries = 0 }
-- Time every tick of the helper's timer, whatever it does in it (poll, take
-- in finished jobs, hand results over): the timer is wrapped before the
-- helper makes it.
local uv = vim.uv or vim.loop
local ticks = {}
local new_timer = uv.new_timer
uv.new_timer = function()
  local timer = new_timer()
  return setmetatable({}, { __index = function(_, key)
    if key == "start" then
      return function(_, timeout, every, callback)
        return timer:start(timeout, every, function()
          local before = os.clock()
          callback()
          ticks[#ticks + 1] = os.clock() - before
        end)
      end
    end
    local value = timer[key]
    if type(value) == "function" then
      return function(_, ...) return value(timer, ...) end
    end
    return value
  end })
end
local save_dir = os.getenv("GPTIMAGE_SAVE_DIR")
if save_dir == "" then
  save_dir = nil
end

gi.setup{ client = client }
local started = vim.loop.hrtime()
local done, failed, bytes_ms = 0, nil, 0
for index = 1, JOBS do
  gi.generate({ prompt = "tick benchmark " .. index, model = "gpt-image-2.6-flare", size = "1024x1024", quality = "low",
                save = save_dir and string.format("%s/tick-%d.png", save_dir, index) or nil },
    function(res, err)
      done = done + 1
      if not res then
        failed = failed or tostring(err)
      elseif not save_dir then
        local before = os.clock()
        if #res.images[1].bytes < 1000000 then
          failed = failed or "the image's bytes are short"
        end
        bytes_ms = math.max(bytes_ms, (os.clock() - before) * 1000)
      end
    end)
end
local function quantile(list, q)
  local sorted = {}
  for i, v in ipairs(list) do sorted[i] = v end
  table.sort(sorted)
  if #sorted == 0 then return 0 end
  return sorted[math.max(1, math.ceil(q * #sorted))]
end
vim.wait(120000, function() return done == JOBS end, 5)
if failed or done < JOBS then
  io.stderr:write("nvim tick benchmark: ", tostring(failed or "timed out"), "\n")
  vim.cmd("cquit! 1")
end
io.stdout:write(string.format('{"ticks": %d, "longest_ms": %.3f, "p99_ms": %.3f, "median_ms": %.3f, "bytes_ms": %.3f,'
  .. ' "seconds": %.2f}\n',
  #ticks, quantile(ticks, 1) * 1000, quantile(ticks, 0.99) * 1000, quantile(ticks, 0.5) * 1000, bytes_ms,
  (vim.loop.hrtime() - started) / 1e9))
io.stdout:flush()
vim.cmd("qall!")
