-- gptimage.cli.progress: progress on stderr.
--
-- A bar redrawn in place on a terminal, a line per event otherwise, or
-- nothing (--progress none, -q). The mode comes from --progress, -q,
-- GPTIMAGE_PROGRESS, else whether stderr is a terminal.
--
-- Contract: a progress object only writes to its stream; progress_mode
-- raises a usage error for an unknown mode.

local common = require "gptimage.cli.common"

local progress = {}
local usage_error, dollars = common.usage_error, common.dollars

local Progress = {}
Progress.__index = Progress

local function stderr_is_terminal()
  return require("gptimage").os.isatty(2)
end

--- The progress mode: --progress, -q, GPTIMAGE_PROGRESS, else bar on a terminal.
function progress.mode(values)
  local mode = values.progress
  if mode == nil and values.quiet then
    mode = "none"
  end
  if mode == nil then
    local env = os.getenv("GPTIMAGE_PROGRESS")
    if env and env ~= "" and env ~= "auto" then
      mode = env
    end
  end
  if mode == nil or mode == "auto" then
    mode = stderr_is_terminal() and "bar" or "plain"
  end
  if mode ~= "bar" and mode ~= "plain" and mode ~= "none" then
    usage_error("--progress (or GPTIMAGE_PROGRESS) must be bar, plain or none, not '" .. mode .. "'")
  end
  return mode
end

function progress.new(mode, total, stream)
  return setmetatable({ mode = mode, total = total, done = 0, failed = 0, cost = 0,
                        stream = stream or common.streams.err, started = os.time(), shown = nil }, Progress)
end

local BAR_WIDTH = 24

function Progress:bar_text()
  local filled = self.total > 0 and math.floor(BAR_WIDTH * self.done / self.total + 0.5) or BAR_WIDTH
  local elapsed = os.time() - self.started
  return string.format("[%s%s] %d/%d%s  %s  %d:%02d",
    string.rep("#", filled), string.rep("-", BAR_WIDTH - filled), self.done, self.total,
    self.failed > 0 and string.format("  %d failed", self.failed) or "",
    dollars(self.cost), math.floor(elapsed / 60), elapsed % 60)
end

function Progress:draw(force)
  if self.mode ~= "bar" then
    return
  end
  local text = self:bar_text()
  if force or text ~= self.shown then
    self.stream:write("\r", text, "\27[K")
    self.stream:flush()
    self.shown = text
  end
end

--- A line of its own: in bar mode the bar is cleared, the line printed and
-- the bar drawn again below it.
function Progress:line(text)
  if self.mode == "none" then
    return
  end
  if self.mode == "bar" then
    self.stream:write("\r\27[K", text, "\n")
    if self.shown then
      self:draw(true)
    end
  else
    self.stream:write(text, "\n")
    self.stream:flush()
  end
end

-- Lines that matter even with --progress none.
function Progress:always(text)
  if self.mode == "none" then
    self.stream:write(text, "\n")
  else
    self:line(text)
  end
end

local SPINNER = { "|", "/", "-", "\\" }
local PLAIN_EVERY = 10   -- seconds between "still waiting" lines

--- While one request runs: a spinner with the elapsed seconds redrawn in
-- place (bar mode), a line at the start and every PLAIN_EVERY seconds
-- (plain), nothing (none). `what` names the request; `elapsed` in seconds.
function Progress:spin(what, elapsed)
  if self.mode == "bar" then
    self.turn = (self.turn or 0) % #SPINNER + 1
    local text = string.format("%s %s %ds", SPINNER[self.turn], what, math.floor(elapsed))
    self.stream:write("\r", text, "\27[K")
    self.stream:flush()
    self.spinning = true
  elseif self.mode == "plain" then
    local due = self.next_plain or 0
    if elapsed >= due then
      self.stream:write(due == 0 and (what .. "\n") or string.format("%s: %ds\n", what, math.floor(elapsed)))
      self.stream:flush()
      self.next_plain = due + PLAIN_EVERY
    end
  end
end

function Progress:finish()
  if self.spinning then
    self.stream:write("\r\27[K")
    self.stream:flush()
    self.spinning = nil
  end
  if self.mode == "bar" and self.shown then
    self:draw()
    self.stream:write("\n")
    self.stream:flush()
    self.shown = nil
  end
end

return progress
