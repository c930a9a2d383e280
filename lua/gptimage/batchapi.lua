-- gptimage.batchapi: image generation through the OpenAI Batch API.
--
-- submit writes one JSONL line per request, uploads it (/files, purpose
-- "batch") and creates a batch for /v1/images/generations; status reads a
-- batch; collect waits for it if asked, downloads the output and error files
-- and writes every image (atomically) with its sidecar record.
--
--   local batch, record = client:batch_submit(list, { state = "sprites.batches.json" })
--   local batch, err = client:batch_status(batch.id)
--   local results, batch = client:batch_collect(batch.id, { state = "sprites.batches.json", wait = true })
--
-- Edits are not submitted: the Batch API takes /v1/images/edits only with
-- images given as URLs or file ids in JSON, not the local files this module
-- uploads, so edits and variations go through client:edit / client:variation.
--
-- Caller bugs raise; failures of the world return nil, err (err.kind as in
-- the module: "api", "http", "network", "timeout", "io", "decode").

local cache = require "gptimage.cache"
local json = require "gptimage.json"
local fs = require "gptimage.fs"
local gptimage = require "gptimage"

local batchapi = {}

batchapi.ENDPOINT = "/v1/images/generations"
batchapi.MAX_LINES = 50000
batchapi.DEFAULT_INTERVAL = 15
-- The Batch API bills half the price of the same synchronous requests.
batchapi.PRICE_FACTOR = 0.5

