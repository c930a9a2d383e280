-- gptimage.nvim.progress: shows that the plugin's jobs are running.
--
-- Contract: begin(label) marks a job as running and returns a handle whose
-- finish() ends it. While any job runs, a libuv timer (every
-- progress_interval ms, only while jobs run) refreshes:
--   * status(): "gptimage 12s" (or "gptimage 2 jobs 12s"), "" when idle,
--     for a statusline: set statusline+=%{v:lua.require'gptimage.nvim.progress'.status()}
--   * with progress = true, one notification: through a notification
--     plugin (nvim-notify and the like: vim.notify replaced) the same
--     notification is updated with `replace`; with Neovim's own vim.notify
--     the command line is overwritten without entering :messages, and only
--     in Normal mode, so typing is never disturbed.
-- Elapsed time is the loop's clock (uv.now), whole seconds. The final
-- message of the last job replaces the progress notification.

local config = require "gptimage.nvim.config"
local message = require "gptimage.nvim.message"

local uv = vim.uv or vim.loop

local M = {}

local running = {}      -- handle -> true
local count = 0
local timer = nil
local shown = nil       -- what the notification plugin returned last
local echoed = false

local function oldest()
  local first, label = nil, nil
  for handle in pairs(running) do
    if first == nil or handle.started < first then
      first, label = handle.started, handle.label
    end
  end
  return first, label
end

local function elapsed_seconds(started)
  uv.update_time()
  return math.floor((uv.now() - started) / 1000)
end

--- The statusline text: "" when no job runs.
function M.status()
  if count == 0 then
    return ""
  end
  local started = oldest()
  local jobs = count > 1 and (count .. " jobs ") or ""
  return string.format("gptimage %s%ds", jobs, elapsed_seconds(started))
end

local function plugin_notify()
  local info = debug.getinfo(vim.notify, "S")
  return not (info and info.source and info.source:find("vim/_editor.lua", 1, true))
end

local function refresh()
  vim.cmd("redrawstatus")
  if not config.get().progress or count == 0 then
    return
  end
  local started, label = oldest()
  local others = count > 1 and string.format(" (+%d)", count - 1) or ""
  local line = string.format("generating %s%s… %ds", label, others, elapsed_seconds(started))
  if plugin_notify() then
    local ok, record = pcall(message.notify, line, vim.log.levels.INFO,
      { title = "gptimage", replace = shown, hide_from_history = true, timeout = false })
    if ok and record ~= nil then
      shown = record
    end
  elseif vim.api.nvim_get_mode().mode == "n" then
    vim.api.nvim_echo({ { "gptimage: " .. message.clean(line) } }, false, {})
    echoed = true
  end
end

local function stop()
  if timer and timer:is_active() then
    timer:stop()
  end
  vim.cmd("redrawstatus")
  if echoed and vim.api.nvim_get_mode().mode == "n" then
    vim.api.nvim_echo({ { "" } }, false, {})
  end
  echoed = false
end

--- Mark a job as running; label names it in the notification. The
-- handle's finish() ends it and, when it was the last job, returns the
-- notification plugin's record of the progress notification (nil if none),
-- for the final message to replace.
function M.begin(label)
  uv.update_time()
  local handle = { label = label, started = uv.now() }
  function handle.finish()
    if not running[handle] then
      return nil
    end
    running[handle] = nil
    count = count - 1
    if count > 0 then
      return nil
    end
    vim.schedule(stop)
    local record = shown
    shown = nil
    return record
  end
  running[handle] = true
  count = count + 1
  if timer == nil then
    timer = uv.new_timer()
  end
  if not timer:is_active() then
    local interval = config.get().progress_interval
    timer:start(interval, interval, vim.schedule_wrap(refresh))
  end
  return handle
end

--- The notification plugin's record of the last update (nil if none).
function M.last_notification()
  return shown
end

--- How many jobs the plugin shows as running.
function M.count()
  return count
end

return M
