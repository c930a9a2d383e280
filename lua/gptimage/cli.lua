-- gptimage.cli: the `gptimage` command.
--
-- Subcommands: generate, edit, variation (one request, every option of the
-- Lua API as a flag), run (a manifest of entries, concurrent, skipping what
-- is up to date, with a budget), estimate, batch (submit, status, collect,
-- cancel through the OpenAI Batch API) and help. Progress goes to stderr
-- (a bar on a terminal, plain lines otherwise); results go to stdout, as
-- JSON with --json. cli.main(argv) returns the exit code and never raises.

local cache = require "gptimage.cache"
local manifest = require "gptimage.manifest"
local batchapi = require "gptimage.batchapi"

local cli = {}

cli.EXIT = {
  ok = 0,          -- everything asked for is done
  failed = 1,      -- some requests or entries failed
  usage = 2,       -- bad arguments, bad manifest, missing API key
  budget = 3,      -- the estimate is over --budget, or the budget ran out
  pending = 4,     -- the batch is not finished yet
  internal = 70,   -- a bug in gptimage
  interrupted = 130,
}
local EXIT = cli.EXIT

local EXIT_CODES_HELP = [[
Exit codes:
  0    done: every image was built, collected or already up to date
  1    some requests or entries failed (the others were built; run again to
       retry only the failed ones)
  2    usage error: bad option, bad manifest or missing API key (nothing sent)
  3    budget: the estimate is over --budget (nothing sent), or the budget was
       reached during the run and entries were left undone
  4    the batch is not finished yet (batch collect without --wait)
  70   internal error in gptimage (please report it)
  130  interrupted (finished images are kept; run again to continue)]]

local stdout, stderr = io.stdout, io.stderr
local unpack_list = table.unpack or unpack

-- Usage errors travel as strings with this mark up to main.
local USAGE_MARK = "\0gptimage-usage\0"

local function usage_error(message)
  error(USAGE_MARK .. message, 0)
end

local function say(stream, ...)
  stream:write(...)
  stream:write("\n")
end

local function dollars(amount)
  if amount == nil then
    return "unknown"
  end
  if amount < 1 then
    return string.format("$%.4f", amount)
  end
  return string.format("$%.2f", amount)
end

local function plural(count, word, words)
  return string.format("%d %s", count, count == 1 and word or (words or word .. "s"))
end

local function wall_clock()
  local pipe = io.popen("date +%s.%N 2>/dev/null")
  local seconds = pipe and tonumber(pipe:read("*l") or "")
  if pipe then
    pipe:close()
  end
  return seconds or os.time()
end

local function load_gptimage()
  local ok, gptimage = pcall(require, "gptimage")
  if not ok then
    usage_error("cannot load the gptimage module (" .. tostring(gptimage):match("^[^\n]*")
      .. "); install it (luarocks make, or cmake --install) or put gptimage.so on LUA_CPATH")
  end
  return gptimage
end

------------------------------------------------------------------------
-- options

-- { names, key, arg (metavar; nil for flags), type, help, choices }
local function option(names, key, arg, kind, help)
  return { names = names, key = key, arg = arg, type = kind, help = help }
end

local IMAGE_OPTIONS = {
  option({ "-m", "--model" }, "model", "MODEL", "string",
    "model: gpt-image-1 (default), gpt-image-1-mini, gpt-image-1.5, gpt-image-2, dall-e-2, dall-e-3, ..."),
  option({ "-n" }, "n", "N", "integer", "images per request (1-10; dall-e-3: 1)"),
  option({ "--size" }, "size", "WxH", "string", "1024x1024, 1536x1024, 1024x1536 or auto (dall-e: their sizes)"),
  option({ "--quality" }, "quality", "Q", "string", "low, medium, high or auto (dall-e-3: standard or hd)"),
  option({ "--background" }, "background", "B", "string", "transparent, opaque or auto (GPT models)"),
  option({ "--output-format" }, "output_format", "F", "string", "png, jpeg or webp (GPT models)"),
  option({ "--output-compression" }, "output_compression", "0-100", "integer", "jpeg/webp compression (GPT models)"),
  option({ "--moderation" }, "moderation", "M", "string", "low or auto (GPT models)"),
  option({ "--style" }, "style", "S", "string", "vivid or natural (dall-e-3)"),
  option({ "--response-format" }, "response_format", "F", "string", "url or b64_json (dall-e only)"),
  option({ "--user" }, "user", "ID", "string", "an end-user id for abuse monitoring"),
  option({ "--input-fidelity" }, "input_fidelity", "F", "string", "low or high: how closely edits keep the inputs"),
  option({ "--partial-images" }, "partial_images", "N", "integer", "0-3: stream the answer, reporting partial images"),
  option({ "--extra" }, "extra", "JSON", "json", "a JSON object merged into the request body (newer API fields)"),
}

local CLIENT_OPTIONS = {
  option({ "--base-url" }, "base_url", "URL", "string",
    "API endpoint (default $OPENAI_BASE_URL or https://api.openai.com/v1)"),
  option({ "--api-key-env" }, "api_key_env", "NAME", "string",
    "the variable that holds the API key (default OPENAI_API_KEY)"),
  option({ "--organization" }, "organization", "ID", "string", "sent as OpenAI-Organization"),
  option({ "--project" }, "project", "ID", "string", "sent as OpenAI-Project"),
  option({ "--timeout" }, "timeout", "SECONDS", "number", "whole-request time limit (default 600)"),
  option({ "--max-retries" }, "max_retries", "N", "integer",
    "retries on 408/409/429/5xx and connection errors (default 2)"),
}

local OUTPUT_OPTIONS = {
  option({ "--json" }, "json", nil, "flag", "print the result as JSON on stdout"),
  option({ "--progress" }, "progress", "MODE", "string", "bar, plain or none (default: bar when stderr is a terminal)"),
  option({ "-q", "--quiet" }, "quiet", nil, "flag", "no progress, only errors and the summary"),
  option({ "-h", "--help" }, "help", nil, "flag", "this help"),
}

