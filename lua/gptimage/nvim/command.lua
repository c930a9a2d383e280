-- gptimage.nvim.command: the :GptImage commands of plugin/gptimage.lua.
--
--   :GptImage [key=value ...] {prompt}   generate and save (no prompt: asks with vim.ui.input)
--   :GptImageCancel                      cancel every image still being generated
--   :GptImagePick                        pick a generated image (Telescope when installed)
--
-- Contract: parse(args) splits a command line into the prompt and the
-- options (every `name=value` word is an option; the module's validation
-- names a misspelt one); complete(arglead) completes option names and
-- values from the API table (gptimage.completion). generate(prompt, opts)
-- saves under config.folder(), shows progress, reports one line, then
-- inserts a markdown link and previews (gptimage.nvim.gallery). Errors of
-- the user's input are messages, never raised.

local gi = require "gptimage.nvim"
local config = require "gptimage.nvim.config"
local message = require "gptimage.nvim.message"
local progress = require "gptimage.nvim.progress"
local gallery = require "gptimage.nvim.gallery"
local completion = require "gptimage.completion"

local M = {}

local function value_of(text)
  if text == "true" then
    return true
  elseif text == "false" then
    return false
  elseif text:match("^%-?%d+$") or text:match("^%-?%d+%.%d+$") then
    return tonumber(text)
  end
  return text
end

--- prompt, options from the words of a command line.
function M.parse(args)
  local options, words = {}, {}
  for word in tostring(args or ""):gmatch("%S+") do
    local key, value = word:match("^([%a_][%w_]*)=(.*)$")
    if key and value ~= "" then
      options[key] = value_of(value)
    else
      words[#words + 1] = word
    end
  end
  return table.concat(words, " "), options
end

-- Options that make no sense typed on a command line.
local NOT_TYPED = { prompt = true, image = true, mask = true, markup = true, save = true,
                    on_partial = true, on_done = true, extra = true, stream = true }

--- Completions for the word being typed (the arglead of a -complete function).
function M.complete(arglead)
  local key, prefix = arglead:match("^([%a_][%w_]*)=(.*)$")
  if key then
    local out = {}
    for _, value in ipairs(completion.filter(completion.values(key), prefix)) do
      out[#out + 1] = key .. "=" .. value
    end
    return out
  end
  local names = {}
  for _, name in ipairs(completion.options()) do
    if not NOT_TYPED[name] then
      names[#names + 1] = name .. "="
    end
  end
  return completion.filter(names, arglead)
end

-- A readable, file-system-safe name from the prompt.
local function slug(prompt)
  local words = prompt:lower():gsub("[^%w]+", "-"):gsub("^-+", ""):gsub("-+$", "")
  words = words:sub(1, 40):gsub("-+$", "")
  return words ~= "" and words or "image"
end

local function short(prompt)
  if vim.fn.strchars(prompt) > 40 then
    return vim.fn.strcharpart(prompt, 0, 39) .. "…"
  end
  return prompt
end

local function merged(typed)
  local call = {}
  for key, value in pairs(config.get().options) do
    call[key] = value
  end
  for key, value in pairs(typed or {}) do
    call[key] = value
  end
  return call
end

--- Generate an image for prompt with the typed options; returns the job or nil.
function M.generate(prompt, typed, origin)
  origin = origin or gallery.origin()
  local call = merged(typed)
  local folder = config.folder()
  call.prompt = prompt
  call.save = call.save or string.format("%s/%s-%s.{ext}", folder, os.date("%Y%m%d-%H%M%S"), slug(prompt))
  vim.fn.mkdir(vim.fn.fnamemodify(call.save, ":h"), "p")
  local handle = progress.begin("“" .. short(prompt) .. "”")
  local started, job = pcall(gi.generate, call, function(res, err)
    local replace = handle.finish()
    local opts = replace and { replace = replace, title = "gptimage" } or nil
    if not res then
      if type(err) == "table" and err.kind == "cancelled" then
        message.notify("cancelled: " .. short(prompt), vim.log.levels.INFO, opts)
      else
        message.notify("failed: " .. message.describe(err), vim.log.levels.ERROR, opts)
      end
      return
    end
    local paths = {}
    for _, image in ipairs(res.images) do
      paths[#paths + 1] = vim.fn.fnamemodify(image.path, ":~:.")
    end
    local cost = res.cost and string.format(" ($%.3f)", res.cost) or ""
    message.notify("saved " .. table.concat(paths, ", ") .. cost, vim.log.levels.INFO, opts)
    for _, image in ipairs(res.images) do
      gallery.insert_link(origin, image.path, prompt)
    end
    gallery.preview(res.images[1].path)
  end)
  if not started then
    handle.finish()
    message.error(job)
    return nil
  end
  message.notify("generating: " .. short(prompt))
  return job
end

--- :GptImage: the command's args, or a prompt asked with vim.ui.input.
function M.run(args)
  local prompt, typed = M.parse(args)
  if prompt ~= "" then
    return M.generate(prompt, typed)
  end
  local origin = gallery.origin()
  vim.ui.input({ prompt = "Image prompt: " }, function(answer)
    if answer == nil or answer:match("^%s*$") then
      return
    end
    local asked, more = M.parse(answer)
    for key, value in pairs(more) do
      typed[key] = value
    end
    if asked == "" then
      message.notify("no prompt given")
      return
    end
    M.generate(asked, typed, origin)
  end)
end

function M.cancel()
  local cancelled = gi.cancel_all()
  if cancelled == 0 then
    message.notify("nothing to cancel")
  end
  -- each cancelled job reports itself ("cancelled: ...") once
  return cancelled
end

return M
