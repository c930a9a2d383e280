-- gptimage.json: JSON text the same for the same value.
--
-- cjson writes "/" as "\/" and keys in hash order; records and request
-- hashes need the same text for the same value, so this encoder sorts keys
-- and can indent. Decoding goes through cjson, with JSON null turned into
-- absent fields and whole numbers into integers.
--
-- Contract: encode raises on values JSON cannot hold (functions, tables
-- that contain themselves, keys that are not strings or numbers); decode
-- returns nil, message for text that is not JSON.
--
-- Pure Lua; runs on Lua 5.3/5.4 and LuaJIT.

local cjson = require "cjson"

local json = {}

-- A table with this metatable is written as a JSON array even when empty.
json.array_mt = { __name = "gptimage.json_array" }

function json.array(list)
  return setmetatable(list or {}, json.array_mt)
end

local function is_integer(x)
  return x == math.floor(x) and x >= -2^53 and x <= 2^53
end

local ESCAPES = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
                  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

local function quote_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return ESCAPES[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function is_sequence(t)
  local count = 0
  for _ in pairs(t) do
    count = count + 1
  end
  if count == 0 then
    return getmetatable(t) == json.array_mt
  end
  for i = 1, count do
    if t[i] == nil then
      return false
    end
  end
  return true
end

local function sort_keys(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then
    return ta < tb
  end
  return a < b
end

local encode_value

local function encode_table(t, indent, depth, out, seen)
  if seen[t] then
    error("cannot encode a table that contains itself", 0)
  end
  seen[t] = true
  local newline, pad, inner = "", "", ""
  if indent then
    newline = "\n"
    pad = string.rep(indent, depth)
    inner = pad .. indent
  end
  local colon = indent and ": " or ":"
  if is_sequence(t) then
    if #t == 0 then
      out[#out + 1] = "[]"
    else
      out[#out + 1] = "[" .. newline
      for i = 1, #t do
        out[#out + 1] = inner
        encode_value(t[i], indent, depth + 1, out, seen)
        out[#out + 1] = (i < #t and "," or "") .. newline
      end
      out[#out + 1] = pad .. "]"
    end
  else
    local keys = {}
    for key in pairs(t) do
      local kind = type(key)
      if kind ~= "string" and kind ~= "number" then
        error("cannot encode a table key of type " .. kind, 0)
      end
      keys[#keys + 1] = key
    end
    table.sort(keys, sort_keys)
    if #keys == 0 then
      out[#out + 1] = "{}"
    else
      out[#out + 1] = "{" .. newline
      for i, key in ipairs(keys) do
        out[#out + 1] = inner .. quote_string(tostring(key)) .. colon
        encode_value(t[key], indent, depth + 1, out, seen)
        out[#out + 1] = (i < #keys and "," or "") .. newline
      end
      out[#out + 1] = pad .. "}"
    end
  end
  seen[t] = nil
end

encode_value = function(value, indent, depth, out, seen)
  local kind = type(value)
  if value == nil or value == cjson.null then
    out[#out + 1] = "null"
  elseif kind == "boolean" then
    out[#out + 1] = value and "true" or "false"
  elseif kind == "number" then
    if value ~= value or value == math.huge or value == -math.huge then
      out[#out + 1] = "null"
    elseif is_integer(value) then
      out[#out + 1] = string.format("%d", value)
    else
      out[#out + 1] = string.format("%.14g", value)
    end
  elseif kind == "string" then
    out[#out + 1] = quote_string(value)
  elseif kind == "table" then
    encode_table(value, indent, depth, out, seen)
  else
    error("cannot encode a value of type " .. kind, 0)
  end
end

--- JSON text of value with keys sorted; `indent` (a string such as "  ")
-- pretty-prints. Raises on values JSON cannot hold.
function json.encode(value, indent)
  local out = {}
  encode_value(value, indent, 0, out, {})
  return table.concat(out)
end

--- Decoded JSON with JSON null turned into absent fields (nil) and whole
-- numbers into integers (cjson gives floats on Lua 5.3+), or nil, message.
function json.decode(text)
  local ok, value = pcall(cjson.decode, text)
  if not ok then
    return nil, tostring(value)
  end
  return json.strip_nulls(value)
end

local to_integer = math.tointeger or function(x) return x end

--- value without JSON nulls (removed from tables, nil at the top), whole
-- numbers as integers; tables are changed in place.
function json.strip_nulls(value)
  if value == cjson.null then
    return nil
  end
  if type(value) == "number" then
    return to_integer(value) or value
  end
  if type(value) == "table" then
    for key, item in pairs(value) do
      if item == cjson.null then
        value[key] = nil
      elseif type(item) == "number" or type(item) == "table" then
        value[key] = json.strip_nulls(item)
      end
    end
  end
  return value
end

return json
