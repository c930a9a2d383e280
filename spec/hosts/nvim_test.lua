-- Host test: gptimage.nvim inside a real headless Neovim.
--
--   nvim --headless -u NONE -i NONE -n -c "luafile spec/hosts/nvim_test.lua"
--
-- with GPTIMAGE_SOURCE_DIR (the source tree) and GPTIMAGE_BUILD_DIR (where
-- gptimage.so was built for LuaJIT) set, as ctest does. Each case runs
-- against the fake Images API over real HTTP; a separate vim.loop timer
-- ticking every 20 ms shows that the editor loop keeps running while the
-- server holds its answer back. Prints one line per check and a summary,
-- then quits with :qa! (all passed) or :cq (any failure or the hang guard).

local SERVER_DELAY = 2          -- seconds the fake server holds the first answer
local MIN_TICKS = 20            -- far below the 100 expected in SERVER_DELAY

local harness = dofile(os.getenv("GPTIMAGE_SOURCE_DIR") .. "/spec/hosts/nvim_harness.lua")
local srv, work_dir, gi
local h = harness.new{ title = "nvim host test", hang_guard_ms = 60000, cleanup = function()
  gi.cancel_all()
  srv:stop()
  vim.fn.delete(work_dir, "rf")
end }
if not h then
  return
end
local say, check, protect, every_tick = h.say, h.check, h.protect, h.every_tick
local TICK_MS = h.tick_ms
package.path = h.source_dir .. "/lua/?.lua;" .. package.path

local fake = require "helpers.server"
local util = require "helpers.util"
local gptimage = require "gptimage"
gi = require "gptimage.nvim"

work_dir = vim.fn.tempname()
vim.fn.mkdir(work_dir, "p")

srv = fake.start{}
gi.setup{ client = { api_key = "sk-test", base_url = srv.base_url, max_retries = 0,
                     model = "gpt-image-1" },
          interval = 50 }

local read_file = util.read

-- Width and height of PNG bytes, nil for anything else.
local function png_size(bytes)
  if not util.is_png(bytes) or #bytes < 24 then
    return nil
  end
  return util.png_size(bytes)
end

