-- gptimage.cache: what makes re-runs free.
--
-- Every output gets a sidecar record `<output>.json` that says which request
-- made it (a stable hash of the canonical request, input image bytes
-- included), with the model, usage, cost, revised prompt, request id and
-- creation time. An entry whose hash is unchanged and whose files exist is
-- up to date. Also home to the small file functions the pipeline shares:
-- a deterministic JSON encoder (sorted keys, optional indent), atomic
-- writes, folder creation, path joining.
--
-- Pure Lua; runs on Lua 5.3/5.4 and LuaJIT.

local cjson = require "cjson"

local cache = {}

cache.HASH_SCHEME = "fnv1a64"
cache.RECORD_VERSION = 1

------------------------------------------------------------------------
-- FNV-1a 64. Lua 5.3+ has wrapping 64-bit integers; LuaJIT has uint64
-- cdata. Each body is compiled from source so that neither parser sees the
-- other's syntax. Both give the same digits, so a cache written under one
-- interpreter is valid under the other.

local FNV_54 = [[
local byte = string.byte
return function(h, s)
  local n = #s
  local i = 1
  while i + 7 <= n do
    local a, b, c, d, e, f, g, k = byte(s, i, i + 7)
    h = (h ~ a) * 0x100000001b3
    h = (h ~ b) * 0x100000001b3
    h = (h ~ c) * 0x100000001b3
    h = (h ~ d) * 0x100000001b3
    h = (h ~ e) * 0x100000001b3
    h = (h ~ f) * 0x100000001b3
    h = (h ~ g) * 0x100000001b3
    h = (h ~ k) * 0x100000001b3
    i = i + 8
  end
  for j = i, n do
    h = (h ~ byte(s, j)) * 0x100000001b3
  end
  return h
end, 0xcbf29ce484222325, function(h) return string.format("%016x", h) end
]]

local FNV_JIT = [[
local bit = require "bit"
local bxor, byte = bit.bxor, string.byte
local prime = 0x100000001b3ULL
return function(h, s)
  for i = 1, #s do
    h = bxor(h, byte(s, i)) * prime
  end
  return h
end, 0xcbf29ce484222325ULL, function(h) return bit.tohex(h, 16) end
]]

local fnv_update, fnv_start, fnv_hex
do
  local source = (type(jit) == "table") and FNV_JIT or FNV_54
  local chunk, problem = (loadstring or load)(source, "=fnv1a64") -- luacheck: ignore 113
  if not chunk then
    error("gptimage.cache needs Lua 5.3 or later, or LuaJIT: " .. tostring(problem))
  end
  fnv_update, fnv_start, fnv_hex = chunk()
end

--- A running hash: h = cache.hasher(); h:update(s) ...; h:hex()
function cache.hasher()
  local state = fnv_start
  local hasher = {}
  function hasher.update(_, s)
    state = fnv_update(state, s)
    return hasher
  end
  function hasher.hex()
    return fnv_hex(state)
  end
  return hasher
end

function cache.hash_string(s)
  return cache.hasher():update(s):hex()
end

--- Hex digest of a file's bytes, read in pieces; nil, message on failure.
function cache.file_digest(path)
  local handle, problem = io.open(path, "rb")
  if not handle then
    return nil, problem
  end
  local hasher = cache.hasher()
  local size = 0
  while true do
    local piece = handle:read(65536)
    if not piece then
      break
    end
    size = size + #piece
    hasher:update(piece)
  end
  handle:close()
  return hasher:hex() .. ":" .. size
end

------------------------------------------------------------------------
-- JSON writing. cjson writes "/" as "\/" and keys in hash order; records
-- and request hashes need the same text for the same value.

-- A table with this metatable is written as a JSON array even when empty.
cache.array_mt = { __name = "gptimage.json_array" }

function cache.array(list)
  return setmetatable(list or {}, cache.array_mt)
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
    return getmetatable(t) == cache.array_mt
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
function cache.json_encode(value, indent)
  local out = {}
  encode_value(value, indent, 0, out, {})
  return table.concat(out)
end

--- Decoded JSON with JSON null turned into absent fields (nil) and whole
-- numbers into integers (cjson gives floats on Lua 5.3+), or nil, message.
function cache.json_decode(text)
  local ok, value = pcall(cjson.decode, text)
  if not ok then
    return nil, tostring(value)
  end
  return cache.strip_nulls(value)
end

local to_integer = math.tointeger or function(x) return x end

