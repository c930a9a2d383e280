-- gptimage.nvim.message: what the plugin tells the user, through vim.notify.
--
-- Contract: every message is one line with one "gptimage: " prefix; Lua
-- file positions and tracebacks of an error are left out (the message
-- only); with Neovim's own vim.notify (which echoes) a line wider than the
-- command line is cut to fit, so that no "Press ENTER" prompt interrupts
-- typing. A cancel the user asked for is INFO, a failure ERROR.
-- describe(err) turns a gptimage error table into that one line.

local M = {}

local PREFIX = "gptimage: "

--- text without positions, tracebacks, repeated prefixes or line breaks.
function M.clean(text)
  text = tostring(text)
  text = text:gsub("\n%s*stack traceback:.*$", "")
  local previous
  repeat
    previous = text
    text = text:gsub("^%s+", "")
    text = text:gsub("^[^%s:]+%.lua:%d+:%s*", "")      -- an internal file position
    text = text:gsub("^gptimage[%w%.]*:%s*", "")       -- "gptimage: ", "gptimage.nvim: "
  until text == previous
  text = text:gsub("%s*\n%s*", "; ")
  return text
end

-- Neovim's own vim.notify echoes the message; plugins such as nvim-notify
-- replace it with windows that wrap long text themselves.
local function echoes()
  local info = debug.getinfo(vim.notify, "S")
  return info ~= nil and info.source ~= nil and info.source:find("vim/_editor.lua", 1, true) ~= nil
end

local function fit(line)
  if not echoes() then
    return line
  end
  local space = tonumber(vim.v.echospace) or (vim.o.columns - 12)
  if space > 1 and vim.fn.strdisplaywidth(line) > space then
    line = vim.fn.strcharpart(line, 0, space - 1) .. "…"
  end
  return line
end

--- One line at INFO level (or `level`); returns what vim.notify returned.
function M.notify(text, level, opts)
  return vim.notify(fit(PREFIX .. M.clean(text)), level or vim.log.levels.INFO, opts)
end

function M.error(text)
  return M.notify(text, vim.log.levels.ERROR)
end

local HINTS = {
  [401] = "check OPENAI_API_KEY",
  [403] = "this key may not use this model or project",
  [429] = "rate limited or out of credit",
}

--- One line for a gptimage error table (or any value).
function M.describe(err)
  if type(err) ~= "table" then
    return M.clean(err)
  end
  if err.kind == "cancelled" then
    return "cancelled"
  end
  local message = M.clean(err.message or err.kind or "failed")
  local head = err.kind or "error"
  if err.status then
    head = head .. " " .. tostring(err.status)
  end
  local hint = err.status and HINTS[err.status]
  local attempts = type(err.attempts) == "number" and err.attempts > 1
    and string.format(" after %d attempts", err.attempts) or ""
  return head .. ": " .. message .. attempts .. (hint and (" (" .. hint .. ")") or "")
end

--- Report the end of a failed job: a cancel as INFO, anything else as ERROR.
function M.failed(what, err)
  if type(err) == "table" and err.kind == "cancelled" then
    return M.notify("cancelled: " .. what)
  end
  return M.error("failed: " .. M.describe(err))
end

return M
