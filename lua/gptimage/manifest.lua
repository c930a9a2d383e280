-- gptimage.manifest: reads the list of images a project needs.
--
-- A manifest is JSON or Lua (a file that returns a table) of the shape
--
--   { "defaults": { "model": "gpt-image-2.6-flare", "quality": "low" },
--     "output_dir": "sprites",
--     "entries": [ { "prompt": "a pixel-art sword", "output": "sword.png" },
--                  { "prompt": "make it blue", "inputs": ["sword.png"], "output": "blue.png" } ] }
--
-- or just the list of entries. Entries take the API's option names, plus
-- `op` (generate, edit, variation; inferred from inputs and prompt),
-- `inputs` (also `image`, `images`, `input`), `mask` (or `mask_bw`: a
-- black-and-white picture made into the alpha mask on the way, see
-- gptimage.alpha_mask), `output` (or `out`), `custom_id`, and `sheet` (with
-- `sheet_columns`: a sprite sheet of a gif output, see gptimage.spritesheet,
-- written beside its JSON atlas once the image is saved). Keys starting with "_" and `comment` are ignored.
-- Relative input, mask and output paths are relative to the manifest's
-- folder (outputs to `output_dir` when given). An output may not leave that
-- folder (an absolute path, or ".." above it) unless the manifest says
-- "allow_outside_output_dir": true (or the caller passes that option). No two
-- entries may write one file, counting numbered images and sidecar records.

local cjson = require "cjson"
local gptimage = require "gptimage"
local cache = require "gptimage.cache"
local json = require "gptimage.json"
local fs = require "gptimage.fs"

local manifest = {}

-- Options sent to the API, with the Lua type each must have.
-- (every field of the module's API table but the input images, which are
-- pipeline fields, and stream, which partial_images implies)
manifest.API_FIELDS = { extra = "table", timeout = "number", max_retries = "integer" }
for _, o in ipairs(gptimage.options) do
  if o.type ~= "image" and o.name ~= "stream" then
    manifest.API_FIELDS[o.name] = o.type
  end
end

local PIPELINE_FIELDS = {
  op = "string", inputs = "images", image = "images", images = "images",
  input = "images", mask = "string", mask_bw = "string", markup = "string", output = "string", out = "string",
  custom_id = "string", comment = "any", sheet = "string", sheet_columns = "integer",
}

local TOP_FIELDS = { defaults = true, entries = true, output_dir = true, comment = true,
                     allow_outside_output_dir = true }

local OPS = { generate = true, edit = true, variation = true }