--- value without JSON nulls (removed from tables, nil at the top), whole
-- numbers as integers; tables are changed in place.
function cache.strip_nulls(value)
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
        value[key] = cache.strip_nulls(item)
      end
    end
  end
  return value
end

------------------------------------------------------------------------
-- Files and paths.

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
cache.shell_quote = shell_quote

-- os.execute answers a status number on Lua 5.1 and true/nil on 5.2+.
function cache.execute(command)
  local first, _, code = os.execute(command)
  if type(first) == "number" then
    return first == 0
  end
  return first == true and (code == nil or code == 0)
end

function cache.exists(path)
  local handle = io.open(path, "rb")
  if handle then
    handle:close()
    return true
  end
  return false
end

function cache.read_file(path)
  local handle, problem = io.open(path, "rb")
  if not handle then
    return nil, problem
  end
  local content = handle:read("*a")
  handle:close()
  return content
end

function cache.dirname(path)
  local dir = path:match("^(.*)/[^/]*$")
  if dir == nil then
    return "."
  end
  if dir == "" then
    return "/"
  end
  return dir
end

function cache.basename(path)
  return path:match("([^/]*)$")
end

function cache.is_absolute(path)
  return path:sub(1, 1) == "/"
end

--- base/path, unless path is absolute or base is empty or ".".
function cache.join(base, path)
  if cache.is_absolute(path) or base == nil or base == "" or base == "." then
    return path
  end
  if base:sub(-1) == "/" then
    return base .. path
  end
  return base .. "/" .. path
end