-- Fields of a generation request body: the generate fields of the module's
-- API table, but streaming (the Batch API answers whole).
local BODY_FIELDS = {}
for _, o in ipairs(gptimage.options) do
  if o.type ~= "image" and o.name ~= "stream" and o.name ~= "partial_images" and o.endpoints[1] == "generate" then
    BODY_FIELDS[#BODY_FIELDS + 1] = o.name
  end
end

-- Fields of a list entry that are not sent.
local LOCAL_FIELDS = { save = true, custom_id = true, request_hash = true, op = true,
                       timeout = true, max_retries = true }

local SUBMIT_OPTIONS = { state = true, metadata = true, completion_window = true, model = true }
local COLLECT_OPTIONS = { dir = true, outputs = true, state = true, wait = true, interval = true,
                          sidecars = true, on_status = true, on_result = true }

local TERMINAL = { completed = true, failed = true, expired = true, cancelled = true }

------------------------------------------------------------------------
-- errors

-- the module's own error metatable, so that these errors print and compare
-- like every other
local function new_error(fields)
  return setmetatable(fields, gptimage.Error)
end
batchapi.new_error = new_error

local function check_id(fn, id)
  if type(id) ~= "string" or not id:match("^[%w_%-]+$") then
    error(string.format("%s: batch id must be a string of letters, digits, '_' and '-' (got %s)",
      fn, type(id) == "string" and ("'" .. id .. "'") or type(id)), 3)
  end
end

-- A file id from the server goes into a request path: letters, digits, '_'
-- and '-' only, or the answer is not one we can use.
local function is_plain_id(id)
  return type(id) == "string" and id:match("^[%w_%-]+$") ~= nil
end

local function check_options(fn, opts, known)
  if opts == nil then
    return {}
  end
  if type(opts) ~= "table" then
    error(fn .. ": options must be a table", 3)
  end
  for key in pairs(opts) do
    if not known[key] then
      local names = {}
      for name in pairs(known) do
        names[#names + 1] = name
      end
      table.sort(names)
      error(string.format("%s: unknown option '%s' (%s)", fn, tostring(key), table.concat(names, ", ")), 3)
    end
  end
  return opts
end

------------------------------------------------------------------------
-- request lines

--- Checks the options of an image call with the module's own validation
-- (gptimage.validate: per-model values, unknown names, input images) without
-- a request or a client. true, or nil and the message the call would raise.
function batchapi.validate(op, options)
  local ok, problem = pcall(gptimage.validate, op, options)
  if not ok then
    return nil, (tostring(problem):gsub("^[^:]*%.lua:%d+: ", ""))
  end
  return true
end

local function is_dalle(model)
  return type(model) == "string" and model:sub(1, 7) == "dall-e-"
end

--- The JSON body of one generation line; raises on a caller bug.
function batchapi.body(entry, default_model, where)
  where = where or "entry"
  if type(entry) ~= "table" then
    error(where .. " must be a table of image options", 3)
  end
  if entry.op ~= nil and entry.op ~= "generate" then
    error(string.format("%s: op '%s' cannot go through the Batch API (it takes edits only with image "
      .. "URLs or file ids); run it with client:%s", where, tostring(entry.op), tostring(entry.op)), 3)
  end
  if entry.image ~= nil or entry.mask ~= nil then
    error(where .. ": input images cannot go through the Batch API; run edits with client:edit", 3)
  end
  if entry.stream or entry.partial_images or entry.on_partial then
    error(where .. ": streaming (stream, partial_images) is not available through the Batch API", 3)
  end
  local options = {}
  for key, value in pairs(entry) do
    if not LOCAL_FIELDS[key] then
      options[key] = value
    end
  end
  options.model = options.model or default_model or gptimage.default_model
  if options.extra ~= nil and type(options.extra) ~= "table" then
    error(where .. ": 'extra' must be a table", 3)
  end
  if is_dalle(options.model) then
    if options.response_format == "url" then
      error(where .. ": response_format 'url' cannot be collected from a batch; leave it out", 3)
    end
  end
  local ok, problem = batchapi.validate("generate", options)
  if not ok then
    error(where .. ": " .. problem, 3)
  end
  local body = {}
  for _, name in ipairs(BODY_FIELDS) do
    body[name] = options[name]
  end
  if is_dalle(body.model) then
    body.response_format = "b64_json"
  end
  for key, value in pairs(entry.extra or {}) do
    body[key] = value
  end
  return body
end

------------------------------------------------------------------------
-- state files: which batch writes which outputs

--- The state of a file: { batches = { [id] = record } }; a missing file is
-- an empty state. nil, message when the file is not a state file.
function batchapi.read_state(path)
  local text = fs.read_regular(path) -- a FIFO or folder is no state
  if not text then
    return { batches = {} }
  end
  local state, problem = json.decode(text)
  if type(state) ~= "table" then
    return nil, "'" .. path .. "' is not a batch state file: " .. tostring(problem or "not an object")
  end
  state.batches = type(state.batches) == "table" and state.batches or {}
  return state
end

function batchapi.save_state(path, state)
  local ok, text = pcall(json.encode, state, "  ")
  if not ok then
    return nil, text
  end
  return fs.write_atomic(path, text .. "\n")
end

local function update_state(path, id, change)
  local state, problem = batchapi.read_state(path)
  if not state then
    return nil, problem
  end
  state.batches[id] = change(state.batches[id])
  return batchapi.save_state(path, state)
end

--- The first of `paths` that records batch `id`: path, record.
function batchapi.find_state(id, paths)
  for _, path in ipairs(paths) do
    local state = batchapi.read_state(path)
    if state and state.batches[id] then
      return path, state.batches[id]
    end
  end
  return nil
end

------------------------------------------------------------------------
-- submit

local function temporary_file()
  local path = os.tmpname()
  return path
end

--- Submits `list` (image options per entry, plus `save` = the output path
-- and `custom_id`, default the entry's number) as one batch. opts:
-- `state` (a file recording where each output goes, read by collect),
-- `metadata`, `completion_window` ("24h"), `model` (for entries without
-- one; default gptimage.default_model). Returns the batch object and its record.
function batchapi.submit(client, list, opts)
  opts = check_options("batch_submit", opts, SUBMIT_OPTIONS)
  if type(list) ~= "table" or #list == 0 then
    error("batch_submit: expects a non-empty list of image options", 2)
  end
  if #list > batchapi.MAX_LINES then
    error(string.format("batch_submit: a batch holds at most %d requests; split the list", batchapi.MAX_LINES), 2)
  end
  if opts.state ~= nil and type(opts.state) ~= "string" then
    error("batch_submit: 'state' must be a file path", 2)
  end
  local lines, entries, seen = {}, {}, {}
  for i, entry in ipairs(list) do
    local where = "batch_submit: entry " .. i
    local body = batchapi.body(entry, opts.model, where)
    local custom_id = entry.custom_id or tostring(i)
    if type(custom_id) ~= "string" or custom_id == "" then
      error(where .. ": 'custom_id' must be a non-empty string", 2)
    end
    if seen[custom_id] then
      error(string.format("%s: custom_id '%s' is also entry %d's", where, custom_id, seen[custom_id]), 2)
    end
    if entry.save ~= nil and type(entry.save) ~= "string" then
      error(where .. ": 'save' must be a path", 2)
    end
    seen[custom_id] = i
    lines[i] = json.encode({ custom_id = custom_id, method = "POST", url = batchapi.ENDPOINT, body = body })
    entries[i] = {
      custom_id = custom_id,
      output = entry.save and fs.absolute(entry.save) or nil,
      request_hash = entry.request_hash,
      model = body.model,
      prompt = body.prompt,
      n = body.n,
      output_format = body.output_format,
      quality = body.quality,
      size = body.size,
    }
  end

  local path = temporary_file()
  local ok, problem = fs.write_atomic(path, table.concat(lines, "\n") .. "\n")
  if not ok then
    os.remove(path)
    return nil, new_error{ kind = "io", message = problem }
  end
  local uploaded, err = client:request{
    method = "POST", path = "files",
    form = { { name = "purpose", value = "batch" },
             { name = "file", path = path, filename = "batch.jsonl", type = "application/jsonl" } },
  }
  os.remove(path)
  if not uploaded then
    return nil, err
  end
  local file = uploaded.json
  if type(file) ~= "table" or not is_plain_id(file.id) then
    return nil, new_error{ kind = "decode", message = "the file upload answered without a file id",
                           request_id = uploaded.request_id }
  end
  local created
  created, err = client:request{
    method = "POST", path = "batches",
    json = { input_file_id = file.id, endpoint = batchapi.ENDPOINT,
             completion_window = opts.completion_window or "24h", metadata = opts.metadata },
  }
  if not created then
    return nil, err
  end
  local batch = json.strip_nulls(client:redact(created.json))
  -- the id goes into later request paths (status, collect): a plain id only
  if type(batch) ~= "table" or not is_plain_id(batch.id) then
    return nil, new_error{ kind = "decode", message = "the batch was created without an id",
                           request_id = created.request_id }
  end
  local record = {
    id = batch.id,
    endpoint = batchapi.ENDPOINT,
    input_file_id = file.id,
    created = batch.created_at or os.time(),
    entries = entries,
  }
  if opts.state then
    ok, problem = update_state(opts.state, batch.id, function() return record end)
    if not ok then
      return nil, new_error{ kind = "io", message = "the batch " .. batch.id
        .. " was submitted but its state could not be saved: " .. tostring(problem), batch = batch }
    end
  end
  return batch, record
end

------------------------------------------------------------------------
-- status, cancel

--- The batch object (status, request_counts, output_file_id, ...), or nil, err.
function batchapi.status(client, id)
  check_id("batch_status", id)
  local res, err = client:request{ method = "GET", path = "batches/" .. id }
  if not res then
    return nil, err
  end
  local batch = json.strip_nulls(client:redact(res.json))
  if type(batch) ~= "table" or type(batch.status) ~= "string" then
    return nil, new_error{ kind = "decode", message = "the batch answer has no status", request_id = res.request_id }
  end
  return batch
end

function batchapi.cancel(client, id)
  check_id("batch_cancel", id)
  local res, err = client:request{ method = "POST", path = "batches/" .. id .. "/cancel" }
  if not res then
    return nil, err
  end
  return json.strip_nulls(client:redact(res.json))
end

------------------------------------------------------------------------
-- collect

local function sleep(seconds)
  gptimage.os.sleep(seconds)
end

local function pending_error(batch)
  local counts = batch.request_counts or {}
  return new_error{
    kind = "timeout", pending = true, status = nil, batch = batch, batch_status = batch.status,
    message = string.format("batch %s is %s (%d of %d requests done); collect it later or wait for it",
      batch.id or "?", batch.status, (counts.completed or 0) + (counts.failed or 0), counts.total or 0),
  }
end

local function wait_until_done(client, id, opts)
  local deadline
  if opts.wait == true then
    deadline = math.huge
  elseif type(opts.wait) == "number" then
    deadline = os.time() + opts.wait
  end
  local interval = opts.interval or batchapi.DEFAULT_INTERVAL
  while true do
    local batch, err = batchapi.status(client, id)
    if not batch then
      return nil, err
    end
    if opts.on_status then
      opts.on_status(batch)
    end
    if TERMINAL[batch.status] then
      return batch
    end
    if not deadline or os.time() + interval > deadline then
      return nil, pending_error(batch)
    end
    sleep(interval)
  end
end

-- The output_format of decoded image bytes (the module's sniffer).
local function sniffed_format(bytes)
  return gptimage.sniff(bytes) or "png"
end

--- A relative file name made from a custom_id: no absolute paths, no "..".
function batchapi.safe_name(custom_id)
  local name = custom_id:gsub("[^%w%._%-/]", "_"):gsub("^/+", "")
  local parts = {}
  for part in name:gmatch("[^/]+") do
    if part == ".." or part == "." then
      part = "_"
    end
    parts[#parts + 1] = part
  end
  name = table.concat(parts, "/")
  if name == "" then
    name = "_"
  end
  if not fs.basename(name):match("%.[%w]+$") then
    name = name .. ".{ext}"
  end
  return name
end

--- The cost in dollars of a batch answer at the batch price, or nil: the
-- module's own cost of the same answer (gptimage.cost), halved.
function batchapi.cost(model, body, image_count)
  if type(model) ~= "string" then
    return nil
  end
  local images = {}
  for i = 1, image_count do
    images[i] = true
  end
  local dollars = gptimage.cost(model, { usage = body.usage, size = body.size,
                                                    quality = body.quality, images = images })
  return dollars and dollars * batchapi.PRICE_FACTOR
end

local function line_error(custom_id, output, fields)
  return { custom_id = custom_id, output = output, err = new_error(fields) }
end

-- One line of an output or error file -> a result { custom_id, output, res | err }.
local function collect_line(line, number, ctx)
  -- what the server sent may echo the API key: masked before it reaches a
  -- result, a record or a message
  local record = ctx.redact(json.decode(line))
  if type(record) ~= "table" then
    return line_error(nil, nil, { kind = "decode",
      message = string.format("line %d of the batch output is not JSON", number) })
  end
  local custom_id = type(record.custom_id) == "string" and record.custom_id or nil
  local info = custom_id and ctx.entries[custom_id] or {}
  local template
  if custom_id and ctx.outputs[custom_id] then
    template = ctx.outputs[custom_id]
  elseif info.output then
    template = info.output
  elseif custom_id then
    template = fs.join(ctx.dir, batchapi.safe_name(custom_id))
  end
  -- where a failed line would have gone: the template with the extension
  -- the request asked for
  local expected = template and cache.beside(template, info.output_format)
  local response = type(record.response) == "table" and record.response or nil
  if record.error then
    local e = type(record.error) == "table" and record.error or {}
    return line_error(custom_id, expected, { kind = "api", code = e.code,
      message = tostring(e.message or "the request failed") })
  end
  if not response then
    return line_error(custom_id, expected, { kind = "decode",
      message = "the line has neither a response nor an error" })
  end
  local body = type(response.body) == "table" and response.body or {}
  if response.status_code ~= 200 then
    local e = type(body.error) == "table" and body.error or {}
    return line_error(custom_id, expected, {
      kind = "api", status = response.status_code, code = e.code, type = e.type, param = e.param,
      message = tostring(e.message or ("the request answered status " .. tostring(response.status_code))),
      request_id = response.request_id,
    })
  end
  if not custom_id then
    return line_error(nil, nil, { kind = "decode", message = string.format("line %d has no custom_id", number) })
  end
  local data = type(body.data) == "table" and body.data or {}
  if #data == 0 then
    return line_error(custom_id, expected, { kind = "decode", message = "the answer holds no image",
      request_id = response.request_id })
  end
  local decoded = {}
  for i, item in ipairs(data) do
    if type(item) ~= "table" or type(item.b64_json) ~= "string" then
      return line_error(custom_id, expected, { kind = "decode", request_id = response.request_id,
        message = string.format("image %d has no b64_json", i) })
    end
    local bytes, err = gptimage.b64decode(item.b64_json)
    if not bytes then
      return line_error(custom_id, expected, { kind = "decode", request_id = response.request_id,
        message = string.format("image %d: %s", i, tostring(err and err.message or err)) })
    end
    decoded[i] = bytes
  end
  if ctx.answered[custom_id] then
    return line_error(custom_id, expected, { kind = "decode", request_id = response.request_id,
      message = string.format("custom_id '%s' was answered twice in the batch output (line %d and line %d); "
        .. "the first answer was kept, this one was not saved", custom_id, ctx.answered[custom_id], number) })
  end
  ctx.answered[custom_id] = number
  local paths = {}
  for i, bytes in ipairs(decoded) do
    paths[i] = gptimage.save_path(template, i, #decoded, sniffed_format(bytes))
    local other = ctx.written[fs.normalize(paths[i])]
    if other then
      return line_error(custom_id, expected, { kind = "io", request_id = response.request_id,
        message = string.format("image %d would be saved as '%s', which custom_id '%s' already wrote; "
          .. "nothing of this answer was saved", i, paths[i], other) })
    end
  end
  -- how many images the entry asked for, when the state says
  local asked = info.custom_id and (tonumber(info.n) or 1) or nil
  if asked and #decoded > asked then
    return line_error(custom_id, expected, { kind = "decode", request_id = response.request_id,
      message = string.format("the answer holds %d images for n = %d; none was saved", #decoded, asked) })
  end
  local images = {}
  for i, bytes in ipairs(decoded) do
    if asked and asked > 1 then
      paths[i] = gptimage.save_path(template, i, asked, sniffed_format(bytes))
    end
    local ok, problem = fs.write_atomic(paths[i], bytes)
    if not ok then
      return line_error(custom_id, expected, { kind = "io", message = problem })
    end
    ctx.written[fs.normalize(paths[i])] = custom_id
    images[i] = { path = paths[i], revised_prompt = data[i].revised_prompt }
  end
  -- image 1 as saved: the name the record sits beside
  local output = cache.beside(template, sniffed_format(decoded[1]))
  local model = info.model or body.model
  local res = {
    images = images, usage = body.usage, created = body.created, request_id = response.request_id,
    model = model, size = body.size, quality = body.quality, background = body.background,
    output_format = body.output_format, cost = batchapi.cost(model, body, #images),
  }
  if asked and #decoded < asked then
    -- what arrived is kept and handed back, but the entry is not built
    local result = line_error(custom_id, output, { kind = "decode", request_id = response.request_id,
      message = string.format("the answer holds %d images for n = %d", #decoded, asked) })
    result.res = res
    return result
  end
  if ctx.sidecars then
    local ok, problem = cache.write_beside(template, sniffed_format(decoded[1]), res, {
      request_hash = info.request_hash, model = model, prompt = info.prompt,
      batch_id = ctx.id, price = "batch",
    })
    if not ok then
      return line_error(custom_id, output, { kind = "io", message = problem })
    end
  end
  return { custom_id = custom_id, output = output, res = res }
end

local function download(client, file_id)
  local path = temporary_file()
  local res, err = client:request{ method = "GET", path = "files/" .. file_id .. "/content", save = path }
  if not res then
    os.remove(path)
    return nil, err
  end
  return path
end

--- Collects a finished batch. opts: `state` (a state file path, or a
-- record from submit) says where each output goes; `outputs` maps
-- custom_id -> path (wins over the state); `dir` is where others go
-- (default "."); `wait` (true, or seconds) polls until the batch ends,
-- every `interval` seconds; `sidecars` (default true) writes the records;
-- `on_status(batch)` runs after each status read, `on_result(result)` as
-- each line is written.
-- Returns results (one per line, in submission order when known), batch;
-- or nil, err (kind "timeout" with pending = true while it still runs).
function batchapi.collect(client, id, opts)
  check_id("batch_collect", id)
  opts = check_options("batch_collect", opts, COLLECT_OPTIONS)
  if opts.wait ~= nil and opts.wait ~= true and opts.wait ~= false and type(opts.wait) ~= "number" then
    error("batch_collect: 'wait' must be true or a number of seconds", 2)
  end
  if opts.interval ~= nil and (type(opts.interval) ~= "number" or opts.interval < 0) then
    error("batch_collect: 'interval' must be a number of seconds", 2)
  end
  if opts.outputs ~= nil and type(opts.outputs) ~= "table" then
    error("batch_collect: 'outputs' maps custom_id to a path", 2)
  end
  local record = {}
  local state_path
  if type(opts.state) == "string" then
    state_path = opts.state
    local state, problem = batchapi.read_state(opts.state)
    if not state then
      return nil, new_error{ kind = "io", message = problem }
    end
    record = state.batches[id] or {}
  elseif type(opts.state) == "table" then
    record = opts.state
  elseif opts.state ~= nil then
    error("batch_collect: 'state' must be a path or a record from batch_submit", 2)
  end
  local ctx = { id = id, entries = {}, outputs = opts.outputs or {}, dir = opts.dir or ".",
                sidecars = opts.sidecars ~= false, answered = {}, written = {},
                redact = function(value) return client:redact(value) end }
  local order = {}
  for i, entry in ipairs(record.entries or {}) do
    if type(entry) == "table" and entry.custom_id then
      ctx.entries[entry.custom_id] = entry
      order[entry.custom_id] = i
    end
  end

  local batch, err = wait_until_done(client, id, opts)
  if not batch then
    return nil, err
  end
  if batch.status == "failed" then
    local reasons = {}
    local errors = type(batch.errors) == "table" and batch.errors.data or {}
    for _, e in ipairs(type(errors) == "table" and errors or {}) do
      reasons[#reasons + 1] = tostring(e.message or e.code)
    end
    return nil, new_error{ kind = "api", batch = batch,
      message = "batch " .. id .. " failed" .. (#reasons > 0 and (": " .. table.concat(reasons, "; ")) or "") }
  end

  local results = {}
  for _, file_id in ipairs({ batch.output_file_id or false, batch.error_file_id or false }) do
    if file_id and not is_plain_id(file_id) then
      return nil, new_error{ kind = "decode", batch = batch,
        message = "batch " .. id .. " names an output file id that is not a plain id: " .. tostring(file_id) }
    end
    if file_id then
      local path
      path, err = download(client, file_id)
      if not path then
        return nil, err
      end
      local handle, problem = io.open(path, "rb")
      if not handle then
        os.remove(path)
        return nil, new_error{ kind = "io", message = tostring(problem) }
      end
      local number = 0
      for line in handle:lines() do
        number = number + 1
        if line:match("%S") then
          local result = collect_line(line, number, ctx)
          results[#results + 1] = result
          if opts.on_result then
            opts.on_result(result)
          end
        end
      end
      handle:close()
      os.remove(path)
    end
  end
  local position = {}
  for i, result in ipairs(results) do
    position[result] = i
  end
  table.sort(results, function(a, b)
    local oa = a.custom_id and order[a.custom_id] or math.huge
    local ob = b.custom_id and order[b.custom_id] or math.huge
    if oa ~= ob then
      return oa < ob
    end
    return position[a] < position[b]
  end)
  if state_path then
    update_state(state_path, id, function(old)
      old = old or { id = id, entries = json.array() }
      old.collected_at = os.time()
      old.status = batch.status
      return old
    end)
  end
  return results, batch
end

return batchapi
