-- gptimage.nvim.config: the options of the Neovim plugin (plugin/gptimage.lua
-- and its :GptImage commands), set through require("gptimage.nvim").setup{}.
--
-- Contract: set(opts) validates and stores the plugin's own keys (it raises
-- on a wrong type, as setup does for the client's keys, and ignores keys it
-- does not own); get() returns the current table, read-only by convention.
-- folder() is where images are saved: the `dir` option, else a project's
-- `assets/` folder when the working folder has one, else
-- stdpath("data")/gptimage. Needs only the Neovim API; no job runs here.

local M = {}

local values = {
  dir = nil,               -- save folder; nil: assets/ if present, else stdpath("data")/gptimage
  options = {},            -- options for every :GptImage call (quality, size, model, ...)
  markdown_link = true,    -- insert ![prompt](path) at the cursor in markdown buffers
  preview = true,          -- show the image with image.nvim when it is installed
  progress = true,         -- a notification that updates while a job runs
  progress_interval = 1000, -- milliseconds between progress updates
}

local TYPES = {
  dir = "string",
  options = "table",
  markdown_link = "boolean",
  preview = "boolean",
  progress = "boolean",
  progress_interval = "number",
}

--- Validate and store the plugin's keys of `opts` (level: for error()).
function M.set(opts, level)
  level = (level or 1) + 1
  for key, kind in pairs(TYPES) do
    local value = opts[key]
    if value ~= nil and type(value) ~= kind then
      error(string.format("gptimage.nvim: %s must be a %s, got %s", key, kind, type(value)), level)
    end
  end
  local interval = opts.progress_interval
  if interval ~= nil and (interval < 1 or interval ~= math.floor(interval)) then
    error("gptimage.nvim: progress_interval must be a whole number of milliseconds >= 1", level)
  end
  for key in pairs(TYPES) do
    if opts[key] ~= nil then
      values[key] = opts[key]
    end
  end
end

function M.get()
  return values
end

local function is_dir(path)
  return vim.fn.isdirectory(path) == 1
end

--- The folder images are saved in, absolute, without a trailing slash.
function M.folder()
  local dir = values.dir
  if dir == nil or dir == "" then
    local assets = vim.fn.getcwd() .. "/assets"
    dir = is_dir(assets) and assets or (vim.fn.stdpath("data") .. "/gptimage")
  end
  return (vim.fn.fnamemodify(vim.fn.expand(dir), ":p"):gsub("/+$", ""))
end

return M