--- path without "." segments, doubled slashes or "name/.." pairs, so that
-- two spellings of one file compare equal.
function cache.normalize(path)
  local absolute = cache.is_absolute(path)
  local parts = {}
  for part in path:gmatch("[^/]+") do
    if part == ".." and #parts > 0 and parts[#parts] ~= ".." then
      parts[#parts] = nil
    elseif part ~= "." and not (part == ".." and absolute and #parts == 0) then
      parts[#parts + 1] = part
    end
  end
  local joined = table.concat(parts, "/")
  if absolute then
    return "/" .. joined
  end
  return joined == "" and "." or joined
end

local working_directory
function cache.cwd()
  if not working_directory then
    local pipe = io.popen("pwd")
    working_directory = pipe and pipe:read("*l")
    if pipe then
      pipe:close()
    end
    working_directory = working_directory or os.getenv("PWD") or "."
  end
  return working_directory
end

function cache.absolute(path)
  return cache.join(cache.cwd(), path)
end

--- Creates dir and its parents (mkdir -p); true or nil, message.
function cache.mkdirs(dir)
  if dir == nil or dir == "" or dir == "." or dir == "/" then
    return true
  end
  local probe = io.open(dir .. "/.", "rb")
  if probe then
    probe:close()
    return true
  end
  if cache.execute("mkdir -p -- " .. shell_quote(dir) .. " 2>/dev/null") then
    return true
  end
  return nil, "cannot create folder '" .. dir .. "'"
end

local seeded = false
local function temporary_suffix()
  if not seeded then
    math.randomseed(os.time() + math.floor((os.clock() * 1e6) % 1e6))
    seeded = true
  end
  return string.format("%06x%06x", math.random(0, 0xffffff), math.random(0, 0xffffff))
end

--- Writes data to a temporary file in path's folder and renames it over
-- path: readers never see a partial file. true or nil, message.
function cache.write_atomic(path, data)
  local dir = cache.dirname(path)
  local ok, problem = cache.mkdirs(dir)
  if not ok then
    return nil, problem
  end
  local temporary = cache.join(dir, "." .. cache.basename(path) .. ".tmp-" .. temporary_suffix())
  local handle
  handle, problem = io.open(temporary, "wb")
  if not handle then
    return nil, "cannot write '" .. path .. "': " .. tostring(problem)
  end
  local written, write_problem = handle:write(data)
  local closed, close_problem = handle:close()
  if not written or not closed then
    os.remove(temporary)
    return nil, "cannot write '" .. path .. "': " .. tostring(write_problem or close_problem)
  end
  ok, problem = os.rename(temporary, path)
  if not ok then
    os.remove(temporary)
    return nil, "cannot write '" .. path .. "': " .. tostring(problem)
  end
  return true
end

------------------------------------------------------------------------
-- Request hashes.

-- The fields of a request that change what the API answers.
cache.REQUEST_FIELDS = {
  "op", "model", "prompt", "n", "size", "quality", "background", "output_format",
  "output_compression", "moderation", "style", "response_format", "user",
  "input_fidelity", "extra",
}

--- The stable hash of a request: `fields` is a table of API options (plus
-- `op`), `inputs` a list of input image paths, `mask` a path or nil. Input
-- images count by their bytes, not their names. Returns the hash, or nil and
-- a message when an input cannot be read.
function cache.request_hash(fields, inputs, mask)
  local canonical = { version = cache.RECORD_VERSION }
  for _, name in ipairs(cache.REQUEST_FIELDS) do
    canonical[name] = fields[name]
  end
  canonical.n = canonical.n or 1
  canonical.op = canonical.op or "generate"
  if inputs and #inputs > 0 then
    canonical.images = {}
    for i, path in ipairs(inputs) do
      local digest, problem = cache.file_digest(path)
      if not digest then
        return nil, "cannot read input image '" .. path .. "': " .. tostring(problem)
      end
      canonical.images[i] = digest
    end
  end
  if mask then
    local digest, problem = cache.file_digest(mask)
    if not digest then
      return nil, "cannot read mask '" .. mask .. "': " .. tostring(problem)
    end
    canonical.mask = digest
  end
  return cache.HASH_SCHEME .. ":" .. cache.hash_string(cache.json_encode(canonical))
end

------------------------------------------------------------------------
-- Sidecar records.

function cache.sidecar_path(output)
  return output .. ".json"
end

--- The record next to output, or nil (missing or unreadable: not cached).
function cache.read(output)
  local text = cache.read_file(cache.sidecar_path(output))
  if not text then
    return nil
  end
  local record = cache.json_decode(text)
  if type(record) ~= "table" then
    return nil
  end
  return record
end

-- The files a record names, as paths usable from here.
function cache.record_files(output, record)
  local files = {}
  local dir = cache.dirname(output)
  if type(record.files) == "table" and #record.files > 0 then
    for i, name in ipairs(record.files) do
      if type(name) ~= "string" then
        return {}
      end
      files[i] = cache.join(dir, name)
    end
  else
    files[1] = output
  end
  return files
end

--- true (and the record) when output was made by the request `hash` and
-- every file it made is still there.
function cache.up_to_date(output, hash)
  local record = cache.read(output)
  if not record or record.request_hash ~= hash then
    return false, record
  end
  local files = cache.record_files(output, record)
  if #files == 0 then
    return false, record
  end
  for _, path in ipairs(files) do
    if not cache.exists(path) then
      return false, record
    end
  end
  return true, record
end

-- A file name relative to the sidecar's folder when it lives there.
local function relative_to(dir, path)
  if dir == "." then
    return path:match("^%./(.*)$") or path
  end
  if path:sub(1, #dir + 1) == dir .. "/" then
    return path:sub(#dir + 2)
  end
  return path
end

--- Builds the record of a result. `res` is a module result (images with
-- paths, usage, cost, request_id, created); `info` carries request_hash,
-- model, prompt and anything else worth keeping (batch_id, price).
function cache.record(output, res, info)
  local dir = cache.dirname(output)
  local files = cache.array()
  local images = res.images or {}
  for _, image in ipairs(images) do
    if image.path then
      files[#files + 1] = relative_to(dir, image.path)
    end
  end
  local first = images[1] or {}
  local record = {
    version = cache.RECORD_VERSION,
    request_hash = info.request_hash,
    model = res.model or info.model,
    prompt = info.prompt,
    files = files,
    usage = res.usage,
    cost = res.cost,
    revised_prompt = first.revised_prompt,
    request_id = res.request_id,
    created = res.created,
    size = res.size,
    quality = res.quality,
    background = res.background,
    output_format = res.output_format,
  }
  if #images > 1 and first.revised_prompt then
    local prompts = cache.array()
    for i, image in ipairs(images) do
      prompts[i] = image.revised_prompt or cjson.null
    end
    record.revised_prompts = prompts
  end
  for key, value in pairs(info) do
    if record[key] == nil and key ~= "request_hash" then
      record[key] = value
    end
  end
  return record
end

--- Writes the record next to output (atomically). true or nil, message.
function cache.write(output, record)
  local ok, text = pcall(cache.json_encode, record, "  ")
  if not ok then
    return nil, "cannot encode the record of '" .. output .. "': " .. tostring(text)
  end
  return cache.write_atomic(cache.sidecar_path(output), text .. "\n")
end

return cache