local function concat(...)
  local all = {}
  for _, list in ipairs({ ... }) do
    for _, item in ipairs(list) do
      all[#all + 1] = item
    end
  end
  return all
end

local SINGLE_OPTIONS = {
  option({ "-p", "--prompt" }, "prompt", "TEXT", "string", "the prompt (or give it as the argument)"),
  option({ "-o", "--output" }, "output", "PATH", "string",
    "where to save (default: a name made from the prompt); with -n, -1, -2... go before the extension; "
      .. "- writes the image to stdout"),
  option({ "--budget" }, "budget", "USD", "number", "refuse (exit 3) if the estimate is over this many dollars"),
  option({ "--dry-run" }, "dry_run", nil, "flag", "print the request and its estimated cost; send nothing"),
  option({ "--no-sidecar" }, "no_sidecar", nil, "flag", "do not write the <output>.json record"),
}

local INPUT_OPTIONS = {
  option({ "-i", "--image" }, "image", "PATH", "list", "an input image (PNG, JPEG or WebP); repeat for several"),
}

local MASK_OPTIONS = {
  option({ "--mask" }, "mask", "PATH", "string", "a PNG with alpha: transparent where the image may change"),
}

local RUN_OPTIONS = {
  option({ "-j", "--jobs" }, "jobs", "N", "integer", "requests in flight at once (default 4)"),
  option({ "--force" }, "force", nil, "flag", "rebuild every entry, even those up to date"),
  option({ "--dry-run" }, "dry_run", nil, "flag", "print the plan and its estimated cost; send nothing"),
  option({ "--budget" }, "budget", "USD", "number",
    "refuse (exit 3) if the estimate is over this; stop starting entries once this much is spent"),
  option({ "--batch" }, "batch", nil, "flag", "send generate entries through the Batch API (half price, within 24 h)"),
  option({ "-o", "--output-dir" }, "output", "DIR", "string",
    "write outputs under DIR instead of the manifest's folder"),
}

local COLLECT_OPTIONS = {
  option({ "-o", "--output-dir" }, "output", "DIR", "string",
    "write every image under DIR, named by its custom_id (default: where the manifest said)"),
  option({ "--manifest" }, "manifest", "FILE", "string", "the manifest the batch came from (finds its state file)"),
  option({ "--state" }, "state", "FILE", "string", "the state file written by run --batch (MANIFEST.batches.json)"),
  option({ "--wait" }, "wait", nil, "flag", "poll until the batch is finished instead of exiting with 4"),
  option({ "--interval" }, "interval", "SECONDS", "number", "seconds between polls with --wait (default 15)"),
  option({ "--max-wait" }, "max_wait", "SECONDS", "number", "give up waiting after this long (exit 4)"),
  option({ "--no-sidecar" }, "no_sidecar", nil, "flag", "do not write the <output>.json records"),
}

local ESTIMATE_OPTIONS = {
  option({ "-p", "--prompt" }, "prompt", "TEXT", "string", "the prompt (its length adds text tokens)"),
  option({ "--force" }, "force", nil, "flag", "with a manifest: count entries that are up to date too"),
}

local function find_option(specs, name)
  for _, spec in ipairs(specs) do
    for _, spec_name in ipairs(spec.names) do
      if spec_name == name then
        return spec
      end
    end
  end
  return nil
end

local function all_names(specs)
  local names = {}
  for _, spec in ipairs(specs) do
    for _, name in ipairs(spec.names) do
      names[#names + 1] = name
    end
  end
  return names
end

local function convert(spec, name, text, values)
  local kind = spec.type
  if kind == "string" then
    values[spec.key] = text
  elseif kind == "list" then
    values[spec.key] = values[spec.key] or {}
    table.insert(values[spec.key], text)
  elseif kind == "integer" or kind == "number" then
    local number = tonumber(text)
    if number == nil or number ~= number or (kind == "integer" and number ~= math.floor(number)) then
      usage_error(string.format("%s expects %s, not '%s'", name,
        kind == "integer" and "a whole number" or "a number", text))
    end
    if kind == "integer" then
      number = math.floor(number)
    end
    values[spec.key] = number
  elseif kind == "json" then
    local decoded, problem = cache.json_decode(text)
    if type(decoded) ~= "table" then
      usage_error(string.format("%s expects a JSON object, e.g. '{\"field\": 1}' (%s)", name,
        problem or "not an object"))
    end
    values[spec.key] = decoded
  end
end

--- Parses args against specs: values (by key), positional arguments.
function cli.parse(args, specs, command)
  local values, positional = {}, {}
  local i = 1
  while i <= #args do
    local arg = args[i]
    if arg == "--" then
      for j = i + 1, #args do
        positional[#positional + 1] = args[j]
      end
      break
    elseif arg:sub(1, 1) == "-" and #arg > 1 and not arg:match("^%-%d") then
      local name, inline
      if arg:sub(1, 2) == "--" then
        name, inline = arg:match("^(%-%-[^=]+)=(.*)$")
        name = name or arg
      else
        name = arg:sub(1, 2)
        inline = #arg > 2 and arg:sub(3) or nil
      end
      local spec = find_option(specs, name)
      if not spec then
        local hint = manifest.suggest(name, all_names(specs))
        usage_error(string.format("unknown option %s for %s%s (see gptimage %s --help)", name, command,
          hint and (" (did you mean " .. hint .. "?)") or "", command))
      end
      if spec.type == "flag" then
        if inline then
          usage_error(name .. " takes no value")
        end
        values[spec.key] = true
      else
        local text = inline
        if text == nil then
          i = i + 1
          text = args[i]
          if text == nil then
            usage_error(string.format("%s needs a value (%s)", name, spec.arg))
          end
        end
        convert(spec, name, text, values)
      end
    else
      positional[#positional + 1] = arg
    end
    i = i + 1
  end
  return values, positional
end

------------------------------------------------------------------------
-- help

local HELP_COLUMN, HELP_WIDTH = 30, 100

-- Words of text in lines of at most `width` characters.
local function wrap(text, width)
  local lines, line = {}, ""
  for word in text:gmatch("%S+") do
    if line ~= "" and #line + 1 + #word > width then
      lines[#lines + 1] = line
      line = word
    else
      line = line == "" and word or (line .. " " .. word)
    end
  end
  lines[#lines + 1] = line
  return lines
end

local function option_lines(specs)
  local lines = {}
  local indent = string.rep(" ", HELP_COLUMN)
  for _, spec in ipairs(specs) do
    local left = "  " .. table.concat(spec.names, ", ") .. (spec.arg and (" " .. spec.arg) or "")
    local help = wrap(spec.help, HELP_WIDTH - HELP_COLUMN)
    if #left > HELP_COLUMN - 1 then
      lines[#lines + 1] = left
      left = indent
    else
      left = left .. string.rep(" ", HELP_COLUMN - #left)
    end
    for i, piece in ipairs(help) do
      lines[#lines + 1] = (i == 1 and left or indent) .. piece
    end
  end
  return table.concat(lines, "\n")
end

local function help_text(command)
  local parts = { "usage: " .. command.usage, "", command.description }
  for _, section in ipairs(command.sections) do
    parts[#parts + 1] = ""
    parts[#parts + 1] = section[1] .. ":"
    parts[#parts + 1] = option_lines(section[2])
  end
  if command.notes then
    parts[#parts + 1] = ""
    parts[#parts + 1] = command.notes
  end
  if command.examples then
    parts[#parts + 1] = ""
    parts[#parts + 1] = "Examples:"
    parts[#parts + 1] = command.examples
  end
  parts[#parts + 1] = ""
  parts[#parts + 1] = command.exit_codes or EXIT_CODES_HELP
  return table.concat(parts, "\n") .. "\n"
end

local ENVIRONMENT_HELP = [[
Environment:
  OPENAI_API_KEY     the API key (needed to send requests; --api-key-env names another variable)
  OPENAI_BASE_URL    another endpoint (default https://api.openai.com/v1)
  GPTIMAGE_PROGRESS  bar, plain or none: how progress is shown on stderr]]

local MAIN_HELP = [[
usage: gptimage COMMAND [options] [arguments]

Generate, edit and vary images with the OpenAI Images API, and build whole
folders of assets from a manifest: unchanged entries cost nothing on the next
run, and large jobs can go through the Batch API at half price.

Commands:
  generate    images from a prompt
  edit        change one or more images with a prompt (optional mask)
  variation   variations of an image (dall-e-2)
  run         build every entry of a manifest (JSON or Lua), skipping those up to date
  estimate    what a request or a manifest would cost, without sending anything
  batch       submit a manifest to the Batch API, check on it, collect its images
  help        help for a command: gptimage help run

Options of every command: --help; --version prints the version.

]] .. ENVIRONMENT_HELP .. "\n\n" .. EXIT_CODES_HELP .. "\n"

local MANIFEST_HELP = [[
Manifest (JSON, or a Lua file that returns the same table):
  {"defaults": {"model": "gpt-image-1", "quality": "low", "size": "1024x1024"},
   "output_dir": "sprites",
   "entries": [
     {"prompt": "a pixel-art sword, transparent background", "background": "transparent",
      "output": "sword.png"},
     {"prompt": "the same sword, glowing blue", "inputs": ["sprites/sword.png"],
      "output": "sword-blue.png"},
     {"prompt": "three coins", "n": 3, "output": "coin.png"}]}
  or just the list of entries. Entry fields: prompt, model, n, size, quality,
  background, output_format, output_compression, moderation, style,
  response_format, user, input_fidelity, partial_images, extra, timeout,
  max_retries; inputs (or image/images/input: a path or a list), mask;
  output (or out); op (generate, edit or variation: by default edit when
  there are inputs and a prompt, variation when there are inputs and no
  prompt); custom_id (for the Batch API; default the output). Keys starting
  with "_" and "comment" are ignored. Relative paths are relative to the
  manifest's folder; outputs go under output_dir (or -o DIR) when given.
  An entry without output is saved as NNN-<prompt words>.png.

Re-runs: each output gets a record <output>.json (request hash, model,
usage, cost, revised prompt, request id, created). An entry whose request
(model, prompt, options and the bytes of its input images) is unchanged and
whose files exist is skipped without a request; --force rebuilds it.]]

local COMMANDS

local function command_help(name)
  local command = COMMANDS[name]
  if command.help then
    return command.help
  end
  return help_text(command)
end

------------------------------------------------------------------------
-- progress on stderr

local Progress = {}
Progress.__index = Progress

local function stderr_is_terminal()
  return cache.execute("test -t 2")
end

--- The progress mode: --progress, -q, GPTIMAGE_PROGRESS, else bar on a terminal.
function cli.progress_mode(values)
  local mode = values.progress
  if mode == nil and values.quiet then
    mode = "none"
  end
  if mode == nil then
    local env = os.getenv("GPTIMAGE_PROGRESS")
    if env and env ~= "" and env ~= "auto" then
      mode = env
    end
  end
  if mode == nil or mode == "auto" then
    mode = stderr_is_terminal() and "bar" or "plain"
  end
  if mode ~= "bar" and mode ~= "plain" and mode ~= "none" then
    usage_error("--progress (or GPTIMAGE_PROGRESS) must be bar, plain or none, not '" .. mode .. "'")
  end
  return mode
end

function cli.new_progress(mode, total, stream)
  return setmetatable({ mode = mode, total = total, done = 0, failed = 0, cost = 0,
                        stream = stream or stderr, started = os.time(), shown = nil }, Progress)
end

local BAR_WIDTH = 24

function Progress:bar_text()
  local filled = self.total > 0 and math.floor(BAR_WIDTH * self.done / self.total + 0.5) or BAR_WIDTH
  local elapsed = os.time() - self.started
  return string.format("[%s%s] %d/%d%s  %s  %d:%02d",
    string.rep("#", filled), string.rep("-", BAR_WIDTH - filled), self.done, self.total,
    self.failed > 0 and string.format("  %d failed", self.failed) or "",
    dollars(self.cost), math.floor(elapsed / 60), elapsed % 60)
end

function Progress:draw(force)
  if self.mode ~= "bar" then
    return
  end
  local text = self:bar_text()
  if force or text ~= self.shown then
    self.stream:write("\r", text, "\27[K")
    self.stream:flush()
    self.shown = text
  end
end

--- A line of its own: in bar mode the bar is cleared, the line printed and
-- the bar drawn again below it.
function Progress:line(text)
  if self.mode == "none" then
    return
  end
  if self.mode == "bar" then
    self.stream:write("\r\27[K", text, "\n")
    if self.shown then
      self:draw(true)
    end
  else
    self.stream:write(text, "\n")
    self.stream:flush()
  end
end

-- Lines that matter even with --progress none.
function Progress:always(text)
  if self.mode == "none" then
    self.stream:write(text, "\n")
  else
    self:line(text)
  end
end

function Progress:finish()
  if self.mode == "bar" and self.shown then
    self:draw()
    self.stream:write("\n")
    self.stream:flush()
    self.shown = nil
  end
end

------------------------------------------------------------------------
-- clients and errors

local function make_client(values, gptimage)
  local env_name = values.api_key_env or "OPENAI_API_KEY"
  local key = os.getenv(env_name)
  if key == nil or key == "" then
    usage_error(string.format("no API key: set %s (export %s=sk-...) or name the variable that "
      .. "holds it with --api-key-env; --dry-run and estimate work without one", env_name, env_name))
  end
  local ok, client = pcall(gptimage.new, {
    api_key = key, base_url = values.base_url, organization = values.organization,
    project = values.project, timeout = values.timeout, max_retries = values.max_retries,
  })
  if not ok then
    usage_error(tostring(client))
  end
  return client
end

local function error_fields(err)
  if type(err) ~= "table" then
    return { kind = "error", message = tostring(err) }
  end
  return { kind = err.kind, status = err.status, code = err.code, type = err.type,
           param = err.param, message = err.message, request_id = err.request_id }
end

local function describe_error(err)
  if type(err) ~= "table" then
    return tostring(err)
  end
  local text = tostring(err.kind or "error") .. " error"
  if err.status then
    text = text .. " " .. tostring(err.status)
  end
  if err.code then
    text = text .. " (" .. tostring(err.code) .. ")"
  end
  return text .. ": " .. tostring(err.message or "")
end

-- What the user can do about an error, or nil.
local function error_hint(err, values)
  if type(err) ~= "table" then
    return nil
  end
  local key_name = (values and values.api_key_env) or "OPENAI_API_KEY"
  if err.status == 401 then
    return "the API key was refused: check " .. key_name
  elseif err.status == 403 then
    return "this key may not use that model or endpoint: check the organization's access"
  elseif err.status == 429 then
    return "rate limit or quota reached: wait and run again, lower -j, or check the account's billing"
  elseif err.code == "moderation_blocked" then
    return "the safety system refused the prompt: rephrase it"
  elseif err.kind == "network" then
    return "could not reach the API: check the network, proxy or --base-url"
  elseif err.kind == "timeout" then
    return "no answer in time: raise --timeout (high quality images can take minutes)"
  elseif err.kind == "io" then
    return "check that the output folder exists or can be created and is writable"
  end
  return nil
end

------------------------------------------------------------------------
-- requests from entries

local IMAGE_KEYS = {
  "model", "n", "size", "quality", "background", "output_format", "output_compression",
  "moderation", "style", "response_format", "user", "input_fidelity", "partial_images", "extra",
}

local function image_defaults(values)
  local defaults = {}
  for _, key in ipairs(IMAGE_KEYS) do
    defaults[key] = values[key]
  end
  return defaults
end

local DEFAULT_MODEL = "gpt-image-1"

-- The options of the module call for an entry (without save).
local function call_options(entry)
  local call = {}
  for key, value in pairs(entry.options) do
    call[key] = value
  end
  call.model = call.model or DEFAULT_MODEL
  if entry.op == "edit" then
    call.image = #entry.inputs == 1 and entry.inputs[1] or entry.inputs
    call.mask = entry.mask
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

local function estimate_call(gptimage, call)
  local ok, amount = pcall(gptimage.estimate, { model = call.model, quality = call.quality,
    size = call.size, n = call.n, prompt = call.prompt })
  if ok then
    return amount
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
    local count = entry.options.n or 1
    if count > 1 then
      local stem, ext = entry.output:match("^(.*)(%.[^./]*)$")
      for i = 1, count do
        producers[stem and (stem .. "-" .. i .. ext) or (entry.output .. "-" .. i)] = entry
      end
    end
  end
  for _, entry in ipairs(m.entries) do
    entry.deps = {}
    local wanted = { unpack_list(entry.inputs) }
    wanted[#wanted + 1] = entry.mask
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

local WAITING_STATUS = { build = true, deferred = true, running = true }

-- Checks an entry against the module and the cache: status "build",
-- "skip" or "pending"; nil, message when invalid or unreadable.
local function prepare_entry(entry, values, pending)
  local ok, problem = batchapi.validate(entry.op, entry.call)
  if not ok then
    return nil, problem
  end
  local hash
  hash, problem = cache.request_hash(hash_fields(entry, entry.call), entry.inputs, entry.mask)
  if not hash then
    return nil, problem
  end
  entry.hash = hash
  entry.status = "build"
  if not values.force then
    local waiting = pending[cache.absolute(entry.output)]
    if cache.up_to_date(entry.output, hash) then
      entry.status = "skip"
    elseif waiting and waiting.hash == hash then
      entry.status = "pending"
      entry.batch_id = waiting.batch_id
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
  for _, entry in ipairs(order) do
    local where = string.format("entry %d (%s)", entry.index, entry.label)
    local call = call_options(entry)
    entry.call = call
    entry.estimate = estimate_call(gptimage, call)
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
  local plan = { todo = {}, skipped = 0, pending = 0, estimate = 0, unknown = 0, pending_map = pending }
  for _, entry in ipairs(order) do
    if entry.status == "build" or entry.status == "deferred" then
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
    cost = entry.cost, files = entry.files and cache.array(entry.files) or nil,
    request_id = entry.request_id, error = entry.error, batch_id = entry.batch_id,
    revised_prompt = entry.revised_prompt,
  }
end

local function entries_json(m)
  local list = cache.array()
  for i, entry in ipairs(m.entries) do
    list[i] = entry_json(entry)
  end
  return list
end

------------------------------------------------------------------------
-- run: the direct path

local function finish_entry(entry, res, err, progress, counts, values)
  if res then
    local files = {}
    for i, image in ipairs(res.images or {}) do
      files[i] = image.path
    end
    entry.files = files
    entry.cost = res.cost
    entry.request_id = res.request_id
    entry.revised_prompt = res.images and res.images[1] and res.images[1].revised_prompt
    local ok, problem = cache.write(entry.output, cache.record(entry.output, res, {
      request_hash = entry.hash, model = entry.call.model, prompt = entry.call.prompt,
    }))
    if ok then
      entry.status = "built"
      counts.built = counts.built + 1
      counts.images = counts.images + #files
      progress.done = progress.done + 1
      progress:line(string.format("[%d/%d] built %s (%s)", progress.done, progress.total,
        entry.label, dollars(res.cost or entry.estimate)))
      return
    end
    err = { kind = "io", message = "the image was saved but its record was not: " .. tostring(problem) }
  end
  entry.status = "failed"
  entry.error = error_fields(err)
  entry.hint = error_hint(err, values)
  counts.failed = counts.failed + 1
  progress.failed = progress.failed + 1
  progress.done = progress.done + 1
  progress:always(string.format("[%d/%d] FAILED %s (entry %d): %s", progress.done, progress.total,
    entry.label, entry.index, describe_error(err)))
end

-- Whether an entry can start: "ready", "wait" (an entry it needs is still
-- to be built) or "blocked" (one was not built), with the blocking entry.
local function readiness(entry)
  for _, dep in ipairs(entry.deps or {}) do
    if WAITING_STATUS[dep.status] then
      return "wait"
    end
    if dep.status ~= "built" and dep.status ~= "skip" then
      return "blocked", dep
    end
  end
  return "ready"
end

-- Runs the entries with at most values.jobs in flight, each after the
-- entries that make its inputs. With a budget, an entry starts only while
-- the spend so far plus the estimates of the jobs in flight (and of a
-- submitted batch) and its own stays within it.
local function build_direct(client, todo, values, progress, counts, context)
  local limit = values.jobs or 4
  local budget = values.budget
  local queue = { unpack_list(todo) }
  local inflight = {}
  local spent, reserved = 0, context.committed or 0
  local stopped = false
  while true do
    local i = 1
    while not stopped and #inflight < limit and i <= #queue do
      local entry = queue[i]
      local state, blocker = readiness(entry)
      if state == "wait" then
        i = i + 1
      elseif state == "blocked" then
        table.remove(queue, i)
        if blocker.status == "submitted" or blocker.status == "pending" then
          entry.status = "waiting"
          entry.batch_id = blocker.batch_id
          counts.waiting = counts.waiting + 1
          progress:line(string.format("%s waits for %s from batch %s", entry.label, blocker.label,
            tostring(blocker.batch_id)))
        else
          finish_entry(entry, nil, { kind = "input", message = string.format("its input %s was not built (entry %d %s)",
            blocker.label, blocker.index, blocker.status == "not_started" and "was not started" or "failed") },
            progress, counts, values)
        end
      else
        local startable = true
        if entry.status == "deferred" then
          local ok, problem = prepare_entry(entry, values, context.pending)
          if not ok then
            table.remove(queue, i)
            startable = false
            finish_entry(entry, nil, { kind = "usage", message = problem }, progress, counts, values)
          elseif entry.status ~= "build" then
            table.remove(queue, i)
            startable = false
            counts.late_skipped = counts.late_skipped + 1
            progress.done = progress.done + 1
            progress:line(string.format("[%d/%d] up to date %s", progress.done, progress.total, entry.label))
          end
        end
        if startable then
          local guess = entry.estimate or 0
          if budget and (spent >= budget or spent + reserved + guess > budget + 1e-9) then
            if #inflight == 0 then
              stopped = true
            end
            break
          end
          table.remove(queue, i)
          local call = {}
          for key, value in pairs(entry.call) do
            call[key] = value
          end
          call.save = entry.output
          local ok, job = pcall(client.start, client, entry.op, call)
          if ok then
            entry.status = "running"
            inflight[#inflight + 1] = { entry = entry, job = job, guess = guess }
            reserved = reserved + guess
          else
            finish_entry(entry, nil, { kind = "usage", message = tostring(job) }, progress, counts, values)
          end
        end
      end
    end
    if #inflight == 0 then
      break
    end
    inflight[1].job:wait(0.25)
    local running = {}
    for _, slot in ipairs(inflight) do
      if slot.job:done() then
        local res, err = slot.job:result()
        reserved = reserved - slot.guess
        if res then
          local cost = res.cost or slot.entry.estimate or 0
          spent = spent + cost
          progress.cost = progress.cost + cost
        end
        finish_entry(slot.entry, res, err, progress, counts, values)
      else
        running[#running + 1] = slot
      end
    end
    inflight = running
    progress:draw()
  end
  for _, entry in ipairs(queue) do
    entry.status = "not_started"
    counts.not_started = counts.not_started + 1
  end
  counts.spent = spent
  return stopped
end

------------------------------------------------------------------------
-- run

local function print_plan(m, plan, values)
  local lines = {}
  local width = 0
  for _, entry in ipairs(m.entries) do
    width = math.max(width, #entry.label)
  end
  width = math.min(width, 48)
  lines[#lines + 1] = string.format("plan for %s: %s, %d to build, %d up to date%s", m.path,
    plural(#m.entries, "entry", "entries"), #plan.todo, plan.skipped,
    plan.pending > 0 and string.format(", %d waiting in a batch", plan.pending) or "")
  for _, entry in ipairs(m.entries) do
    local label = entry.label .. string.rep(" ", width - #entry.label)
    if entry.status == "build" then
      lines[#lines + 1] = string.format("  build    %s  %s  %s", label, entry_summary(entry), dollars(entry.estimate))
    elseif entry.status == "deferred" then
      lines[#lines + 1] = string.format("  build    %s  %s  %s  (after %s)", label, entry_summary(entry),
        dollars(entry.estimate), table.concat(entry.after, ", "))
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

local function run_manifest(values, positional, gptimage)
  local path = positional[1]
  if not path then
    usage_error("run needs a manifest: gptimage run MANIFEST (see gptimage run --help)")
  end
  if #positional > 1 then
    usage_error("run takes one manifest, not " .. #positional .. " arguments (quote the values that contain spaces)")
  end
  if values.jobs and values.jobs < 1 then
    usage_error("-j must be at least 1")
  end
  if values.budget and values.budget < 0 then
    usage_error("--budget must be a positive number of dollars")
  end
  local m, problem = manifest.load(path, { defaults = image_defaults(values), output_dir = values.output })
  if not m then
    usage_error(problem)
  end
  local progress = cli.new_progress(cli.progress_mode(values), 0)
  local started = wall_clock()
  local plan = make_plan(m, values, gptimage)
  local over_budget = values.budget and plan.estimate > values.budget + 1e-9

  if values.dry_run then
    if values.json then
      say(stdout, cache.json_encode({ manifest = m.path, dry_run = true, estimate = plan.estimate,
        budget = values.budget, over_budget = over_budget or false, unknown_prices = plan.unknown,
        entries = entries_json(m) }, "  "))
    else
      say(stdout, print_plan(m, plan, values))
    end
    return over_budget and EXIT.budget or EXIT.ok
  end
  if over_budget then
    say(stderr, string.format("gptimage: the estimate for %s is %s, over the budget of %s: nothing was sent. "
      .. "Raise --budget, remove entries, or lower quality/size (see --dry-run for each entry's cost).",
      plural(#plan.todo, "entry", "entries"), dollars(plan.estimate), dollars(values.budget)))
    if values.json then
      say(stdout, cache.json_encode({ manifest = m.path, ok = false, exit_code = EXIT.budget,
        estimate = plan.estimate, budget = values.budget, entries = entries_json(m) }, "  "))
    end
    return EXIT.budget
  end

  local counts = { built = 0, images = 0, failed = 0, not_started = 0, submitted = 0, spent = 0, committed = 0,
                   waiting = 0, late_skipped = 0 }
  local batches = cache.array()
  local direct = {}
  local client
  if #plan.todo > 0 then
    client = make_client(values, gptimage)
  end
  if values.batch then
    local list, chosen = {}, {}
    for _, entry in ipairs(plan.todo) do
      if entry.batchable then
        local item = { save = entry.output, custom_id = entry.custom_id, request_hash = entry.hash }
        for key, value in pairs(entry.call) do
          if key ~= "timeout" and key ~= "max_retries" then
            item[key] = value
          end
        end
        list[#list + 1] = item
        chosen[#chosen + 1] = entry
      else
        direct[#direct + 1] = entry
      end
    end
    for first = 1, #list, batchapi.MAX_LINES do
      local chunk, entries = {}, {}
      for i = first, math.min(#list, first + batchapi.MAX_LINES - 1) do
        chunk[#chunk + 1] = list[i]
        entries[#entries + 1] = chosen[i]
      end
      local submitted, batch, err = pcall(batchapi.submit, client, chunk,
                                          { state = state_path(m.path), model = DEFAULT_MODEL })
      if not submitted then
        usage_error(tostring(batch))
      end
      if not batch then
        for _, entry in ipairs(entries) do
          entry.status = "failed"
          entry.error = error_fields(err)
          counts.failed = counts.failed + 1
        end
        progress:always("gptimage: the batch could not be submitted: " .. describe_error(err))
      else
        for _, entry in ipairs(entries) do
          entry.status = "submitted"
          entry.batch_id = batch.id
        end
        counts.submitted = counts.submitted + #entries
        for _, entry in ipairs(entries) do
          counts.committed = counts.committed + (entry.estimate or 0)
        end
        batches[#batches + 1] = { id = batch.id, requests = #entries, status = batch.status }
        if not values.json then
          say(stdout, batch.id)
        end
        progress:always(string.format("submitted batch %s with %s (state in %s); "
          .. "collect it with: gptimage batch collect %s",
          batch.id, plural(#entries, "request"), state_path(m.path), batch.id))
      end
    end
    if #direct > 0 then
      progress:always(string.format("%s run directly: the Batch API takes no local input images and no "
        .. "streaming", plural(#direct, "entry", "entries")))
    end
  else
    direct = plan.todo
  end

  progress.total = #direct
  if plan.skipped > 0 or plan.pending > 0 then
    progress:line(string.format("%d up to date%s", plan.skipped,
      plan.pending > 0 and string.format(", %d waiting in a batch", plan.pending) or ""))
  end
  if #direct > 0 then
    progress:draw()
  end
  local stopped = false
  if #direct > 0 then
    stopped = build_direct(client, direct, values, progress, counts,
                           { committed = counts.committed, pending = plan.pending_map })
  end
  progress:finish()

  local seconds = wall_clock() - started
  local code = EXIT.ok
  if stopped then
    code = EXIT.budget
  elseif counts.failed > 0 then
    code = EXIT.failed
  end
  local skipped = plan.skipped + counts.late_skipped
  local summary = string.format("%s in %.1f s: %s built, %d up to date, %d failed%s%s%s, cost %s",
    m.path, seconds, plural(counts.images, "image"), skipped, counts.failed,
    counts.submitted > 0 and string.format(", %d submitted to the Batch API (estimated %s)", counts.submitted,
      dollars(counts.committed)) or "",
    counts.waiting > 0 and string.format(", %d waiting for a batch's images", counts.waiting) or "",
    counts.not_started > 0 and string.format(", %d not started", counts.not_started) or "",
    dollars(counts.spent))
  say(stderr, summary)
  local failed_lines = {}
  for _, entry in ipairs(m.entries) do
    if entry.status == "failed" then
      failed_lines[#failed_lines + 1] = string.format("  %s (entry %d): %s%s", entry.label, entry.index,
        describe_error(entry.error), entry.hint and ("\n    " .. entry.hint) or "")
    end
  end
  if #failed_lines > 0 then
    say(stderr, "failed (run again to retry only these):\n" .. table.concat(failed_lines, "\n"))
  end
  if stopped then
    local names = {}
    for _, entry in ipairs(m.entries) do
      if entry.status == "not_started" then
        names[#names + 1] = "  " .. entry.label
      end
    end
    say(stderr, string.format("the budget of %s was reached after spending %s; not started:\n%s\n"
      .. "run again with a larger --budget to build them", dollars(values.budget), dollars(counts.spent),
      table.concat(names, "\n")))
  end
  if values.json then
    say(stdout, cache.json_encode({
      manifest = m.path, ok = code == EXIT.ok, exit_code = code, batches = batches,
      summary = { entries = #m.entries, built = counts.built, images = counts.images,
                  skipped = skipped, pending = plan.pending, failed = counts.failed,
                  not_started = counts.not_started, submitted = counts.submitted, waiting = counts.waiting,
                  cost = counts.spent, estimate = plan.estimate, seconds = seconds,
                  budget_reached = stopped },
      entries = entries_json(m),
    }, "  "))
  end
  return code
end

------------------------------------------------------------------------
-- generate, edit, variation

local function default_output(prompt, call)
  local stem = manifest.slug(prompt or "variation")
  local extension = manifest.extension(call.output_format)
  local count = call.n or 1
  for attempt = 1, 1000 do
    local name = stem .. (attempt > 1 and ("-" .. attempt) or "") .. "." .. extension
    local probe = count > 1 and (name:gsub("%.[^.]*$", "-1%0")) or name
    if not cache.exists(name) and not cache.exists(probe) then
      return name
    end
  end
  return stem .. "." .. extension
end

local function run_single(op, values, positional, gptimage)
  local prompt = values.prompt
  if #positional > 0 then
    if prompt then
      usage_error("give the prompt once: either -p TEXT or as the argument")
    end
    prompt = table.concat(positional, " ")
  end
  if op == "variation" and prompt then
    usage_error("variation takes no prompt (use edit to change an image with a prompt)")
  end
  if op ~= "variation" and (prompt == nil or prompt == "") then
    usage_error(string.format("%s needs a prompt: gptimage %s \"a pixel-art sword\"%s", op, op,
      op == "edit" and " -i input.png" or ""))
  end
  local call = image_defaults(values)
  call.prompt = prompt
  call.model = call.model or (op == "variation" and "dall-e-2" or DEFAULT_MODEL)
  if op ~= "generate" then
    local images = values.image or {}
    if #images == 0 then
      usage_error(op .. " needs an input image: -i PATH" .. (op == "edit" and " (repeat -i for several)" or ""))
    end
    if op == "variation" and #images > 1 then
      usage_error("variation takes one input image")
    end
    call.image = #images == 1 and images[1] or images
    call.mask = values.mask
  elseif values.image then
    usage_error("generate takes no input images; use gptimage edit -i PATH")
  end
  if call.partial_images then
    call.stream = true
  end
  for _, key in ipairs({ "timeout", "max_retries" }) do
    call[key] = values[key]
  end
  local to_stdout = values.output == "-"
  if to_stdout and (call.n or 1) > 1 then
    usage_error("-o - writes one image to stdout; use -o FILE with -n")
  end
  if to_stdout and values.json then
    usage_error("-o - and --json both want stdout; use -o FILE with --json")
  end
  local ok, problem = batchapi.validate(op, call)
  if not ok then
    usage_error(problem)
  end
  local estimate = estimate_call(gptimage, call)
  local output = values.output or default_output(prompt, call)
  if values.dry_run then
    local plan = { command = op, output = output, request = {}, estimate = estimate, budget = values.budget }
    for key, value in pairs(call) do
      if key ~= "image" and key ~= "mask" then
        plan.request[key] = value
      end
    end
    plan.inputs = cache.array(type(call.image) == "table" and call.image or { call.image })
    plan.mask = call.mask
    if values.json then
      say(stdout, cache.json_encode(plan, "  "))
    else
      say(stdout, string.format("%s %s -> %s: estimated %s", op, call.model, output, dollars(estimate)))
    end
    if values.budget and estimate and estimate > values.budget then
      return EXIT.budget
    end
    return EXIT.ok
  end
  if values.budget and estimate and estimate > values.budget + 1e-9 then
    say(stderr, string.format("gptimage: the estimate %s is over the budget of %s: nothing was sent",
      dollars(estimate), dollars(values.budget)))
    return EXIT.budget
  end
  local client = make_client(values, gptimage)
  local mode = cli.progress_mode(values)
  local progress = cli.new_progress(mode, 1)
  if call.stream then
    call.on_partial = function(image, index)
      progress:line(string.format("partial image %d received (%d bytes)", (index or 0) + 1, #(image.bytes or "")))
    end
  end
  if not to_stdout then
    call.save = output
  end
  local hash = cache.request_hash(hash_fields({ op = op }, call),
    type(call.image) == "table" and call.image or (call.image and { call.image } or nil), call.mask)
  local res, err = client[op](client, call)
  if not res then
    local hint = error_hint(err, values)
    say(stderr, "gptimage: " .. op .. " failed: " .. describe_error(err) .. (hint and ("\n  " .. hint) or ""))
    if values.json then
      say(stdout, cache.json_encode({ ok = false, exit_code = EXIT.failed, error = error_fields(err) }, "  "))
    end
    return EXIT.failed
  end
  if to_stdout then
    local image = res.images and res.images[1]
    if not image or not image.bytes then
      say(stderr, "gptimage: the answer holds a URL, not the image bytes; use -o FILE to download it")
      return EXIT.failed
    end
    stdout:write(image.bytes)
    return EXIT.ok
  end
  local files = cache.array()
  for i, image in ipairs(res.images or {}) do
    files[i] = image.path
  end
  if not values.no_sidecar then
    local written, write_problem = cache.write(output, cache.record(output, res, {
      request_hash = hash, model = call.model, prompt = prompt,
    }))
    if not written then
      say(stderr, "gptimage: warning: " .. tostring(write_problem))
    end
  end
  if values.json then
    local revised = cache.array()
    for i, image in ipairs(res.images or {}) do
      revised[i] = image.revised_prompt or require("cjson").null
    end
    say(stdout, cache.json_encode({ ok = true, exit_code = EXIT.ok, files = files, cost = res.cost,
      estimate = estimate, usage = res.usage, request_id = res.request_id, created = res.created,
      model = res.model or call.model, revised_prompts = revised, size = res.size,
      quality = res.quality, output_format = res.output_format }, "  "))
  else
    for _, path in ipairs(files) do
      say(stdout, path)
    end
    if mode ~= "none" then
      say(stderr, string.format("saved %s (%s)", plural(#files, "image"), dollars(res.cost)))
    end
  end
  return EXIT.ok
end

------------------------------------------------------------------------
-- estimate

local function run_estimate(values, positional, gptimage)
  local first = positional[1]
  if first and #positional == 1 and not values.prompt and cache.exists(first)
     and (first:match("%.json$") or first:match("%.lua$")) then
    values.dry_run = true
    return run_manifest(values, positional, gptimage)
  end
  local prompt = values.prompt or (#positional > 0 and table.concat(positional, " ") or nil)
  local call = image_defaults(values)
  call.model = call.model or DEFAULT_MODEL
  local ok, amount, details = pcall(gptimage.estimate, { model = call.model, quality = call.quality,
    size = call.size, n = call.n, prompt = prompt })
  if not ok then
    usage_error(tostring(amount):gsub("^estimate: ", "cannot estimate: "))
  end
  if values.json then
    say(stdout, cache.json_encode({ model = call.model, quality = call.quality, size = call.size,
      n = call.n or 1, estimate = amount, details = details }, "  "))
  elseif amount == nil then
    say(stdout, string.format("no known price for %s", call.model))
  else
    local parts = {}
    if details and details.output_tokens then
      parts[#parts + 1] = string.format("%d output tokens", details.output_tokens)
    end
    if details and details.text_tokens and details.text_tokens > 0 then
      parts[#parts + 1] = string.format("%d text tokens", details.text_tokens)
    end
    say(stdout, string.format("%s%s", dollars(amount),
      #parts > 0 and (" (" .. table.concat(parts, " + ") .. ")") or ""))
  end
  return EXIT.ok
end

------------------------------------------------------------------------
-- batch

local function batch_counts(batch)
  local counts = batch.request_counts or {}
  return counts.total or 0, counts.completed or 0, counts.failed or 0
end

-- `gptimage batch WHAT BATCH_ID`: batchapi[what] for that one batch. The
-- batch, or nil once the failure is reported (exit EXIT.failed).
local function call_on_batch(what, values, positional, gptimage)
  local id = positional[1]
  if not id or #positional > 1 then
    usage_error("usage: gptimage batch " .. what .. " BATCH_ID")
  end
  local client = make_client(values, gptimage)
  local ok, batch, err = pcall(batchapi[what], client, id)
  if not ok then
    usage_error(tostring(batch))
  end
  if not batch then
    say(stderr, "gptimage: batch " .. what .. " failed: " .. describe_error(err))
  end
  return batch
end

local function run_batch_status(values, positional, gptimage)
  local batch = call_on_batch("status", values, positional, gptimage)
  if not batch then
    return EXIT.failed
  end
  if values.json then
    say(stdout, cache.json_encode(batch, "  "))
    return EXIT.ok
  end
  local total, completed, failed = batch_counts(batch)
  local lines = {
    string.format("%s: %s", batch.id, batch.status),
    string.format("  requests: %d total, %d completed, %d failed", total, completed, failed),
  }
  if batch.created_at then
    lines[#lines + 1] = "  created: " .. os.date("!%Y-%m-%d %H:%M:%S UTC", batch.created_at)
  end
  if batch.output_file_id then
    lines[#lines + 1] = "  output file: " .. batch.output_file_id
  end
  if batch.error_file_id then
    lines[#lines + 1] = "  error file: " .. batch.error_file_id
  end
  if batch.status == "completed" or batch.status == "expired" or batch.status == "cancelled" then
    lines[#lines + 1] = "  collect it with: gptimage batch collect " .. batch.id
  end
  say(stdout, table.concat(lines, "\n"))
  return EXIT.ok
end

local function state_candidates(values)
  if values.state then
    return { values.state }
  end
  if values.manifest then
    return { state_path(values.manifest) }
  end
  local candidates = {}
  local pipe = io.popen("ls -1A 2>/dev/null")
  if pipe then
    for name in pipe:lines() do
      if name:match("%.batches%.json$") then
        candidates[#candidates + 1] = name
      end
    end
    pipe:close()
  end
  table.sort(candidates)
  return candidates
end

local function run_batch_collect(values, positional, gptimage)
  local id = positional[1]
  if not id or #positional > 1 then
    usage_error("usage: gptimage batch collect BATCH_ID [-o DIR] [--wait]")
  end
  if values.state and values.manifest then
    usage_error("give --state or --manifest, not both")
  end
  local path, record = batchapi.find_state(id, state_candidates(values))
  if (values.state or values.manifest) and not path then
    usage_error(string.format("%s does not record batch %s", values.state or state_path(values.manifest), id))
  end
  local outputs = {}
  if values.output and record then
    for _, entry in ipairs(record.entries or {}) do
      outputs[entry.custom_id] = cache.join(values.output, batchapi.safe_name(entry.custom_id))
    end
  end
  if not record and not values.output then
    say(stderr, "gptimage: no state file records " .. id .. " (looked for *.batches.json here); "
      .. "images are written here, named by custom_id (use --manifest, --state or -o DIR to choose)")
  end
  local client = make_client(values, gptimage)
  local progress = cli.new_progress(cli.progress_mode(values), 0)
  local wait
  if values.wait then
    wait = values.max_wait or true
  end
  local ok, results, batch = pcall(batchapi.collect, client, id, {
    state = path, outputs = outputs, dir = values.output or ".", wait = wait,
    interval = values.interval, sidecars = not values.no_sidecar,
    on_status = function(b)
      local total, completed, failed = batch_counts(b)
      progress.total = total
      if values.wait and b.status ~= "completed" and b.status ~= "failed" and b.status ~= "expired"
         and b.status ~= "cancelled" then
        progress:line(string.format("%s: %s (%d/%d done)", id, b.status, completed + failed, total))
      end
    end,
    on_result = function(result)
      progress.done = progress.done + 1
      if result.res then
        progress.cost = progress.cost + (result.res.cost or 0)
        progress:line(string.format("[%d/%d] wrote %s", progress.done, progress.total, result.output))
      else
        progress.failed = progress.failed + 1
        progress:always(string.format("[%d/%d] FAILED %s: %s", progress.done, progress.total,
          tostring(result.custom_id or "?"), describe_error(result.err)))
      end
      progress:draw()
    end,
  })
  if not ok then
    usage_error(tostring(results))
  end
  local err = batch
  if not results then
    if type(err) == "table" and err.pending then
      say(stderr, "gptimage: " .. tostring(err.message) .. " (or add --wait)")
      if values.json then
        say(stdout, cache.json_encode({ ok = false, exit_code = EXIT.pending, batch = err.batch }, "  "))
      end
      return EXIT.pending
    end
    say(stderr, "gptimage: batch collect failed: " .. describe_error(err))
    if values.json then
      say(stdout, cache.json_encode({ ok = false, exit_code = EXIT.failed, error = error_fields(err) }, "  "))
    end
    return EXIT.failed
  end
  progress:finish()
  local written, failed, cost = 0, 0, 0
  local list = cache.array()
  for i, result in ipairs(results) do
    local item = { custom_id = result.custom_id, output = result.output }
    if result.res then
      written = written + 1
      cost = cost + (result.res.cost or 0)
      item.status = "written"
      item.cost = result.res.cost
      item.request_id = result.res.request_id
      item.files = cache.array()
      for j, image in ipairs(result.res.images) do
        item.files[j] = image.path
      end
    else
      failed = failed + 1
      item.status = "failed"
      item.error = error_fields(result.err)
    end
    list[i] = item
  end
  say(stderr, string.format("batch %s (%s): %d written, %d failed, cost %s at the batch price",
    id, batch.status, written, failed, dollars(cost)))
  for _, result in ipairs(results) do
    if result.err then
      say(stderr, string.format("  failed: %s: %s", tostring(result.custom_id or "?"), describe_error(result.err)))
    end
  end
  local code = failed > 0 and EXIT.failed or EXIT.ok
  if values.json then
    say(stdout, cache.json_encode({ ok = code == EXIT.ok, exit_code = code, batch = batch, results = list,
      summary = { written = written, failed = failed, cost = cost } }, "  "))
  end
  return code
end

local function run_batch_cancel(values, positional, gptimage)
  local batch = call_on_batch("cancel", values, positional, gptimage)
  if not batch then
    return EXIT.failed
  end
  if values.json then
    say(stdout, cache.json_encode(batch, "  "))
  else
    say(stdout, string.format("%s: %s", tostring(batch.id), tostring(batch.status)))
  end
  return EXIT.ok
end

------------------------------------------------------------------------
-- the commands

local BATCH_SUBCOMMANDS = { "submit", "status", "collect", "cancel" }

COMMANDS = {
  generate = {
    usage = "gptimage generate [options] PROMPT",
    description = "Generate images from a text prompt and save them; the saved paths are printed on stdout,\n"
      .. "and a record <output>.json is written next to the image.",
    sections = { { "Options", concat(SINGLE_OPTIONS, OUTPUT_OPTIONS) }, { "Image options", IMAGE_OPTIONS },
                 { "Connection", CLIENT_OPTIONS } },
    examples = [[
  gptimage generate "a pixel-art sword, transparent background" --background transparent -o sword.png
  gptimage generate -n 4 --quality low --size 1024x1536 -o card.png "a tarot card, the tower"
  gptimage generate --model dall-e-3 --style natural "a lighthouse at dawn" -o - > lighthouse.png]],
    run = function(values, positional, gptimage) return run_single("generate", values, positional, gptimage) end,
  },
  edit = {
    usage = "gptimage edit -i IMAGE [-i IMAGE...] [--mask MASK] [options] PROMPT",
    description = "Change images with a prompt: one or more input images (up to 16 for GPT models, one square\n"
      .. "PNG for dall-e-2) and an optional mask whose transparent pixels mark where the image may change.",
    sections = { { "Options", concat(INPUT_OPTIONS, MASK_OPTIONS, SINGLE_OPTIONS, OUTPUT_OPTIONS) },
                 { "Image options", IMAGE_OPTIONS }, { "Connection", CLIENT_OPTIONS } },
    examples = [[
  gptimage edit -i sword.png "make the blade glow blue" -o sword-blue.png
  gptimage edit -i room.png --mask window.png "a stained-glass window" --input-fidelity high -o room2.png
  gptimage edit -i a.png -i b.png -i c.png "a gift basket with these items" -o basket.png]],
    run = function(values, positional, gptimage) return run_single("edit", values, positional, gptimage) end,
  },
  variation = {
    usage = "gptimage variation -i IMAGE [options]",
    description = "Variations of an image (dall-e-2, the only model that makes them; a square PNG under 4 MB).",
    sections = { { "Options", concat(INPUT_OPTIONS, SINGLE_OPTIONS, OUTPUT_OPTIONS) },
                 { "Image options", IMAGE_OPTIONS }, { "Connection", CLIENT_OPTIONS } },
    examples = [[
  gptimage variation -i icon.png -n 3 --size 512x512 -o icon-variant.png]],
    run = function(values, positional, gptimage) return run_single("variation", values, positional, gptimage) end,
  },
  run = {
    usage = "gptimage run MANIFEST [-j N] [--force] [--dry-run] [--budget USD] [--batch] [--json] [options]",
    description = "Build every entry of a manifest, a few at a time, skipping entries that are up to date.\n"
      .. "Progress goes to stderr (a bar on a terminal, a line per entry otherwise), then a summary of\n"
      .. "images, failures, time and cost. The image options below are defaults for every entry: the\n"
      .. "manifest's defaults give way to them, an entry's own values win over both.\n\n"
      .. "With --budget, the whole plan is estimated first (gptimage estimate's token table) and refused\n"
      .. "if over; during the run no entry starts unless the spend so far (actual costs) plus the estimates\n"
      .. "of the requests in flight and its own stays within the budget.\n\n"
      .. "With --batch, generate entries go to the Batch API as one batch (its id is printed on stdout and\n"
      .. "recorded in MANIFEST.batches.json); collect them with gptimage batch collect ID. Entries with input\n"
      .. "images (edits, variations) still run directly: the Batch API takes edits only with images given\n"
      .. "as URLs or file ids, not local files. Entries waiting in a batch are not sent again by a later run.",
    sections = { { "Options", concat(RUN_OPTIONS, OUTPUT_OPTIONS) }, { "Entry defaults", IMAGE_OPTIONS },
                 { "Connection", CLIENT_OPTIONS } },
    notes = MANIFEST_HELP,
    examples = [[
  gptimage run sprites.json -j 8
  gptimage run sprites.json --dry-run
  gptimage run sprites.lua --budget 2.50 --quality low
  gptimage run tiles.json --batch && gptimage batch collect batch_abc123 --wait]],
    run = run_manifest,
  },
  estimate = {
    usage = "gptimage estimate [options] [PROMPT]   or   gptimage estimate MANIFEST [options]",
    description = "Print what a request would cost, from the output-token table (gpt-image-1: low 272/408/400,\n"
      .. "medium 1056/1584/1568, high 4160/6240/6208 tokens for 1024x1024 / 1024x1536 / 1536x1024 at $40\n"
      .. "per million) plus the prompt's text tokens; dall-e models by their per-image price. Input image\n"
      .. "tokens of edits are not counted. With a manifest: the plan of gptimage run --dry-run.",
    sections = { { "Options", concat(ESTIMATE_OPTIONS, { OUTPUT_OPTIONS[1], OUTPUT_OPTIONS[4] }) },
                 { "Image options", IMAGE_OPTIONS } },
    examples = [[
  gptimage estimate --quality high --size 1536x1024 -n 4 "a castle"
  gptimage estimate sprites.json]],
    run = run_estimate,
  },
  batch = {
    usage = "gptimage batch submit|status|collect|cancel ...",
    sections = {},
    run = nil,
  },
  ["batch submit"] = {
    usage = "gptimage batch submit MANIFEST [options]",
    description = "The same as gptimage run --batch MANIFEST.",
    sections = { { "Options", concat(RUN_OPTIONS, OUTPUT_OPTIONS) }, { "Entry defaults", IMAGE_OPTIONS },
                 { "Connection", CLIENT_OPTIONS } },
    run = function(values, positional, gptimage)
      values.batch = true
      return run_manifest(values, positional, gptimage)
    end,
  },
  ["batch status"] = {
    usage = "gptimage batch status BATCH_ID [--json]",
    description = "Print a batch's status and request counts (--json: the whole batch object).",
    sections = { { "Options", { OUTPUT_OPTIONS[1], OUTPUT_OPTIONS[4] } }, { "Connection", CLIENT_OPTIONS } },
    run = run_batch_status,
  },
  ["batch collect"] = {
    usage = "gptimage batch collect BATCH_ID [-o DIR] [--wait] [--manifest FILE | --state FILE] [--json]",
    description = "Download a finished batch's output and write each image (atomically) where its manifest entry\n"
      .. "said, with its <output>.json record, so that a later run skips it. Per-request errors are listed\n"
      .. "and make the exit code 1. The state file is MANIFEST.batches.json (found with --manifest or\n"
      .. "--state, or in the current folder); without one, images are named by their custom_id.\n"
      .. "A batch still running exits with 4, unless --wait polls until it is finished.",
    sections = { { "Options", concat(COLLECT_OPTIONS, OUTPUT_OPTIONS) }, { "Connection", CLIENT_OPTIONS } },
    run = run_batch_collect,
  },
  ["batch cancel"] = {
    usage = "gptimage batch cancel BATCH_ID",
    description = "Ask the API to cancel a batch; requests already done can still be collected.",
    sections = { { "Options", { OUTPUT_OPTIONS[1], OUTPUT_OPTIONS[4] } }, { "Connection", CLIENT_OPTIONS } },
    run = run_batch_cancel,
  },
}

COMMANDS.batch.help = [[
usage: gptimage batch COMMAND ...

The OpenAI Batch API: requests are answered within 24 hours at half the price.

Commands:
  submit MANIFEST       send the manifest's generate entries as one batch (= run --batch)
  status BATCH_ID       the batch's status and request counts
  collect BATCH_ID      write the finished batch's images and records (--wait to poll)
  cancel BATCH_ID       cancel a batch

Run gptimage batch COMMAND --help for each command's options.
Edits and variations cannot go through the Batch API from local files (it takes
edit images only as URLs or file ids); run --batch sends those directly.

]] .. EXIT_CODES_HELP .. "\n"

local MAIN_COMMANDS = { "generate", "edit", "variation", "run", "estimate", "batch" }

local function find_command(name)
  if COMMANDS[name] then
    return name
  end
  local hint = manifest.suggest(name, concat(MAIN_COMMANDS, { "help" }))
  usage_error(string.format("unknown command '%s'%s; see gptimage --help", name,
    hint and (" (did you mean '" .. hint .. "'?)") or ""))
end

local function specs_of(command)
  local specs = {}
  for _, section in ipairs(command.sections) do
    for _, spec in ipairs(section[2]) do
      specs[#specs + 1] = spec
    end
  end
  return specs
end

local function dispatch(argv)
  local args = {}
  for i = 1, #argv do
    args[i] = argv[i]
  end
  local first = args[1]
  if first == nil then
    stderr:write(MAIN_HELP)
    return EXIT.usage
  end
  if first == "-h" or first == "--help" then
    stdout:write(MAIN_HELP)
    return EXIT.ok
  end
  if first == "--version" or first == "version" then
    local gptimage = load_gptimage()
    say(stdout, "gptimage " .. tostring(gptimage.version))
    return EXIT.ok
  end
  if first == "help" then
    local topic = args[2]
    if topic == nil then
      stdout:write(MAIN_HELP)
      return EXIT.ok
    end
    local name = find_command(topic)
    if name == "batch" and args[3] then
      name = find_command("batch " .. args[3])
    end
    stdout:write(command_help(name))
    return EXIT.ok
  end
  local name = find_command(first)
  table.remove(args, 1)
  if name == "batch" then
    local sub = args[1]
    if sub == nil or sub == "-h" or sub == "--help" then
      local stream = sub and stdout or stderr
      stream:write(COMMANDS.batch.help)
      return sub and EXIT.ok or EXIT.usage
    end
    if not COMMANDS["batch " .. sub] then
      local hint = manifest.suggest(sub, BATCH_SUBCOMMANDS)
      usage_error(string.format("unknown batch command '%s'%s; use submit, status, collect or cancel",
        sub, hint and (" (did you mean '" .. hint .. "'?)") or ""))
    end
    name = "batch " .. sub
    table.remove(args, 1)
  end
  local command = COMMANDS[name]
  for _, arg in ipairs(args) do
    if arg == "--" then
      break
    end
    if arg == "-h" or arg == "--help" then
      stdout:write(command_help(name))
      return EXIT.ok
    end
  end
  local values, positional = cli.parse(args, specs_of(command), name)
  local gptimage = load_gptimage()
  return command.run(values, positional, gptimage)
end

--- Runs the command line `argv` (a list of strings, as `arg`); returns the
-- exit code. Never raises.
function cli.main(argv)
  local code
  local ok, problem = xpcall(function()
    code = dispatch(argv or {})
  end, function(message)
    if type(message) == "string" and (message:sub(1, #USAGE_MARK) == USAGE_MARK or message:match("interrupted!$")) then
      return message
    end
    return debug.traceback(tostring(message), 2)
  end)
  if ok then
    return code
  end
  problem = tostring(problem)
  if problem:sub(1, #USAGE_MARK) == USAGE_MARK then
    say(stderr, "gptimage: " .. problem:sub(#USAGE_MARK + 1))
    return EXIT.usage
  end
  if problem:match("interrupted!$") then
    say(stderr, "\ngptimage: interrupted; finished images are kept, run again to continue")
    return EXIT.interrupted
  end
  say(stderr, "gptimage: internal error (please report it): " .. problem)
  return EXIT.internal
end

-- For specs that drive the CLI in-process.
function cli.set_streams(out, err)
  stdout, stderr = out or io.stdout, err or io.stderr
end

return cli
