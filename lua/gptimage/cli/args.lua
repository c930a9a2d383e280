-- gptimage.cli.args: the command line's options and their help.
--
-- The option lists (one entry per flag: names, key, metavar, type, help),
-- the parser that turns argv into values by key plus positional arguments,
-- and the help text made from the same lists, so that a flag and its help
-- can never drift apart.
--
-- Contract: parse raises a usage error (common.usage_error) for an unknown
-- option, a missing value or a value of the wrong type; it never touches
-- the network or the disk.

local json = require "gptimage.json"
local manifest = require "gptimage.manifest"
local common = require "gptimage.cli.common"

local options = {}
local usage_error, concat = common.usage_error, common.concat
local EXIT_CODES_HELP = common.EXIT_CODES_HELP

------------------------------------------------------------------------
-- options

-- { names, key, arg (metavar; nil for flags), type, help, choices }
local function option(names, key, arg, kind, help, choices)
  return { names = names, key = key, arg = arg, type = kind, help = help, choices = choices }
end

-- The request options, one flag per field of the module's API table
-- (gptimage.options): a field added there is a flag here, with its help.
local FLAG_TYPES = { string = "string", integer = "integer", table = "json" }
local SHORT_NAMES = { model = "-m" }
-- fields with flags of their own (inputs, the prompt) or none (stream:
-- --partial-images streams)
local OWN_FLAGS = { prompt = true, stream = true }