-- Captured, and echoed as a comment line (the default would write to
-- stderr without a line end).
local notices = {}
vim.notify = function(message, level)
  notices[#notices + 1] = { message = tostring(message), level = level }
  say(string.format("# notify(%s): %s", tostring(level), (tostring(message):gsub("\n", "\n#   "))))
end

local function find_notice(pattern, level)
  for _, notice in ipairs(notices) do
    if notice.message:find(pattern) and (level == nil or notice.level == level) then
      return notice
    end
  end
end

local cases = {}

local first_image_bytes

cases[#cases + 1] = { name = "delayed generation does not block the editor", run = function(done)
  srv:fault{ action = "delay", delay = SERVER_DELAY }
  local ticks, polling_seen, in_flight = 0, false, true
  every_tick(function()
    if in_flight then
      ticks = ticks + 1
      polling_seen = polling_seen or gi.polling()
    end
    return not in_flight
  end)
  local save = work_dir .. "/delayed.png"
  local job = gi.generate({ prompt = "a lighthouse at dusk", size = "1024x1536", quality = "low",
                            save = save },
    protect(function(res, err)
      in_flight = false
      check(not vim.in_fast_event(), "callback runs on the main loop, not in a fast event")
      local api_ok = pcall(vim.api.nvim_buf_set_lines, 0, 0, -1, false, { "gptimage" })
      check(api_ok, "the Neovim API is usable in the callback")
      check(res ~= nil, "result arrives through the callback", err)
      check(ticks >= MIN_TICKS, string.format("editor timer ticked %d times during the %d s delay (>= %d)",
        ticks, SERVER_DELAY, MIN_TICKS))
      say(string.format("# ticks during the delayed request: %d", ticks))
      check(polling_seen, "the poll timer ran while the job was in flight")
      check(gi.pending() == 0 and not gi.polling(), "the poll timer stops once no job is left")
      if res then
        local path = res.images[1].path
        check(path == save, "image saved where asked", path)
        local bytes = read_file(save)
        local width, height = png_size(bytes)
        check(width == 1024 and height == 1536, "saved file is a 1024x1536 PNG",
          tostring(width) .. "x" .. tostring(height))
        first_image_bytes = bytes
      end
      done()
    end))
  check(job ~= nil and gi.pending() == 1, "start returns a job at once")
  check(gi.polling(), "the poll timer runs while a job is in flight")
end }

cases[#cases + 1] = { name = "an API error reaches the callback", run = function(done)
  srv:fault{ action = "error", status = 400, message = "Your prompt is not allowed.",
             code = "invalid_prompt" }
  gi.generate({ prompt = "something refused", quality = "low" }, protect(function(res, err)
    check(res == nil, "no result on error")
    check(type(err) == "table" and err.kind == "api", "err.kind is \"api\"", err and err.kind)
    check(err and err.status == 400, "err.status is 400", err and err.status)
    check(err and err.code == "invalid_prompt", "err.code is kept", err and err.code)
    check(gi.pending() == 0 and not gi.polling(), "the poll timer stops after an error")
    done()
  end))
end }

cases[#cases + 1] = { name = "cancelling reaches the callback", run = function(done)
  local before = #srv:requests()
  srv:fault{ action = "delay", delay = 5 }
  local save = work_dir .. "/cancelled/never.png"
  local calls = 0
  local job
  job = gi.generate({ prompt = "never finished", quality = "low", save = save },
    protect(function(res, err)
      calls = calls + 1
      check(calls == 1, "the callback runs once")
      check(res == nil and type(err) == "table" and err.kind == "cancelled",
        "err.kind is \"cancelled\"", err and err.kind)
      check(gi.pending() == 0 and not gi.polling(), "the poll timer stops after a cancel")
      local leftovers = vim.fn.glob(work_dir .. "/cancelled/*", true, true)
      check(#leftovers == 0 and read_file(save) == nil, "no file is left behind",
        table.concat(leftovers, " "))
      done()
    end))
  -- Cancel once the server holds the request: the transfer is in flight.
  every_tick(protect(function(ticks)
    if #srv:requests() > before or ticks > 200 then
      check(ticks <= 200, "the request reached the server")
      check(gi.cancel(job) == true, "cancel returns true for a job in flight")
      return true
    end
  end))
end }

-- Waits (ticking, at most 5 s) for a vim.notify message, then calls found(notice or nil).
local function wait_for_notice(pattern, found)
  every_tick(protect(function(ticks)
    local notice = find_notice(pattern)
    if notice or ticks * TICK_MS >= 5000 then
      found(notice)
      return true
    end
  end))
end

cases[#cases + 1] = { name = "a raising callback is reported, other jobs go on", run = function(done)
  -- The edit is held back; the generation answers at once and its callback raises.
  srv:fault{ action = "delay", delay = 3, path = "/images/edits" }
  local edit_done, reported = false, false
  gi.edit({ image = first_image_bytes, prompt = "add a boat", quality = "low" },
    protect(function(res, err)
      edit_done = true
      check(reported, "the raising callback was reported before the other job ended")
      check(res ~= nil and png_size(res.images[1].bytes) ~= nil, "the other job still completes", err)
      check(gi.pending() == 0 and not gi.polling(), "the poll timer stops at the end")
      done()
    end))
  gi.generate({ prompt = "a raising callback", quality = "low" }, function()
    error("boom from a callback")
  end)
  check(gi.pending() == 2, "two jobs in flight")
  wait_for_notice("boom from a callback", function(notice)
    reported = notice ~= nil
    check(notice ~= nil, "the callback error was reported with vim.notify")
    check(notice and notice.level == vim.log.levels.ERROR, "at ERROR level")
    check(notice and notice.message:find("stack traceback", 1, true), "with a traceback")
    check(not edit_done and gi.pending() == 1 and gi.polling(), "the timer goes on for the other job")
  end)
end }

cases[#cases + 1] = { name = "an error raised by poll is reported, the timer goes on", run = function(done)
  -- A job started on the client directly: its on_done runs inside poll,
  -- which re-raises the error into the timer.
  srv:fault{ action = "delay", delay = 3, path = "/images/edits" }
  local reported = false
  gi.edit({ image = first_image_bytes, prompt = "add a moon", quality = "low" },
    protect(function(res, err)
      check(reported, "the poll error was reported before the other job ended")
      check(res ~= nil, "the gptimage.nvim job completes", err)
      done()
    end))
  gi.client():start("generate", { prompt = "raw job", quality = "low", on_done = function()
    error("boom raised in poll")
  end })
  wait_for_notice("boom raised in poll", function(notice)
    reported = notice ~= nil
    check(notice ~= nil and notice.level == vim.log.levels.ERROR,
      "the poll error was reported with vim.notify at ERROR level")
    check(gi.pending() == 1 and gi.polling(), "the timer goes on for the other job")
  end)
end }

cases[#cases + 1] = { name = "unsaved images come as a buffer, their bytes made on first read", run = function(done)
  -- Streamed, so that a partial image comes too; kept in memory (no save).
  local partials = {}
  gi.generate({ prompt = "kept in memory", quality = "low", stream = true, partial_images = 1,
                on_partial = function(partial)
                  partials[#partials + 1] = { copied = rawget(partial, "bytes") ~= nil, buffer = partial.buffer,
                                              bytes = partial.bytes }
                end },
    protect(function(res, err)
      check(res ~= nil, "the unsaved result arrives", err)
      local image = res and res.images[1] or {}
      check(tostring(image.buffer):match("^gptimage.Buffer") ~= nil, "the image comes as a gptimage.Buffer",
        tostring(image.buffer))
      check(rawget(image, "bytes") == nil, "no tick copied it into a Lua string")
      local bytes = image.bytes
      check(png_size(bytes) ~= nil and #bytes == #image.buffer, "image.bytes reads the PNG from the buffer",
        bytes and #bytes)
      check(rawget(image, "bytes") == bytes, "made once, then kept")
      check(#partials == 1 and not partials[1].copied and partials[1].buffer ~= nil and png_size(partials[1].bytes),
        "the partial image came the same way", #partials)
      gi.generate({ prompt = "asked as a buffer", quality = "low", buffer = true }, protect(function(res2, err2)
        local asked = res2 and res2.images[1] or {}
        check(asked.buffer ~= nil and asked.bytes == nil and getmetatable(asked) == nil,
          "a call that asks for buffer = true gets the buffer alone", err2)
        gi.generate({ prompt = "asked as bytes", quality = "low", buffer = false }, protect(function(res3, err3)
          local plain = res3 and res3.images[1] or {}
          check(type(rawget(plain, "bytes")) == "string" and plain.buffer == nil,
            "a call that asks for buffer = false gets a Lua string", err3)
          done()
        end))
      end))
    end))
end }

cases[#cases + 1] = { name = "setup refuses what is not a live client or options, naming it", run = function(done)
  local closed = gptimage.new{ api_key = "sk-test", base_url = srv.base_url }
  closed:close()
  local ok, err = pcall(gi.setup, { client = closed })
  check(not ok and tostring(err):find("got closed client", 1, true), "a closed client is refused", err)
  ok, err = pcall(gi.setup, { client = 42 })
  check(not ok and tostring(err):find("got number", 1, true), "a number is refused", err)
  check(gi.pending() == 0, "nothing was started")
  done()
end }

cases[#cases + 1] = { name = "a batch reports progress and results on the main loop", run = function(done)
  local progress = {}
  gi.batch({ { op = "generate", prompt = "first", quality = "low" },
             { op = "generate", prompt = "second", quality = "low" } },
    { concurrency = 2, on_progress = function(count, total, index, res)
      progress[#progress + 1] = { count = count, total = total, index = index, ok = res ~= nil,
                                  fast = vim.in_fast_event() }
    end },
    protect(function(results)
      check(type(results) == "table" and #results == 2, "one result per entry", results and #results)
      check(results and results[1].res and results[2].res, "both entries succeeded")
      check(#progress == 2, "on_progress ran for each entry", #progress)
      check(progress[1] and not progress[1].fast and progress[2].count == 2 and progress[2].total == 2,
        "on_progress runs on the main loop with done and total counts")
      check(gi.pending() == 0 and not gi.polling(), "the poll timer stops after the batch")
      done()
    end))
end }

h.run(cases, string.format("# Neovim %s, %s, gptimage %s", tostring(vim.version and vim.version().minor and
  (vim.version().major .. "." .. vim.version().minor .. "." .. vim.version().patch)),
  jit and jit.version or _VERSION, tostring(gptimage.version)))
