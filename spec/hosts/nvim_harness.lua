-- What the Neovim host tests share: their output, checks and cases in a
-- real headless Neovim. Each test script starts with
--
--   local harness = dofile(os.getenv("GPTIMAGE_SOURCE_DIR") .. "/spec/hosts/nvim_harness.lua")
--   local h = harness.new{ title = "nvim host test", hang_guard_ms = 60000, cleanup = function() end }
--
-- Contract: new() checks GPTIMAGE_SOURCE_DIR and GPTIMAGE_BUILD_DIR (nil
-- and a quit with :cq when one is missing), puts spec/ on package.path and
-- the build on package.cpath, and gives: say(line); check(ok, name,
-- detail) (one "ok - " or "FAIL - " line each); protect(fn) (an error in
-- fn fails the case being run and ends the test); every_tick(fn) (fn(ticks)
-- on the main loop every tick_ms until it returns true); run(cases, header)
-- (each { name, run = function(done) }, in order, then finish()); finish()
-- (cleanup, one summary line, then :qa! when all passed, else :cq). A hang
-- guard ends the test after hang_guard_ms. No check depends on a time.

local harness = {}

local function say(line)
  io.stdout:write(line, "\n")
  io.stdout:flush()
end

local function quit(code)
  vim.schedule(function() vim.cmd(code == 0 and "qall!" or "cquit!") end)
end

function harness.new(opts)
  local source_dir = os.getenv("GPTIMAGE_SOURCE_DIR")
  local build_dir = os.getenv("GPTIMAGE_BUILD_DIR")
  if not source_dir or source_dir == "" or not build_dir or build_dir == "" then
    say(opts.title .. ": set GPTIMAGE_SOURCE_DIR and GPTIMAGE_BUILD_DIR")
    quit(1)
    return nil
  end
  package.path = source_dir .. "/spec/?.lua;" .. package.path
  package.cpath = build_dir .. "/?.so;" .. package.cpath

  local uv = vim.uv or vim.loop
  local tick_ms = opts.tick_ms or 20
  local h = { source_dir = source_dir, build_dir = build_dir, tick_ms = tick_ms, say = say,
              passed = 0, failed = 0, finished = false, current = "setup" }
  local hang_guard = uv.new_timer()

  function h.check(ok, name, detail)
    if ok then
      h.passed = h.passed + 1
      say("ok - " .. name)
    else
      h.failed = h.failed + 1
      say("FAIL - " .. name .. (detail ~= nil and (": " .. tostring(detail)) or ""))
    end
    return ok
  end

  function h.finish()
    if h.finished then
      return
    end
    h.finished = true
    hang_guard:stop()
    hang_guard:close()
    if opts.cleanup then
      local ok, err = pcall(opts.cleanup)
      if not ok then
        h.check(false, "cleanup", err)
      end
    end
    say(string.format("%s: %d passed, %d failed", opts.title, h.passed, h.failed))
    quit(h.failed == 0 and 0 or 1)
  end

  function h.protect(fn)
    return function(...)
      if h.finished then
        return
      end
      local args = { n = select("#", ...), ... }
      local ok, result = xpcall(function() return fn(unpack(args, 1, args.n)) end, debug.traceback)
      if not ok then
        h.check(false, h.current .. " raised", result)
        h.finish()
        return true
      end
      return result
    end
  end

  function h.every_tick(fn)
    local timer = uv.new_timer()
    local ticks, stopped = 0, false
    timer:start(tick_ms, tick_ms, vim.schedule_wrap(function()
      if stopped then
        return   -- a tick scheduled before the timer stopped
      end
      ticks = ticks + 1
      if h.finished or fn(ticks) then
        stopped = true
        timer:stop()
        timer:close()
      end
    end))
  end

  function h.run(cases, header)
    hang_guard:start(opts.hang_guard_ms or 60000, 0, function()
      vim.schedule(function()
        h.check(false, "hang guard: still running after " .. (opts.hang_guard_ms or 60000) / 1000 .. " s, in "
          .. h.current)
        h.finish()
      end)
    end)
    if header then
      say(header)
    end
    local function run_case(index)
      local case = cases[index]
      if not case or h.finished then
        h.finish()
        return
      end
      h.current = case.name
      say("# " .. case.name)
      h.protect(case.run)(function()
        vim.schedule(function() run_case(index + 1) end)
      end)
    end
    run_case(1)
  end

  return h
end

return harness
