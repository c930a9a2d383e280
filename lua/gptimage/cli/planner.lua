-- gptimage.cli.planner: what a run would do, before it does anything.
--
-- From a loaded manifest: each entry's module call, the dependency graph
-- (an entry whose inputs are another entry's outputs runs after it), the
-- cache check (up to date, waiting in a batch, or to build), the estimate
-- of each entry and of the whole plan, and the plan as text or JSON.
--
-- Contract: make_plan sends nothing; it raises a usage error (naming every
-- invalid entry, or the cycle) before anything could be paid for.

local cache = require "gptimage.cache"
local json = require "gptimage.json"
local fs = require "gptimage.fs"
local batchapi = require "gptimage.batchapi"
local manifest = require "gptimage.manifest"
local common = require "gptimage.cli.common"

local planner = {}
local usage_error, dollars, plural = common.usage_error, common.dollars, common.plural
local unpack_list = common.unpack_list

-- The request options an entry or the command line may set: the flags made
-- from the module's API table (cli.args), and extra.
local IMAGE_KEYS = {}
for _, o in ipairs(require("gptimage.cli.args").IMAGE_OPTIONS) do
  IMAGE_KEYS[#IMAGE_KEYS + 1] = o.key
end

local function image_defaults(values)
  local defaults = {}
  for _, key in ipairs(IMAGE_KEYS) do
    defaults[key] = values[key]
  end
  return defaults
end

local DEFAULT_MODEL = require("gptimage").default_model

-- The options of the module call for an entry (without save).
local function call_options(entry)
  local call = {}
  for key, value in pairs(entry.options) do
    call[key] = value
  end
  call.model = call.model or DEFAULT_MODEL
  if entry.op == "edit" then
    call.image = #entry.inputs == 1 and entry.inputs[1] or entry.inputs
    call.mask = entry.mask_bw and { bw = entry.mask } or entry.mask
    call.markup = entry.markup
  elseif entry.op == "variation" then
    call.image = entry.inputs[1]
  end
  if call.partial_images then
    call.stream = true
  end
  return call
end

local function hash_fields(entry, call)
  local fields = { op = entry.op }
  for _, key in ipairs(cache.REQUEST_FIELDS) do
    if key ~= "op" then
      fields[key] = call[key]
    end
  end
  return fields
end

-- Output tokens per image seen in sidecar records, by model, quality and
-- size ("*" for any): what estimates use where no token table is published.
local observed = {}

local function observe(key, tokens, images)
  local o = observed[key] or { tokens = 0, images = 0 }
  o.tokens, o.images = o.tokens + tokens, o.images + images
  observed[key] = o
end

--- Learns from the sidecar records in the folders of these outputs.
local function learn(outputs)
  local seen = {}
  for _, output in ipairs(outputs) do
    local dir = fs.dirname(output)
    if not seen[dir] then
      seen[dir] = true
      for _, name in ipairs(fs.listdir(dir) or {}) do
        local record = name:match("%.json$") and cache.read(fs.join(dir, name:sub(1, -6)))
        local usage = type(record) == "table" and type(record.usage) == "table" and record.usage
        local tokens = usage and tonumber(usage.output_tokens)
        local images = type(record) == "table" and type(record.files) == "table" and #record.files or 0
        if tokens and tokens > 0 and images > 0 and type(record.model) == "string" then
          local quality, size = tostring(record.quality or "auto"), tostring(record.size or "auto")
          observe(record.model .. "|" .. quality .. "|" .. size, tokens, images)
          observe(record.model .. "|*|*", tokens, images)
        end
      end
    end
  end
end

local function observed_tokens(call)
  local o = observed[call.model .. "|" .. (call.quality or "auto") .. "|" .. (call.size or "auto")]
    or observed[call.model .. "|*|*"]
  return o and o.tokens / o.images or nil
end

-- The estimate of a call: the module's (its token table, or the output
-- tokens observed in records), else assume (dollars per image), else nil.
local function estimate_call(gptimage, call, assume)
  local ok, amount = pcall(gptimage.estimate, { model = call.model, quality = call.quality,
    size = call.size, n = call.n, prompt = call.prompt, output_tokens = observed_tokens(call) })
  if ok and amount then
    return amount
  end
  if assume then
    return assume * (call.n or 1)
  end
  return nil
end

local function state_path(manifest_path)
  return manifest_path .. ".batches.json"
end

-- Entries waiting in a batch that was submitted and not yet collected:
-- absolute output -> { hash, batch id }.
local function pending_batches(path)
  local pending = {}
  local state = batchapi.read_state(path)
  if not state then
    return pending
  end
  for id, record in pairs(state.batches) do
    if type(record) == "table" and not record.collected_at then
      for _, entry in ipairs(type(record.entries) == "table" and record.entries or {}) do
        if type(entry) == "table" and entry.output then
          pending[entry.output] = { hash = entry.request_hash, batch_id = id }
        end
      end
    end
  end
  return pending
end

-- The entries whose outputs are an entry's inputs or mask.
local function link_dependencies(m)
  local producers = {}
  for _, entry in ipairs(m.entries) do
    producers[entry.output] = entry
    for _, file in ipairs(manifest.output_files(entry)) do
      if file.what ~= "record" then
        producers[fs.normalize(file.path)] = entry
      end
    end
  end
  for _, entry in ipairs(m.entries) do
    entry.deps = {}
    local wanted = { unpack_list(entry.inputs) }
    wanted[#wanted + 1] = entry.mask
    wanted[#wanted + 1] = entry.markup
    for _, path in ipairs(wanted) do
      local producer = producers[path]
      if producer and producer ~= entry then
        entry.deps[#entry.deps + 1] = producer
      end
    end
  end
end

-- Entries in manifest order, each after the entries it depends on; nil
-- and a message when inputs go round in a circle.
local function dependency_order(m)
  local order, mark = {}, {}
  local function visit(entry)
    if mark[entry] == "done" then
      return true
    end
    if mark[entry] == "visiting" then
      return nil, string.format("entry %d (%s) needs its own output through its inputs", entry.index, entry.label)
    end
    mark[entry] = "visiting"
    for _, dep in ipairs(entry.deps) do
      local ok, problem = visit(dep)
      if not ok then
        return nil, problem
      end
    end
    mark[entry] = "done"
    order[#order + 1] = entry
    return true
  end
  for _, entry in ipairs(m.entries) do
    local ok, problem = visit(entry)
    if not ok then
      return nil, problem
    end
  end
  return order
end

local WAITING_STATUS = { build = true, deferred = true, running = true, sheet = true }

-- Why an entry is to be built, from the record of its last build (nil:
-- none): "new", "file missing", "prompt changed", or what else changed.
local function build_reason(entry, record, hash)
  if type(record) ~= "table" then
    return "new"
  elseif record.request_hash == hash then
    return "file missing"
  elseif record.prompt ~= entry.call.prompt then
    return "prompt changed"
  elseif entry.inputs and #entry.inputs > 0 or entry.mask then
    return "input or options changed"
  end
  return "options changed"
end

-- Why the sprite sheet of an up-to-date entry must be cut again from its
-- GIF (missing, or cut with other columns than the entry asks), or nil.
local function sheet_outdated(entry, record)
  if fs.kind(entry.sheet) ~= "file" then
    return "sprite sheet missing"
  elseif fs.kind(manifest.atlas_path(entry.sheet)) ~= "file" then
    return "sprite sheet's atlas missing"
  elseif record.sheet_columns ~= entry.sheet_columns then
    return "sprite sheet columns changed"
  end
  return nil
end

-- Checks an entry against the module and the cache: status "build",
-- "skip", "sheet" (up to date but for its sprite sheet, which is cut again
-- from the GIF on disk without a request) or "pending"; nil, message when
-- invalid or unreadable.
local function prepare_entry(entry, values, pending)
  local ok, problem = batchapi.validate(entry.op, entry.call)
  if not ok then
    return nil, problem
  end
  local hash
  hash, problem = cache.request_hash(hash_fields(entry, entry.call), entry.inputs, entry.mask, entry.markup)
  if not hash then
    return nil, problem
  end
  entry.hash = hash
  entry.status = "build"
  entry.reason = "forced"
  if not values.force then
    local waiting = pending[fs.absolute(entry.output)]
    -- the record beside the saved file, or where an earlier version left it
    local fresh, record, place = cache.up_to_date(entry.output, hash, entry.options.output_format)
    if fresh then
      entry.status = "skip"
    elseif waiting and waiting.hash == hash then
      entry.status = "pending"
      entry.batch_id = waiting.batch_id
    end
    entry.reason = build_reason(entry, record, hash)
    local why = entry.status == "skip" and entry.sheet and sheet_outdated(entry, record)
    if why then
      entry.status = "sheet"
      entry.reason = why
      entry.files = cache.record_files(place, record)
      entry.batchable = false
      entry.estimate = 0
    end
  end
  return true
end

--- Validates, hashes and estimates every entry; marks each "build",
-- "skip" (up to date), "pending" (in a batch not collected yet) or
-- "deferred" (its inputs are outputs of entries still to build: checked
-- once those are built). Returns the plan: todo in dependency order.
local function make_plan(m, values, gptimage)
  local problems = {}
  local pending = values.force and {} or pending_batches(state_path(m.path))
  link_dependencies(m)
  local order, cycle = dependency_order(m)
  if not order then
    usage_error(string.format("manifest '%s': %s (nothing was sent)", m.path, cycle))
  end
  local outputs = {}
  for _, entry in ipairs(order) do outputs[#outputs + 1] = entry.output end
  learn(outputs)
  for _, entry in ipairs(order) do
    local where = string.format("entry %d (%s)", entry.index, entry.label)
    local call = call_options(entry)
    entry.call = call
    entry.estimate = estimate_call(gptimage, call, values.assume_cost)
    entry.batchable = values.batch and entry.op == "generate" and call.partial_images == nil
      and call.response_format ~= "url"
    if entry.batchable and entry.estimate then
      entry.estimate = entry.estimate * batchapi.PRICE_FACTOR
    end
    local after = {}
    for _, dep in ipairs(entry.deps) do
      if WAITING_STATUS[dep.status] or dep.status == "pending" then
        after[#after + 1] = dep.label
      end
    end
    if entry.op == "variation" and #entry.inputs > 1 then
      problems[#problems + 1] = where .. ": a variation takes one input image"
    elseif #after > 0 then
      entry.status = "deferred"
      entry.after = after
    else
      local ok, problem = prepare_entry(entry, values, pending)
      if not ok then
        problems[#problems + 1] = where .. ": " .. problem
      end
    end
  end
  if #problems > 0 then
    local lines = {}
    for i = 1, math.min(#problems, 20) do
      lines[i] = "  " .. problems[i]
    end
    if #problems > 20 then
      lines[#lines + 1] = string.format("  ... and %d more", #problems - 20)
    end
    usage_error(string.format("manifest '%s' has %s (nothing was sent):\n%s", m.path,
      plural(#problems, "invalid entry", "invalid entries"), table.concat(lines, "\n")))
  end
  local plan = { todo = {}, skipped = 0, pending = 0, sheets = 0, estimate = 0, unknown = 0, pending_map = pending }
  for _, entry in ipairs(order) do
    if entry.status == "sheet" then
      -- no request: the runner cuts it from the GIF on disk
      plan.todo[#plan.todo + 1] = entry
      plan.sheets = plan.sheets + 1
    elseif entry.status == "build" or entry.status == "deferred" then
      plan.todo[#plan.todo + 1] = entry
      if entry.estimate then
        plan.estimate = plan.estimate + entry.estimate
      else
        plan.unknown = plan.unknown + 1
      end
    elseif entry.status == "skip" then
      plan.skipped = plan.skipped + 1
    else
      plan.pending = plan.pending + 1
    end
  end
  return plan
end

local function entry_summary(entry)
  local call = entry.call
  local bits = { entry.op, call.model }
  for _, key in ipairs({ "quality", "size" }) do
    if call[key] then
      bits[#bits + 1] = call[key]
    end
  end
  if call.n and call.n > 1 then
    bits[#bits + 1] = string.format("n=%d", call.n)
  end
  if #entry.inputs > 0 then
    bits[#bits + 1] = plural(#entry.inputs, "input")
  end
  if entry.batchable then
    bits[#bits + 1] = "batch"
  end
  return table.concat(bits, " ")
end

local function entry_json(entry)
  return {
    index = entry.index, output = entry.output, label = entry.label, op = entry.op,
    model = entry.call and entry.call.model, status = entry.status, estimate = entry.estimate,
    cost = entry.cost, files = entry.files and json.array(entry.files) or nil,
    request_id = entry.request_id, error = entry.error, batch_id = entry.batch_id,
    revised_prompt = entry.revised_prompt,
  }
end

local function entries_json(m)
  local list = json.array()
  for i, entry in ipairs(m.entries) do
    list[i] = entry_json(entry)
  end
  return list
end

local function print_plan(m, plan, values)
  local lines = {}
  local width = 0
  for _, entry in ipairs(m.entries) do
    width = math.max(width, #entry.label)
  end
  width = math.min(width, 48)
  lines[#lines + 1] = string.format("plan for %s: %s, %d to build, %d up to date%s%s", m.path,
    plural(#m.entries, "entry", "entries"), #plan.todo - plan.sheets, plan.skipped,
    plan.sheets > 0 and string.format(", %s to cut again from its gif",
      plural(plan.sheets, "sprite sheet")) or "",
    plan.pending > 0 and string.format(", %d waiting in a batch", plan.pending) or "")
  for _, entry in ipairs(m.entries) do
    local label = entry.label .. string.rep(" ", width - #entry.label)
    if entry.status == "build" then
      lines[#lines + 1] = string.format("  build    %s  %s  %s  (%s)", label, entry_summary(entry),
        dollars(entry.estimate), entry.reason or "new")
    elseif entry.status == "deferred" then
      lines[#lines + 1] = string.format("  build    %s  %s  %s  (after %s)", label, entry_summary(entry),
        dollars(entry.estimate), table.concat(entry.after, ", "))
    elseif entry.status == "sheet" then
      lines[#lines + 1] = string.format("  sheet    %s  cut from the gif on disk, no request  (%s)", label,
        entry.reason)
    elseif entry.status == "skip" then
      lines[#lines + 1] = string.format("  skip     %s  up to date", label)
    else
      lines[#lines + 1] = string.format("  pending  %s  in batch %s", label, entry.batch_id)
    end
  end
  local unknown = plan.unknown > 0 and string.format(" (%s with no known price not counted)",
    plural(plan.unknown, "entry", "entries")) or ""
  lines[#lines + 1] = string.format("estimated cost: %s%s", dollars(plan.estimate), unknown)
  if values.budget then
    lines[#lines + 1] = string.format("budget: %s (%s)", dollars(values.budget),
      plan.estimate > values.budget and "the estimate is over it" or "within it")
  end
  return table.concat(lines, "\n")
end

planner.IMAGE_KEYS = IMAGE_KEYS
planner.DEFAULT_MODEL = DEFAULT_MODEL
planner.WAITING_STATUS = WAITING_STATUS
planner.image_defaults = image_defaults
planner.hash_fields = hash_fields
planner.estimate_call = estimate_call
planner.learn = learn
planner.observed_tokens = observed_tokens
planner.state_path = state_path
planner.prepare_entry = prepare_entry
planner.make_plan = make_plan
planner.entries_json = entries_json
planner.print_plan = print_plan

return planner
