-- gptimage.cache: what makes re-runs free.
--
-- Every output gets a sidecar record `<output>.json` beside the file saved
-- (for a template with {i} or {ext}, beside image 1 as saved) that says
-- which request made it (a stable hash of the canonical request, input image bytes
-- included), with the model, usage, cost, revised prompt, request id and
-- creation time. An entry whose hash is unchanged and whose files exist is
-- up to date. The JSON text comes from gptimage.json (sorted keys, so a
-- hash is stable), the files from gptimage.fs.
--
-- Pure Lua; runs on Lua 5.3/5.4 and LuaJIT.

local cjson = require "cjson"
local json = require "gptimage.json"
local fs = require "gptimage.fs"
local gptimage = require "gptimage"

local cache = {}

cache.HASH_SCHEME = "fnv1a64"
cache.RECORD_VERSION = 1

------------------------------------------------------------------------
-- FNV-1a 64, from the C core (gptimage.fnv1a64): the same digits under
-- every interpreter, so a cache written under one is valid under another.

local fnv1a64 = gptimage.fnv1a64

--- A running hash: h = cache.hasher(); h:update(s) ...; h:hex()
function cache.hasher()
  local state = nil
  local hasher = {}
  function hasher.update(_, s)
    state = fnv1a64(s, state)
    return hasher
  end
  function hasher.hex()
    return state or fnv1a64("")
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
-- Request hashes.

-- The fields of a request that change what the API answers.
-- (op, extra, and every field of the module's API table but the input
-- images, hashed by their bytes, and the streaming ones, which change only
-- how the answer arrives)
cache.REQUEST_FIELDS = { "op" }
for _, o in ipairs(gptimage.options) do
  if o.type ~= "image" and o.name ~= "stream" and o.name ~= "partial_images" then
    cache.REQUEST_FIELDS[#cache.REQUEST_FIELDS + 1] = o.name
  end
end
cache.REQUEST_FIELDS[#cache.REQUEST_FIELDS + 1] = "extra"

--- The stable hash of a request: `fields` is a table of API options (plus
-- `op`), `inputs` a list of input image paths, `mask` a path or nil. Input
-- images count by their bytes, not their names. Returns the hash, or nil and
-- a message when an input cannot be read.
function cache.request_hash(fields, inputs, mask, markup)
  local canonical = { version = cache.RECORD_VERSION }
  for _, name in ipairs(cache.REQUEST_FIELDS) do
    canonical[name] = fields[name]
  end
  canonical.n = canonical.n or 1
  canonical.op = canonical.op or "generate"
  -- a file counts by its digest; one that cannot be read fails the hash
  local problem
  local function digest(what, path)
    local value, why = cache.file_digest(path)
    if not value and not problem then
      problem = "cannot read " .. what .. " '" .. path .. "': " .. tostring(why)
    end
    return value
  end
  if inputs and #inputs > 0 then
    canonical.images = {}
    for i, path in ipairs(inputs) do
      canonical.images[i] = digest("input image", path)
    end
  end
  canonical.mask = mask and digest("mask", mask)
  canonical.markup = markup and digest("markup", markup)
  if problem then
    return nil, problem
  end
  return cache.HASH_SCHEME .. ":" .. cache.hash_string(json.encode(canonical))
end

------------------------------------------------------------------------
-- Sidecar records.

function cache.sidecar_path(output)
  return output .. ".json"
end

--- The record next to output, or nil (missing or unreadable: not cached).
function cache.read(output)
  -- a record is a regular file or none: a FIFO in its place would block
  local text = fs.read_regular(cache.sidecar_path(output))
  if not text then
    return nil
  end
  local record = json.decode(text)
  if type(record) ~= "table" then
    return nil
  end
  return record
end

-- The files a record names, as paths usable from here.
function cache.record_files(output, record)
  local files = {}
  local dir = fs.dirname(output)
  if type(record.files) == "table" and #record.files > 0 then
    for i, name in ipairs(record.files) do
      if type(name) ~= "string" then
        return {}
      end
      files[i] = fs.join(dir, name)
    end
  else
    files[1] = output
  end
  return files
end

--- The name an output's record sits beside: the output as the module saves
-- image 1 of it, with {i} and {ext} resolved (a plain name is itself; the
-- numbered images of n > 1 are all listed in that one record).
function cache.beside(output, output_format)
  return gptimage.save_path(output, 1, 1, output_format)
end

-- Where earlier versions kept the record of a templated output, other than
-- beside its file: under the template as typed (the manifest runner and
-- planner) and with only {ext} resolved (the Batch API helper).
local function earlier_places(output, output_format)
  local beside = cache.beside(output, output_format)
  local places = {}
  for _, place in ipairs{ output, (output:gsub("{ext}", gptimage.extension(output_format))) } do
    if place ~= beside and place ~= places[1] then
      places[#places + 1] = place
    end
  end
  return places
end

--- The record of an output (a plain name or a template) and the name it
-- sits beside: beside the saved file, else at a place where an earlier
-- version wrote it, so that an upgrade makes no paid image again. No record:
-- nil and the name it would sit beside.
function cache.find(output, output_format)
  local beside = cache.beside(output, output_format)
  local record = cache.read(beside)
  if record then
    return record, beside
  end
  for _, place in ipairs(earlier_places(output, output_format)) do
    record = cache.read(place)
    if record then
      return record, place
    end
  end
  return nil, beside
end

--- true when output (a plain name or a template, see cache.find) was made by
-- the request `hash` and every file it made is still there; then the record
-- and the name it sits beside.
function cache.up_to_date(output, hash, output_format)
  local record, place = cache.find(output, output_format)
  if not record or record.request_hash ~= hash then
    return false, record, place
  end
  local files = cache.record_files(place, record)
  if #files == 0 then
    return false, record, place
  end
  for _, path in ipairs(files) do
    if fs.kind(path) ~= "file" then
      return false, record, place
    end
  end
  return true, record, place
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
  local dir = fs.dirname(output)
  local files = json.array()
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
    local prompts = json.array()
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
  local ok, text = pcall(json.encode, record, "  ")
  if not ok then
    return nil, "cannot encode the record of '" .. output .. "': " .. tostring(text)
  end
  return fs.write_atomic(cache.sidecar_path(output), text .. "\n")
end

--- Writes the record of a result beside the file saved for output (a plain
-- name or a template) and removes one an earlier version left elsewhere,
-- which the new one replaces. true and the name it sits beside, or nil and
-- a message.
function cache.write_beside(output, output_format, res, info)
  local beside = cache.beside(output, output_format)
  local ok, problem = cache.write(beside, cache.record(beside, res, info))
  if not ok then
    return nil, problem
  end
  for _, place in ipairs(earlier_places(output, output_format)) do
    if fs.kind(cache.sidecar_path(place)) == "file" then
      os.remove(cache.sidecar_path(place))
    end
  end
  return true, beside
end

return cache
