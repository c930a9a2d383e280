-- gptimage.completion: the words a command line completes (option names,
-- their values, model names), read from the module's API table
-- (gptimage.options, gptimage.models) so that a new model or option is
-- completed without a change here. Used by the Neovim commands and by the
-- bash and zsh completion of the gptimage command.
--
-- Contract: every function returns a new sorted list of strings without
-- duplicates; an API table the module does not have yields an empty list.
-- Pure Lua, no host API: runs under Lua 5.4, LuaJIT and Neovim alike.

local gptimage = require "gptimage"

local M = {}

local function sorted(set)
  local list = {}
  for word in pairs(set) do
    list[#list + 1] = word
  end
  table.sort(list)
  return list
end

-- name -> entry for a table keyed by name or a list of { name = ... }.
local function entries(tbl)
  local out = {}
  if type(tbl) ~= "table" then
    return out
  end
  for key, value in pairs(tbl) do
    if type(key) == "string" then
      out[key] = value
    elseif type(value) == "table" and type(value.name) == "string" then
      out[value.name] = value
    end
  end
  return out
end

local function retired(entry)
  if type(entry) ~= "table" then
    return false
  end
  local state = entry.lifecycle or entry.status or entry.state
  return entry.shutdown == true or entry.retired == true
    or state == "shutdown" or state == "shut down" or state == "retired"
end

-- Adds the strings of a list (or of a table's keys/values) to set.
local function add_words(set, list)
  if type(list) ~= "table" then
    return
  end
  for key, value in pairs(list) do
    if type(value) == "string" then
      set[value] = true
    elseif type(key) == "string" and value == true then
      set[key] = true
    end
  end
end

--- Model names the API table lists, the retired ones left out.
function M.models()
  local set = {}
  for name, entry in pairs(entries(gptimage.models)) do
    if not retired(entry) then
      set[name] = true
    end
  end
  return sorted(set)
end

--- Option names the API table lists (the API's own names: size, quality, ...).
function M.options()
  local set = {}
  for name in pairs(entries(gptimage.options)) do
    set[name] = true
  end
  return sorted(set)
end

--- The values an option takes, when the API table lists them (model: the
-- model names); an empty list for free-form options.
function M.values(option)
  if option == "model" then
    return M.models()
  end
  local entry = entries(gptimage.options)[option]
  local set = {}
  if type(entry) == "table" then
    add_words(set, entry.enum)
    add_words(set, entry.values)
    add_words(set, entry.choices)
    if entry.type == "boolean" then
      set["true"], set["false"] = true, true
    end
  end
  return sorted(set)
end

--- The words of `list` that start with `prefix`.
function M.filter(list, prefix)
  local out = {}
  for _, word in ipairs(list) do
    if word:sub(1, #prefix) == prefix then
      out[#out + 1] = word
    end
  end
  return out
end

return M
