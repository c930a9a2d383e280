-- gptimage.nvim.gallery: what happens to an image once it is saved, and
-- the picker over the images already generated.
--
-- Contract:
--   origin()                  where the user was (buffer, window, cursor, filetype)
--   insert_link(origin, path, alt)  in a markdown buffer, inserts ![alt](path)
--                             after the cursor, the path relative to the
--                             buffer's file (or the working folder); false elsewhere
--   preview(path)             shows the image in a floating window through
--                             image.nvim when it is installed; false when not
--                             (never a hard dependency)
--   images()                  the images in the save folder, newest first
--   pick(origin)              vim.ui.select over images() (Telescope when
--                             installed); choosing one previews it and inserts
--                             its link in a markdown buffer, or else puts its
--                             path in the unnamed register
-- Options come from gptimage.nvim.config (markdown_link, preview).

local config = require "gptimage.nvim.config"
local message = require "gptimage.nvim.message"

local M = {}

local IMAGE_EXTENSIONS = { png = true, jpg = true, jpeg = true, webp = true, gif = true, svg = true }

function M.origin()
  local win = vim.api.nvim_get_current_win()
  local buf = vim.api.nvim_get_current_buf()
  return { buf = buf, win = win, cursor = vim.api.nvim_win_get_cursor(win),
           filetype = vim.bo[buf].filetype }
end

local function split(path)
  local parts = {}
  for part in path:gmatch("[^/]+") do
    parts[#parts + 1] = part
  end
  return parts
end

--- `path` relative to the folder `base` (both absolute).
function M.relative(path, base)
  local to, from = split(path), split(base)
  local common = 0
  while common < #from and common < #to - 1 and from[common + 1] == to[common + 1] do
    common = common + 1
  end
  local out = {}
  for _ = common + 1, #from do
    out[#out + 1] = ".."
  end
  for i = common + 1, #to do
    out[#out + 1] = to[i]
  end
  return table.concat(out, "/")
end

local function markdown_alt(text)
  return (tostring(text or "image"):gsub("[%[%]\n]", " "))
end

local function markdown_target(path)
  -- Markdown ends a link target at a space or a closing parenthesis.
  if path:find("[%s()]") then
    return "<" .. path .. ">"
  end
  return path
end

function M.insert_link(origin, path, alt)
  if not config.get().markdown_link or origin == nil or not vim.api.nvim_buf_is_valid(origin.buf) then
    return false
  end
  if vim.bo[origin.buf].filetype ~= "markdown" then
    return false
  end
  local name = vim.api.nvim_buf_get_name(origin.buf)
  local base = name ~= "" and vim.fn.fnamemodify(name, ":p:h") or vim.fn.getcwd()
  local abs = vim.fn.fnamemodify(path, ":p")
  local text = string.format("![%s](%s)", markdown_alt(alt), markdown_target(M.relative(abs, base)))
  -- The cursor where it is now when the user is still in that buffer.
  local cursor = origin.cursor
  if vim.api.nvim_get_current_buf() == origin.buf then
    cursor = vim.api.nvim_win_get_cursor(0)
  end
  local last = vim.api.nvim_buf_line_count(origin.buf)
  local row = math.min(cursor[1], last) - 1
  local line = vim.api.nvim_buf_get_lines(origin.buf, row, row + 1, false)[1] or ""
  local col = math.min(cursor[2], #line)
  if col < #line then
    -- after the character under the cursor, as `p` puts text
    local char = vim.fn.strcharpart(line:sub(col + 1), 0, 1)
    col = col + math.max(#char, 1)
  end
  vim.api.nvim_buf_set_text(origin.buf, row, col, row, col, { text })
  return true
end

function M.preview(path)
  if not config.get().preview then
    return false
  end
  local found, image = pcall(require, "image")
  if not found or type(image) ~= "table" or type(image.from_file) ~= "function" then
    return false
  end
  local ok, err = pcall(function()
    local buf = vim.api.nvim_create_buf(false, true)
    local width = math.max(20, math.floor(vim.o.columns / 2))
    local height = math.max(10, math.floor(vim.o.lines / 2))
    local win = vim.api.nvim_open_win(buf, false, {
      relative = "editor", width = width, height = height, style = "minimal", border = "rounded",
      row = math.floor((vim.o.lines - height) / 2), col = math.floor((vim.o.columns - width) / 2),
    })
    vim.keymap.set("n", "q", function() pcall(vim.api.nvim_win_close, win, true) end, { buffer = buf })
    local shown = image.from_file(path, { window = win, buffer = buf, x = 0, y = 0,
                                          width = width, height = height })
    if shown then
      shown:render()
    end
    M.last_preview = { path = path, win = win, buf = buf, image = shown }
  end)
  if not ok then
    message.error("preview: " .. tostring(err))
    return false
  end
  return true
end

function M.images()
  local folder = config.folder()
  local list = {}
  for _, name in ipairs(vim.fn.readdir(folder) or {}) do
    local ext = name:match("%.(%w+)$")
    if ext and IMAGE_EXTENSIONS[ext:lower()] and name:sub(1, 1) ~= "." then
      local path = folder .. "/" .. name
      list[#list + 1] = { path = path, name = name, time = vim.fn.getftime(path) }
    end
  end
  table.sort(list, function(a, b)
    if a.time ~= b.time then
      return a.time > b.time
    end
    return a.name > b.name
  end)
  local paths = {}
  for i, entry in ipairs(list) do
    paths[i] = entry.path
  end
  return paths
end

--- What choosing an image does.
function M.choose(path, origin)
  if path == nil then
    return
  end
  M.preview(path)
  if M.insert_link(origin, path, vim.fn.fnamemodify(path, ":t:r")) then
    return
  end
  vim.fn.setreg('"', path)
  message.notify(path .. ' (in register ")')
end

local function telescope_pick(paths, origin)
  local ok, pickers = pcall(require, "telescope.pickers")
  if not ok then
    return false
  end
  local finders = require "telescope.finders"
  local conf = require("telescope.config").values
  local actions = require "telescope.actions"
  local action_state = require "telescope.actions.state"
  pickers.new({}, {
    prompt_title = "gptimage images",
    finder = finders.new_table {
      results = paths,
      entry_maker = function(path)
        local name = vim.fn.fnamemodify(path, ":t")
        return { value = path, display = name, ordinal = name, path = path }
      end,
    },
    sorter = conf.generic_sorter({}),
    attach_mappings = function(prompt_buf)
      actions.select_default:replace(function()
        local entry = action_state.get_selected_entry()
        actions.close(prompt_buf)
        M.choose(entry and entry.value, origin)
      end)
      return true
    end,
  }):find()
  return true
end

function M.pick(origin)
  origin = origin or M.origin()
  local paths = M.images()
  if #paths == 0 then
    message.notify("no images in " .. config.folder())
    return
  end
  if telescope_pick(paths, origin) then
    return
  end
  vim.ui.select(paths, {
    prompt = "gptimage images",
    format_item = function(path) return vim.fn.fnamemodify(path, ":t") end,
  }, function(path)
    M.choose(path, origin)
  end)
end

return M