local function model_help(gptimage)
  local current, legacy = {}, {}
  for _, m in ipairs(gptimage.models) do
    if m.state == "active" and not m.name:match("%-%d%d%d%d%-%d%d%-%d%d$") then
      current[#current + 1] = m.name == gptimage.default_model and m.name .. " (default)" or m.name
    elseif m.state ~= "active" then
      legacy[#legacy + 1] = m.name
    end
  end
  return "model: " .. table.concat(current, ", ") .. "; shut down, still sent: " .. table.concat(legacy, ", ")
end

local function image_options()
  local gptimage = require "gptimage"
  local list = {}
  for _, o in ipairs(gptimage.options) do
    if o.type ~= "image" and not OWN_FLAGS[o.name] and FLAG_TYPES[o.type] then
      local names = { "--" .. o.name:gsub("_", "-") }
      if #o.name == 1 then names = { "-" .. o.name } -- -n
      elseif SHORT_NAMES[o.name] then table.insert(names, 1, SHORT_NAMES[o.name]) end
      local help = o.name == "model" and model_help(gptimage) or o.help
      list[#list + 1] = option(names, o.name, o.meta, FLAG_TYPES[o.type], help)
    end
  end
  list[#list + 1] = option({ "--extra" }, "extra", "JSON", "json",
    "a JSON object merged into the request body (fields newer than this module)")
  return list
end

local IMAGE_OPTIONS = image_options()

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

-- --json and --help, which every command takes
local JSON_FLAG = option({ "--json" }, "json", nil, "flag", "print the result as JSON on stdout")
local HELP_FLAG = option({ "-h", "--help" }, "help", nil, "flag", "this help")

local OUTPUT_OPTIONS = {
  JSON_FLAG,
  option({ "--progress" }, "progress", "MODE", "string", "bar, plain or none (default: bar when stderr is a terminal)",
    { "bar", "plain", "none" }),
  option({ "-q", "--quiet" }, "quiet", nil, "flag", "no progress, only errors and the summary"),
  HELP_FLAG,
}


local SINGLE_OPTIONS = {
  option({ "-p", "--prompt" }, "prompt", "TEXT", "string", "the prompt (or give it as the argument)"),
  option({ "-o", "--output" }, "output", "PATH", "string",
    "where to save (default: a name made from the prompt); with -n, -1, -2... go before the extension; "
      .. "- writes the image to stdout"),
  option({ "--budget" }, "budget", "USD", "number", "refuse (exit 3) if the estimate is over this many dollars"),
  option({ "--assume-cost" }, "assume_cost", "USD", "number",
    "dollars per image where no estimate is known (no token table, no records); --budget needs it then"),
  option({ "--dry-run" }, "dry_run", nil, "flag", "print the request and its estimated cost; send nothing"),
  option({ "--no-sidecar" }, "no_sidecar", nil, "flag", "do not write the <output>.json record"),
}

local INPUT_OPTIONS = {
  option({ "-i", "--image" }, "image", "PATH", "list", "an input image (PNG, JPEG or WebP); repeat for several"),
}

local MASK_OPTIONS = {
  option({ "--mask" }, "mask", "PATH", "string", "a PNG with alpha: transparent where the image may change"),
  option({ "--markup" }, "markup", "PATH", "string",
    "a transparent PNG the size of the first image, drawn over it to guide the edit (2.5 and newer; not with --mask)"),
}

local RUN_OPTIONS = {
  option({ "-j", "--jobs" }, "jobs", "N", "integer", "requests in flight at once (default 4)"),
  option({ "--force" }, "force", nil, "flag", "rebuild every entry, even those up to date"),
  option({ "--dry-run" }, "dry_run", nil, "flag", "print the plan and its estimated cost; send nothing"),
  option({ "--budget" }, "budget", "USD", "number",
    "refuse (exit 3) if the estimate is over this; stop starting entries once this much is spent"),
  option({ "--assume-cost" }, "assume_cost", "USD", "number",
    "dollars per image where no estimate is known (no token table, no records); --budget needs it then"),
  option({ "--batch" }, "batch", nil, "flag", "send generate entries through the Batch API (half price, within 24 h)"),
  option({ "-o", "--output-dir" }, "output", "DIR", "string",
    "write outputs under DIR instead of the manifest's folder"),
  option({ "--allow-outside-output-dir" }, "allow_outside_output_dir", nil, "flag",
    "let outputs be absolute or go above the output folder with .."),
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
  option({ "--assume-cost" }, "assume_cost", "USD", "number", "dollars per image where no estimate is known"),
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
    local decoded, problem = json.decode(text)
    if type(decoded) ~= "table" then
      usage_error(string.format("%s expects a JSON object, e.g. '{\"field\": 1}' (%s)", name,
        problem or "not an object"))
    end
    values[spec.key] = decoded
  end
end

--- Parses args against specs: values (by key), positional arguments.
function options.parse(args, specs, command)
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
  variation   variations of an image (an edit with a variation prompt; dall-e-2: the legacy endpoint)
  run         build every entry of a manifest (JSON or Lua), skipping those up to date
  estimate    what a request or a manifest would cost, without sending anything
  batch       submit a manifest to the Batch API, check on it, collect its images
  mask        an edit's alpha mask from a black-and-white picture
  frames      an animated GIF's frames, or one sprite sheet with a JSON atlas
  info        format, size, alpha and frames of image files
  help        help for a command: gptimage help run

Options of every command: --help; --version prints the version.

]] .. ENVIRONMENT_HELP .. "\n\n" .. EXIT_CODES_HELP .. "\n"

local MANIFEST_HELP = [[
Manifest (JSON, or a Lua file that returns the same table):
  {"defaults": {"model": "gpt-image-2.6-flare", "quality": "low", "size": "1024x1024"},
   "output_dir": "sprites",
   "entries": [
     {"prompt": "a pixel-art sword, transparent background", "background": "transparent",
      "output": "sword.png"},
     {"prompt": "the same sword, glowing blue", "inputs": ["sprites/sword.png"],
      "output": "sword-blue.png"},
     {"prompt": "three coins", "n": 3, "output": "coin.png"}]}
  or just the list of entries. Entry fields: every request option of
  gptimage.options (prompt, model, n, size, quality, background,
  output_format, complexity, frame_count, svg ...), extra, timeout,
  max_retries; inputs (or image/images/input: a path or a list), mask (or
  mask_bw: a black-and-white picture, made into the alpha mask), markup;
  output (or out); sheet (a sprite sheet of a gif output, with
  sheet_columns, written with its JSON atlas beside it); op (generate,
  edit or variation: by default edit when there are inputs and a prompt,
  variation when there are inputs and no prompt); custom_id (for the Batch API; default the output). Keys starting
  with "_" and "comment" are ignored. Relative paths are relative to the
  manifest's folder; outputs go under output_dir (or -o DIR) when given,
  and may not leave it (an absolute path, or .. above it) unless the
  manifest says "allow_outside_output_dir": true or the flag is given. No two
  entries may write one file (numbered images and records included).
  An entry without output is saved as NNN-<prompt words>.png.

Re-runs: each output gets a record <output>.json (request hash, model,
usage, cost, revised prompt, request id, created). An entry whose request
(model, prompt, options and the bytes of its input images) is unchanged and
whose files exist is skipped without a request; --force rebuilds it.]]

options.IMAGE_OPTIONS = IMAGE_OPTIONS
options.CLIENT_OPTIONS = CLIENT_OPTIONS
options.option = option
options.JSON_FLAG, options.HELP_FLAG = JSON_FLAG, HELP_FLAG
options.OUTPUT_OPTIONS = OUTPUT_OPTIONS
options.SINGLE_OPTIONS = SINGLE_OPTIONS
options.INPUT_OPTIONS = INPUT_OPTIONS
options.MASK_OPTIONS = MASK_OPTIONS
options.RUN_OPTIONS = RUN_OPTIONS
options.COLLECT_OPTIONS = COLLECT_OPTIONS
options.ESTIMATE_OPTIONS = ESTIMATE_OPTIONS
options.MAIN_HELP = MAIN_HELP
options.MANIFEST_HELP = MANIFEST_HELP
options.help_text = help_text
options.find_option = find_option

return options