local function all_fields()
  local names = {}
  for name in pairs(manifest.API_FIELDS) do
    names[#names + 1] = name
  end
  for name in pairs(PIPELINE_FIELDS) do
    names[#names + 1] = name
  end
  table.sort(names)
  return names
end

--- The closest of `names` to `word`, when close enough to be a typo.
-- (Edit distance: the module's, a swap of neighbours counting as one edit.)
function manifest.suggest(word, names)
  local edit_distance = gptimage.edit_distance
  local best, best_distance
  for _, name in ipairs(names) do
    local distance = edit_distance(word, name)
    if distance <= math.max(2, math.floor(#name / 3)) and (not best_distance or distance < best_distance) then
      best, best_distance = name, distance
    end
  end
  return best
end

local function unknown_key_message(where, key, names)
  local hint = manifest.suggest(tostring(key), names)
  return string.format("%s: unknown field '%s'%s", where, tostring(key),
    hint and (" (did you mean '" .. hint .. "'?)") or "")
end

local function is_integer(value)
  return type(value) == "number" and value == math.floor(value)
end

local function check_type(where, key, value, wanted)
  if wanted == "any" then
    return nil
  end
  if wanted == "integer" then
    if not is_integer(value) then
      return string.format("%s: '%s' must be a whole number, not %s", where, key, cjson.encode(value))
    end
  elseif wanted == "images" then
    if type(value) == "string" then
      return nil
    end
    if type(value) ~= "table" or #value == 0 then
      return string.format("%s: '%s' must be a path or a list of paths", where, key)
    end
    for i, item in ipairs(value) do
      if type(item) ~= "string" then
        return string.format("%s: '%s' item %d must be a path", where, key, i)
      end
    end
  elseif type(value) ~= wanted then
    return string.format("%s: '%s' must be a %s, not a %s", where, key, wanted, type(value))
  end
  return nil
end

local function ignored_key(key)
  return type(key) == "string" and (key:sub(1, 1) == "_" or key == "comment")
end

-- The problem with one field, or nil.
local function field_problem(where, key, value, allow_output, names)
  if type(key) ~= "string" then
    return string.format("%s: field names must be strings", where)
  end
  local wanted = manifest.API_FIELDS[key] or PIPELINE_FIELDS[key]
  if not wanted then
    return unknown_key_message(where, key, names)
  end
  if not allow_output and (key == "output" or key == "out" or key == "custom_id" or key == "sheet") then
    return string.format("%s: '%s' belongs in each entry, not in the defaults", where, key)
  end
  return check_type(where, key, value, wanted)
end

-- Copies the fields of raw into fields, checking names and types; JSON
-- nulls and ignored keys count as absent.
local function read_fields(where, raw, fields, problems, allow_output)
  local names = all_fields()
  for key, value in pairs(raw) do
    if value ~= cjson.null and not ignored_key(key) then
      local problem = field_problem(where, key, value, allow_output, names)
      if problem then
        problems[#problems + 1] = problem
      else
        fields[key] = json.strip_nulls(value)
      end
    end
  end
end

local function slug(text)
  local s = text:lower():gsub("[^%w]+", "-"):gsub("^%-+", ""):gsub("%-+$", "")
  s = s:sub(1, 40):gsub("%-+$", "")
  if s == "" then
    return "image"
  end
  return s
end

function manifest.slug(text)
  return slug(text or "")
end

--- The file extension for an output format ("jpeg" -> "jpg", nil -> "png"):
-- the module's own (gptimage.extension), the one its "{ext}" and save paths
-- use, so that a name planned here is the name the file is saved under.
function manifest.extension(output_format)
  return gptimage.extension(output_format)
end

local function image_list(value)
  if value == nil then
    return nil
  end
  if type(value) == "string" then
    return { value }
  end
  local list = {}
  for i, item in ipairs(value) do
    list[i] = item
  end
  return list
end

-- n as the module will number the images by, or 1 when it is not a
-- count the API takes (validation reports it).
local function image_count(options)
  local n = options.n
  if type(n) == "number" and n >= 1 and n <= 100 and n == math.floor(n) then
    return n
  end
  return 1
end

--- The JSON atlas gptimage.spritesheet writes beside a saved sheet
-- ("out/walk.png" -> "out/walk.json").
function manifest.atlas_path(sheet)
  local dir, name = sheet:match("^(.*/)([^/]*)$")
  dir, name = dir or "", name or sheet
  local stem = name:match("^(.+)%.[^.]*$") or name
  return dir .. stem .. ".json"
end

--- Every file an entry writes, each { path =, what = }: its images, named
-- as the module names them, and its sidecar record.
function manifest.output_files(entry)
  local count = image_count(entry.options)
  local files = {}
  for i = 1, count do
    files[i] = { path = gptimage.save_path(entry.output, i, count, entry.options.output_format),
                 what = count > 1 and ("image " .. i) or "image" }
  end
  if entry.sheet then
    files[#files + 1] = { path = entry.sheet, what = "sprite sheet" }
    files[#files + 1] = { path = manifest.atlas_path(entry.sheet), what = "sprite sheet's atlas" }
  end
  files[#files + 1] = { path = cache.sidecar_path(cache.beside(entry.output, entry.options.output_format)),
                        what = "record" }
  return files
end

-- An output path (as written in the manifest) that leaves the folder it is
-- relative to: absolute, or with ".." above its start.
local function leaves_folder(label)
  return fs.is_absolute(label) or fs.normalize(label):match("^%.%.$") ~= nil
    or fs.normalize(label):match("^%.%./") ~= nil
end

-- Problems for every file written by two entries (or twice by one).
local function collisions(entries, problems)
  local writer = {}
  for _, entry in ipairs(entries) do
    for _, file in ipairs(manifest.output_files(entry)) do
      local path = fs.normalize(file.path)
      local other = writer[path]
      if other then
        problems[#problems + 1] = string.format("entry %d (%s): its %s '%s' is also %s of entry %d (%s)",
          entry.index, entry.label, file.what, path, other.file.what == "record" and "the record"
          or ("the " .. other.file.what), other.entry.index, other.entry.label)
      else
        writer[path] = { entry = entry, file = file }
      end
    end
  end
end

--- Turns a decoded manifest value into the normalized form:
--   { path, dir, output_dir, entries = { entry, ... } }
-- entry = { index, op, options (API options), inputs (paths), mask,
--           output (path to write), label (output as written), custom_id }
-- `opts.dir`: the folder relative paths start from (default ".");
-- `opts.defaults`: options that override the manifest's defaults
-- (command-line flags); `opts.output_dir` overrides the manifest's.
-- Returns the manifest, or nil and a list of problems.
function manifest.normalize(value, opts)
  opts = opts or {}
  local problems = {}
  local base = opts.dir or "."
  local raw_entries, raw_defaults, output_dir
  local allow_outside = opts.allow_outside_output_dir == true
  if type(value) ~= "table" then
    return nil, { "the manifest must be a list of entries or an object with \"entries\"" }
  end
  if #value > 0 or next(value) == nil then
    raw_entries = value
  else
    for key in pairs(value) do
      if not TOP_FIELDS[key] and not ignored_key(key) then
        local names = { "defaults", "entries", "output_dir" }
        problems[#problems + 1] = unknown_key_message("manifest", key, names)
      end
    end
    raw_entries = value.entries
    raw_defaults = value.defaults
    output_dir = value.output_dir
    if output_dir == cjson.null then
      output_dir = nil
    end
    if output_dir ~= nil and type(output_dir) ~= "string" then
      problems[#problems + 1] = "manifest: 'output_dir' must be a path"
      output_dir = nil
    end
    if value.allow_outside_output_dir ~= nil and value.allow_outside_output_dir ~= cjson.null then
      if type(value.allow_outside_output_dir) ~= "boolean" then
        problems[#problems + 1] = "manifest: 'allow_outside_output_dir' must be true or false"
      elseif value.allow_outside_output_dir then
        allow_outside = true
      end
    end
    if raw_defaults == cjson.null then
      raw_defaults = nil
    end
    if type(raw_entries) ~= "table" then
      problems[#problems + 1] = "manifest: \"entries\" must be a list of entries"
      raw_entries = {}
    end
  end

  local defaults = {}
  if raw_defaults ~= nil then
    if type(raw_defaults) ~= "table" then
      problems[#problems + 1] = "manifest: \"defaults\" must be an object"
    else
      read_fields("defaults", raw_defaults, defaults, problems, false)
    end
  end
  for key, overriding in pairs(opts.defaults or {}) do
    defaults[key] = overriding
  end

  local output_base = base
  if opts.output_dir then
    output_base = opts.output_dir
  elseif output_dir then
    output_base = fs.join(base, output_dir)
  end

  local entries = {}
  local by_output = {}
  local count = #raw_entries
  local width = math.max(3, #tostring(count))
  for index = 1, count do
    local raw = raw_entries[index]
    local where = "entry " .. index
    if type(raw) ~= "table" then
      problems[#problems + 1] = where .. ": must be an object"
    else
      local fields = {}
      for key, default in pairs(defaults) do
        fields[key] = default
      end
      local own = {}
      read_fields(where, raw, own, problems, true)
      for key, item in pairs(own) do
        fields[key] = item
      end
      -- An entry's inputs replace the defaults' under whichever name.
      local inputs = image_list(own.inputs or own.image or own.images or own.input)
      if inputs == nil then
        inputs = image_list(fields.inputs or fields.image or fields.images or fields.input)
      end
      local op = fields.op
      if op == nil then
        if inputs and #inputs > 0 then
          op = fields.prompt and "edit" or "variation"
        else
          op = "generate"
        end
      end
      if not OPS[op] then
        problems[#problems + 1] = string.format("%s: 'op' must be generate, edit or variation, not '%s'", where, op)
      elseif op == "generate" and inputs and #inputs > 0 then
        problems[#problems + 1] = where .. ": a generate entry takes no input images (use op \"edit\")"
      elseif op ~= "generate" and not (inputs and #inputs > 0) then
        problems[#problems + 1] = string.format("%s: op '%s' needs input images ('inputs')", where, op)
      end
      if fields.mask and fields.mask_bw then
        problems[#problems + 1] = where .. ": give either 'mask' or 'mask_bw', not both"
      end
      if fields.sheet ~= nil and fields.output_format ~= "gif" then
        problems[#problems + 1] = string.format("%s: 'sheet' makes a sprite sheet of a gif output, but the "
          .. "entry's output_format is %s (add \"output_format\": \"gif\")", where,
          fields.output_format and ("'" .. tostring(fields.output_format) .. "'") or "not given (png)")
      elseif fields.sheet ~= nil and image_count(fields) > 1 then
        problems[#problems + 1] = where .. ": 'sheet' takes one image; the entry asks for n > 1"
      end
      if fields.sheet_columns ~= nil and fields.sheet == nil then
        problems[#problems + 1] = where .. ": 'sheet_columns' needs 'sheet'"
      elseif fields.sheet_columns ~= nil and fields.sheet_columns < 1 then
        problems[#problems + 1] = where .. ": 'sheet_columns' must be 1 or more"
      end
      if type(fields.sheet) == "string" and leaves_folder(fields.sheet) and not allow_outside then
        problems[#problems + 1] = string.format("%s: sheet '%s' is outside the output folder '%s'; set "
          .. "\"allow_outside_output_dir\": true in the manifest (or pass --allow-outside-output-dir) to "
          .. "write there", where, fields.sheet, output_base)
      end
      if op ~= "variation" and fields.prompt == nil then
        problems[#problems + 1] = where .. ": 'prompt' is missing"
      end
      local options = {}
      for key in pairs(manifest.API_FIELDS) do
        options[key] = fields[key]
      end
      local label = own.output or own.out
      if label == nil then
        label = string.format("%0" .. width .. "d-%s.%s", index, slug(fields.prompt or op),
                              manifest.extension(fields.output_format))
      end
      local output = fs.normalize(fs.join(output_base, label))
      if by_output[output] then
        problems[#problems + 1] = string.format("%s: writes '%s', as entry %d does", where, label, by_output[output])
      else
        by_output[output] = index
      end
      if type(label) == "string" and leaves_folder(label) and not allow_outside then
        problems[#problems + 1] = string.format("%s: output '%s' is outside the output folder '%s'; set "
          .. "\"allow_outside_output_dir\": true in the manifest (or pass --allow-outside-output-dir) to "
          .. "write there", where, label, output_base)
      end
      local resolved_inputs = {}
      for i, path in ipairs(inputs or {}) do
        resolved_inputs[i] = fs.normalize(fs.join(base, path))
      end
      entries[#entries + 1] = {
        index = index,
        op = op,
        options = options,
        inputs = resolved_inputs,
        mask = (fields.mask or fields.mask_bw) and fs.normalize(fs.join(base, fields.mask or fields.mask_bw)) or nil,
        mask_bw = fields.mask_bw ~= nil or nil,
        markup = fields.markup and fs.normalize(fs.join(base, fields.markup)) or nil,
        output = output,
        label = label,
        custom_id = own.custom_id or label,
        sheet = fields.sheet and fs.normalize(fs.join(output_base, fields.sheet)) or nil,
        sheet_columns = fields.sheet_columns,
      }
    end
  end
  if #problems == 0 then
    collisions(entries, problems)
  end
  if #problems > 0 then
    return nil, problems
  end
  return { dir = base, output_dir = output_base, entries = entries }
end

-- "at character 123" in a cjson message, as a line and column.
-- lua-cjson's token names, in words.
local TOKENS = {
  T_OBJ_BEGIN = "'{'", T_OBJ_END = "'}'", T_ARR_BEGIN = "'['", T_ARR_END = "']'",
  T_STRING = "a string", T_NUMBER = "a number", T_BOOLEAN = "true or false", T_NULL = "null",
  T_COLON = "':'", T_COMMA = "','", T_END = "the end of the file",
  ["invalid token"] = "something that is not JSON (strings take double quotes; true, false and null "
    .. "are lower case; no comments)",
}
local EXPECTED = {
  ["object key string"] = "a key in double quotes", ["comma or object end"] = "',' or '}'",
  ["comma or array end"] = "',' or ']'", ["value"] = "a value", ["colon"] = "':' after the key",
  ["the end"] = "the end of the file",
}

-- A lua-cjson message in our words, with the line and column of its
-- character offset in text: "line 2, column 19: expected ... but found ...".
local function locate(text, message)
  local at = tonumber(message:match("at character (%d+)"))
  local expected, found = message:match("^Expected (.-) but found (.-) at character")
  local words = message
  if expected then
    words = string.format("expected %s but found %s", EXPECTED[expected] or expected, TOKENS[found] or found)
    if (found == "T_OBJ_END" and expected == "object key string") or (found == "T_ARR_END" and expected == "value") then
      words = words .. " (a comma before it? JSON allows none after the last item)"
    elseif expected:find("^comma or") then
      words = words .. " (a missing comma?)"
    end
  end
  if not at then
    return words
  end
  local line, column = 1, 1
  for i = 1, math.min(at - 1, #text) do
    if text:sub(i, i) == "\n" then
      line, column = line + 1, 1
    else
      column = column + 1
    end
  end
  return string.format("line %d, column %d: %s", line, column, words)
end

local SANDBOX = {
  "assert", "error", "ipairs", "next", "pairs", "pcall", "select", "tonumber",
  "tostring", "type", "unpack", "string", "table", "math",
}

local function load_lua(text, path)
  local env = {}
  for _, name in ipairs(SANDBOX) do
    env[name] = _G[name]
  end
  env.os = { getenv = os.getenv, time = os.time, date = os.date }
  local chunk, problem = load(text, "@" .. path, "t", env)
  if not chunk then
    return nil, problem
  end
  if setfenv then
    setfenv(chunk, env)
  end
  local ok, value = pcall(chunk)
  if not ok then
    return nil, tostring(value)
  end
  return value
end

--- Reads and checks a manifest file. Returns the normalized manifest (see
-- manifest.normalize, plus `path`), or nil and a message listing every
-- problem found.
function manifest.load(path, opts)
  opts = opts or {}
  local text, problem = fs.read_file(path)
  if not text then
    return nil, "cannot read manifest '" .. path .. "': " .. tostring(problem)
  end
  local value
  local first = text:match("^%s*(.)")
  if path:match("%.lua$") or (first ~= "{" and first ~= "[" and not path:match("%.json$")) then
    value, problem = load_lua(text, path)
    if problem then
      return nil, "manifest '" .. path .. "' (Lua): " .. problem
    end
  else
    local ok, decoded = pcall(cjson.decode, text)
    if not ok then
      return nil, "manifest '" .. path .. "' is not valid JSON, " .. locate(text, tostring(decoded))
    end
    value = decoded
  end
  local normalize_opts = { dir = fs.dirname(path), defaults = opts.defaults, output_dir = opts.output_dir,
                           allow_outside_output_dir = opts.allow_outside_output_dir }
  local result, problems = manifest.normalize(value, normalize_opts)
  if not result then
    local limit = 20
    local lines = {}
    for i = 1, math.min(#problems, limit) do
      lines[i] = "  " .. problems[i]
    end
    if #problems > limit then
      lines[#lines + 1] = string.format("  ... and %d more", #problems - limit)
    end
    return nil, string.format("manifest '%s' has %d problem%s:\n%s", path, #problems,
      #problems == 1 and "" or "s", table.concat(lines, "\n"))
  end
  result.path = path
  return result
end

return manifest
