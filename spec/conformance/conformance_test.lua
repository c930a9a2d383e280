-- Conformance with the official openai-node SDK (pinned in package.json).
-- The SDK (sdk.mjs) and gptimage run the same scenarios against the fake
-- server; the requests it recorded from each are compared field by field,
-- and both clients' readings of the answers are checked against what the
-- server sent, which also proves the fake's answers are ones the SDK parses.
-- A scenario names the options it `needs`; one that gptimage does not meet
-- (options its API table lacks) still runs on the SDK side, so its request
-- is checked against the scenario and its answer read, but fails: every
-- scenario must run on both sides.
--
--   lua5.4 spec/conformance/conformance_test.lua    (from the source tree)
--
-- Needs the module on LUA_CPATH, lua-cjson, node with spec/conformance's
-- node_modules (npm ci --prefix spec/conformance), python3 and curl.
-- Environment: GPTIMAGE_SOURCE_DIR (source tree), GPTIMAGE_NODE (node).
-- Exits non-zero with every difference listed; prints "N passed, 0 failed".

local source_dir = os.getenv("GPTIMAGE_SOURCE_DIR")
if not source_dir or source_dir == "" then
  source_dir = (arg and arg[0] or ""):match("^(.*)/spec/conformance/[^/]+$") or "."
end
package.path = source_dir .. "/spec/?.lua;" .. source_dir .. "/lua/?.lua;" .. package.path

local cjson = require "cjson"
local gptimage = require "gptimage"
local fake = require "helpers.server"
local util = require "helpers.util"
local test_images = require "helpers.images"

local SCENARIO_HEADER = "x-conformance-scenario"
local quote = fake.shell_quote

local read_file, write_file = util.read, util.write

local function command_output(command)
  local pipe = assert(io.popen(command, "r"))
  local output = pipe:read("*a")
  local ok, _, code = pipe:close()
  if type(ok) == "number" then ok, code = ok == 0, ok end -- Lua 5.1
  return output, ok, code
end

local function sha256_file(path)
  local output = command_output("sha256sum " .. quote(path))
  return (assert(output:match("^(%x+)"), "sha256sum failed on " .. path))
end

local function sha256_bytes(bytes, scratch)
  write_file(scratch, bytes)
  local digest = sha256_file(scratch)
  os.remove(scratch)
  return digest
end

---------------------------------------------------------------------------
-- Test images: the specs' PNG fixtures; `seed` makes the images of one run
-- differ, `alpha` gives a mask (RGBA, transparent).

local function make_png(width, height, alpha, seed)
  if alpha then
    return test_images.png{ width = width, height = height, colour = "rgba" }
  end
  return test_images.png{ width = width, height = height, colour = "rgb",
                          pixel = string.char(seed * 40 % 256, seed * 85 % 256, 128) }
end

-- The scenarios (scenarios.lua): the same list for both clients.
local scenarios = dofile(source_dir .. "/spec/conformance/scenarios.lua")

-- Whether gptimage knows an option ("name") or one of its values
-- ("name=value"), by its API table: gptimage.options keyed by name (or a list
-- of entries with a name), each with its values in enum / values.
local function client_knows(need)
  local name, value = need:match("^([^=]+)=?(.*)$")
  local ok, options = pcall(function() return gptimage.options end)
  if not ok then return false end
  if type(options) ~= "table" then return false end
  local entry = options[name]
  if entry == nil then
    for _, candidate in pairs(options) do
      if type(candidate) == "table" and candidate.name == name then entry = candidate end
    end
  end
  if entry == nil then return false end
  if value == "" then return true end
  for _, list in ipairs{ type(entry) == "table" and entry.enum or false,
                         type(entry) == "table" and entry.values or false } do
    for _, known in pairs(list or {}) do
      if known == value then return true end
    end
  end
  return false
end

-- Whether gptimage's own checks (gptimage.validate) accept the scenario's
-- options; with no gptimage.validate it cannot tell, and says so.
local function client_accepts(scenario)
  local ok, validate = pcall(function() return gptimage.validate end)
  if not ok or type(validate) ~= "function" then
    return false, "gptimage.validate is missing"
  end
  local opts = {}
  for key, value in pairs(scenario.params) do opts[key] = value end
  local files = scenario.files or {}
  opts.image, opts.mask, opts.markup = files.image, files.mask, files.markup
  local accepted, message = pcall(validate, scenario.op, opts)
  return accepted, not accepted and tostring(message) or nil
end

-- The options of a scenario gptimage does not know yet (empty: both sides run).
local function missing_needs(scenario)
  local missing = {}
  for _, need in ipairs(scenario.needs or {}) do
    if need == "accepts" then
      local ok, message = client_accepts(scenario)
      if not ok then missing[#missing + 1] = "it refuses the options: " .. message end
    elseif not client_knows(need) then
      missing[#missing + 1] = need
    end
  end
  return missing
end

---------------------------------------------------------------------------
-- The records are read with this small decoder instead of cjson, which turns
-- every number into a float: here an integer literal stays an integer (on
-- Lua 5.4), so a body that says "n": 2.0 where the SDK says "n": 2 shows.

local integer_of = math.tointeger or function(value) return value end

local function decode_json(text)
  local position = 1
  local value

  local function fail(message)
    error(string.format("bad JSON at byte %d: %s", position, message), 0)
  end
  local function skip_space()
    position = text:find("[^ \t\r\n]", position) or #text + 1
  end
  local escapes = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }
  local function utf8_char(code)
    if code < 0x80 then return string.char(code) end
    if code < 0x800 then return string.char(0xC0 + math.floor(code / 64), 0x80 + code % 64) end
    if code < 0x10000 then
      return string.char(0xE0 + math.floor(code / 4096), 0x80 + math.floor(code / 64) % 64, 0x80 + code % 64)
    end
    return string.char(0xF0 + math.floor(code / 262144), 0x80 + math.floor(code / 4096) % 64,
                       0x80 + math.floor(code / 64) % 64, 0x80 + code % 64)
  end
  local function read_string()
    local out = {}
    position = position + 1
    while true do
      local stop = text:find('["\\]', position)
      if not stop then fail("unterminated string") end
      out[#out + 1] = text:sub(position, stop - 1)
      if text:sub(stop, stop) == '"' then
        position = stop + 1
        return table.concat(out)
      end
      local kind = text:sub(stop + 1, stop + 1)
      if kind == "u" then
        local code = tonumber(text:sub(stop + 2, stop + 5), 16) or fail("bad \\u escape")
        position = stop + 6
        if code >= 0xD800 and code < 0xDC00 and text:sub(position, position + 1) == "\\u" then
          local low = tonumber(text:sub(position + 2, position + 5), 16) or fail("bad \\u escape")
          code = 0x10000 + (code - 0xD800) * 1024 + (low - 0xDC00)
          position = position + 6
        end
        out[#out + 1] = utf8_char(code)
      else
        out[#out + 1] = escapes[kind] or fail("bad escape")
        position = stop + 2
      end
    end
  end
  function value()
    skip_space()
    local c = text:sub(position, position)
    if c == "{" then
      local object = {}
      position = position + 1
      skip_space()
      if text:sub(position, position) == "}" then position = position + 1 return object end
      while true do
        skip_space()
        if text:sub(position, position) ~= '"' then fail("expected a key") end
        local key = read_string()
        skip_space()
        if text:sub(position, position) ~= ":" then fail("expected ':'") end
        position = position + 1
        object[key] = value()
        skip_space()
        local separator = text:sub(position, position)
        position = position + 1
        if separator == "}" then return object end
        if separator ~= "," then fail("expected ',' or '}'") end
      end
    elseif c == "[" then
      local array = {}
      position = position + 1
      skip_space()
      if text:sub(position, position) == "]" then position = position + 1 return array end
      while true do
        array[#array + 1] = value()
        skip_space()
        local separator = text:sub(position, position)
        position = position + 1
        if separator == "]" then return array end
        if separator ~= "," then fail("expected ',' or ']'") end
      end
    elseif c == '"' then
      return read_string()
    end
    local literal = text:match("^-?%d+%.?%d*[eE]?[-+]?%d*", position)
    if literal and literal ~= "" then
      position = position + #literal
      local number = tonumber(literal) or fail("bad number " .. literal)
      if literal:find("[.eE]") then return number + 0.0 end
      return integer_of(number) or number
    end
    for word, result in pairs{ ["true"] = true, ["false"] = false, null = cjson.null } do
      if text:sub(position, position + #word - 1) == word then
        position = position + #word
        return result
      end
    end
    fail("unexpected character")
  end
  local result = value()
  skip_space()
  if position <= #text then fail("trailing characters") end
  return result
end

---------------------------------------------------------------------------
-- Comparison helpers: every difference is collected, never just the first.

local function sorted_keys(t)
  local keys = {}
  for key in pairs(t) do keys[#keys + 1] = key end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

local function show(value)
  if value == nil or value == cjson.null then return "absent" end
  if type(value) == "table" then return cjson.encode(value) end
  if type(value) == "string" then return string.format("%q", value) end
  -- tostring tells 2 from 2.0 on Lua 5.4: a float where the SDK sends an integer is a difference
  return tostring(value) .. " (" .. type(value) .. ")"
end

-- On the wire (`exact`), 2 and 2.0 differ; in results read by two parsers,
-- numbers are compared by value.
local function same_value(a, b, exact)
  if a == cjson.null then a = nil end
  if b == cjson.null then b = nil end
  if exact and type(a) == "number" and type(b) == "number" then return tostring(a) == tostring(b) end
  return a == b
end

-- Deep comparison of decoded JSON values; appends "where: sdk=... gptimage=...".
local function compare(where, sdk, ours, diffs, exact)
  if type(sdk) == "table" and type(ours) == "table" then
    local seen = {}
    for _, key in ipairs(sorted_keys(sdk)) do
      seen[key] = true
      compare(where .. "." .. tostring(key), sdk[key], ours[key], diffs, exact)
    end
    for _, key in ipairs(sorted_keys(ours)) do
      if not seen[key] then compare(where .. "." .. tostring(key), nil, ours[key], diffs, exact) end
    end
  elseif not same_value(sdk, ours, exact) then
    diffs[#diffs + 1] = string.format("%s: sdk=%s gptimage=%s", where, show(sdk), show(ours))
  end
end

local function media_type(value)
  return value and value:match("^%s*([^;%s]+)"):lower() or nil
end

-- Parts grouped by name, in the order each name's parts were sent: the
-- order between names does not matter, the order of an image[] list does.
local function parts_by_name(parts)
  local groups = {}
  for _, part in ipairs(parts or {}) do
    groups[part.name] = groups[part.name] or {}
    table.insert(groups[part.name], part)
  end
  return groups
end

local function compare_parts(sdk_parts, our_parts, diffs)
  local sdk_groups, our_groups = parts_by_name(sdk_parts), parts_by_name(our_parts)
  local names = {}
  for name in pairs(sdk_groups) do names[name] = true end
  for name in pairs(our_groups) do names[name] = true end
  for _, name in ipairs(sorted_keys(names)) do
    local sdk_list, our_list = sdk_groups[name] or {}, our_groups[name] or {}
    if #sdk_list ~= #our_list then
      diffs[#diffs + 1] = string.format("part %q: sdk sent %d, gptimage sent %d", name, #sdk_list, #our_list)
    end
    for i = 1, math.min(#sdk_list, #our_list) do
      local s, o = sdk_list[i], our_list[i]
      local where = string.format("part %s#%d", name, i)
      if s.filename ~= nil and o.filename ~= nil then
        compare(where .. ".filename", s.filename, o.filename, diffs)
      elseif (s.filename == nil) ~= (o.filename == nil) then
        -- a file part on one side and a text field on the other
        compare(where .. ".is_file", s.filename ~= nil, o.filename ~= nil, diffs)
      end
      compare(where .. ".content_type", media_type(s.content_type), media_type(o.content_type), diffs)
      compare(where .. ".size", s.size, o.size, diffs)
      compare(where .. ".sha256", s.sha256, o.sha256, diffs)
      compare(where .. ".value", s.value, o.value, diffs)
    end
  end
end

-- Headers the SDK adds for its own telemetry or that the HTTP stack of each
-- side chooses (agents, encodings, lengths) are not part of the contract.
local function compare_requests(sdk, ours, diffs)
  compare("method", sdk.method, ours.method, diffs)
  compare("path", sdk.path, ours.path, diffs)
  compare("query", sdk.query, ours.query, diffs)
  compare("header authorization", sdk.headers.authorization, ours.headers.authorization, diffs)
  compare("header content-type", media_type(sdk.headers["content-type"]),
          media_type(ours.headers["content-type"]), diffs)
  if sdk.json ~= nil or ours.json ~= nil then
    compare("json", sdk.json, ours.json, diffs, true)
  end
  if sdk.parts ~= nil or ours.parts ~= nil then
    compare_parts(sdk.parts, ours.parts, diffs)
  end
  if sdk.multipart_error or ours.multipart_error then
    compare("multipart_error", sdk.multipart_error, ours.multipart_error, diffs)
  end
  compare("status", sdk.status, ours.status, diffs)
end

local function expect(condition, message, diffs)
  if not condition then diffs[#diffs + 1] = message end
end

local function list_equal(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end

local function show_list(list)
  return "[" .. table.concat(list, ", ") .. "]"
end

-- What the SDK parsed must be what the server sent: the images (by sha256),
-- PNG or the asked format, the usage numbers, the stream's events.
local function check_sdk_reading(scenario, result, record, diffs)
  local params = scenario.params
  if params.stream then
    local partial, completed, partial_sha, completed_sha = 0, 0, {}, {}
    for _, event in ipairs(result.events) do
      if event.type:match("%.partial_image$") then
        partial = partial + 1
        expect(event.partial_image_index ~= cjson.null, "sdk: a partial event without partial_image_index", diffs)
        partial_sha[#partial_sha + 1] = event.image ~= cjson.null and event.image.sha256 or "none"
      elseif event.type:match("%.completed$") then
        completed = completed + 1
        completed_sha[#completed_sha + 1] = event.image ~= cjson.null and event.image.sha256 or "none"
        expect(type(event.usage) == "table" and type(event.usage.total_tokens) == "number",
               "sdk: the completed event has no usage", diffs)
        expect(event.image ~= cjson.null and event.image.png, "sdk: the completed image is not a PNG", diffs)
      end
      local prefix = scenario.op == "edit" and "image_edit." or "image_generation."
      expect(event.type:sub(1, #prefix) == prefix, "sdk: unexpected event type " .. event.type, diffs)
    end
    local n = params.n or 1
    expect(partial == params.partial_images * n, string.format("sdk: %d partial events, expected %d",
      partial, params.partial_images * n), diffs)
    expect(completed == n, string.format("sdk: %d completed events, expected %d", completed, n), diffs)
    expect(list_equal(partial_sha, record.partial_images or {}),
      "sdk: partial images differ from the ones sent: " .. show_list(partial_sha), diffs)
    expect(list_equal(completed_sha, record.images or {}),
      "sdk: completed images differ from the ones sent: " .. show_list(completed_sha), diffs)
    return
  end
  local expected_count = params.n or 1
  expect(#result.data == expected_count,
         string.format("sdk: %d images, expected %d", #result.data, expected_count), diffs)
  local shas = {}
  for i, entry in ipairs(result.data) do
    if params.response_format == "url" then
      expect(type(entry.url) == "string" and entry.url:match("^http://127%.0%.0%.1:%d+/files/"),
             "sdk: data[" .. i .. "] has no url", diffs)
    else
      expect(entry.image ~= cjson.null, "sdk: data[" .. i .. "].b64_json missing", diffs)
      if entry.image ~= cjson.null then
        shas[#shas + 1] = entry.image.sha256
        local format = params.output_format or "png"
        if format == "png" or format == "gif" or format == "svg" then
          expect(entry.image.format == format, string.format("sdk: data[%d].b64_json is %s, not %s",
                 i, show(entry.image.format), format), diffs)
        end
        if format == "gif" and type(entry.image.gif) == "table" then
          local frames, delay = params.frame_count or 9, math.floor((params.frame_duration_ms or 200) / 10 + 0.5)
          expect(entry.image.gif.frames == frames, string.format("sdk: the GIF has %s frames, expected %d",
                 show(entry.image.gif.frames), frames), diffs)
          for f, got in ipairs(entry.image.gif.delays) do
            expect(got == delay, string.format("sdk: GIF frame %d delay %s, expected %d", f, show(got), delay), diffs)
          end
        elseif format == "gif" then
          expect(false, "sdk: the GIF's blocks do not parse", diffs)
        end
      end
    end
    if params.model == "dall-e-3" then
      expect(type(entry.revised_prompt) == "string", "sdk: dall-e-3 answer without revised_prompt", diffs)
    end
  end
  if params.response_format ~= "url" then
    expect(list_equal(shas, record.images or {}),
      "sdk: decoded images differ from the ones sent: " .. show_list(shas), diffs)
  end
  if not params.model:match("^dall%-e") then
    local usage = result.usage
    expect(type(usage) == "table" and type(usage.total_tokens) == "number" and type(usage.input_tokens) == "number"
           and type(usage.output_tokens) == "number" and type(usage.input_tokens_details) == "table",
           "sdk: usage missing or incomplete: " .. show(usage), diffs)
    if params.model:match("^gpt%-image%-2") and type(usage) == "table" then
      local details = usage.output_tokens_details
      expect(type(details) == "table" and details.image_tokens + details.text_tokens == usage.output_tokens,
             "sdk: output_tokens_details missing or not summing to output_tokens: " .. show(details), diffs)
    end
    for _, field in ipairs{ "quality", "size", "background" } do
      if params[field] and params[field] ~= "auto" then
        compare("sdk: " .. field, params[field], result.meta[field], diffs)
      end
    end
    local identifier = params.safety_identifier or params.user
    compare("sdk: safety_identifier", identifier, result.meta.safety_identifier, diffs)
    if params.output_format == "svg" then
      local svg_usage = result.svg_usage
      expect(type(svg_usage) == "table" and svg_usage.model == (params.svg and params.svg.model or "auto")
             and svg_usage.input_tokens + svg_usage.output_tokens == svg_usage.total_tokens,
             "sdk: svg_usage missing or wrong: " .. show(svg_usage), diffs)
    end
  end
end

-- What the SDK put on the wire, against the scenario: every parameter in the
-- JSON body, or as a multipart text field (nested objects as name[key]), and
-- every file as a file part of the right name. This is the reference
-- gptimage's side is compared with once it runs the scenario too.
local function check_sdk_request(scenario, record, diffs)
  local params = scenario.params
  if scenario.op == "generate" then
    compare("sdk json", params, record.json, diffs, true)
    return
  end
  local fields, files = {}, {}
  for _, part in ipairs(record.parts or {}) do
    if part.filename then
      files[part.name] = (files[part.name] or 0) + 1
    else
      fields[part.name] = part.value
    end
  end
  local expected = {}
  local function flatten(prefix, value)
    if type(value) == "table" then
      for key, child in pairs(value) do flatten(prefix .. "[" .. key .. "]", child) end
    else
      expected[prefix] = tostring(value)
    end
  end
  for key, value in pairs(params) do flatten(key, value) end
  compare("sdk form fields", expected, fields, diffs)
  local expected_files = {}
  for name, value in pairs(scenario.files or {}) do
    if type(value) == "table" then
      expected_files[name .. "[]"] = #value
    else
      expected_files[name] = 1
    end
  end
  compare("sdk file parts", expected_files, files, diffs)
end

-- gptimage's result read against the same answer, and against the SDK's.
local function check_our_reading(scenario, res, partials, sdk_result, record, scratch, diffs)
  local params = scenario.params
  local shas = {}
  for i, image in ipairs(res.images) do
    if params.response_format == "url" then
      expect(type(image.url) == "string" and image.url:match("^http://127%.0%.0%.1:%d+/files/"),
             "gptimage: images[" .. i .. "] has no url", diffs)
    elseif image.path then
      shas[#shas + 1] = sha256_file(image.path)
    else
      expect(type(image.bytes) == "string", "gptimage: images[" .. i .. "] has neither path nor bytes", diffs)
      shas[#shas + 1] = sha256_bytes(image.bytes or "", scratch)
    end
    local sdk_entry = sdk_result.data[i]
    if sdk_entry then
      compare("revised_prompt[" .. i .. "]", sdk_entry.revised_prompt, image.revised_prompt, diffs)
    end
  end
  if scenario.save then
    for i, image in ipairs(res.images) do
      expect(image.path ~= nil and image.bytes == nil, "gptimage: images[" .. i .. "] was not saved", diffs)
    end
  end
  if params.response_format ~= "url" then
    expect(list_equal(shas, record.images or {}),
      "gptimage: images differ from the ones sent: " .. show_list(shas), diffs)
  end
  if params.stream then
    local partial_shas = {}
    for _, partial in ipairs(partials) do
      partial_shas[#partial_shas + 1] = sha256_bytes(partial.bytes or "", scratch)
    end
    expect(list_equal(partial_shas, record.partial_images or {}),
      "gptimage: partial images differ from the ones sent: " .. show_list(partial_shas), diffs)
    local completed
    for _, event in ipairs(sdk_result.events) do
      if event.type:match("%.completed$") then completed = event end
    end
    if completed then
      compare("usage", completed.usage, res.usage, diffs)
      for _, field in ipairs{ "background", "output_format", "quality", "size" } do
        compare(field, completed.meta[field], res[field], diffs)
      end
    end
    return
  end
  compare("usage", sdk_result.usage, res.usage, diffs)
  for _, field in ipairs{ "background", "output_format", "quality", "size" } do
    compare(field, sdk_result.meta[field], res[field], diffs)
  end
  if client_knows("safety_identifier") then
    compare("safety_identifier", sdk_result.meta.safety_identifier, res.safety_identifier, diffs)
  end
  if params.output_format == "svg" then
    compare("svg_usage", sdk_result.svg_usage, res.svg_usage, diffs)
  end
  expect(res.request_id == record.request_id,
    "gptimage: request_id " .. show(res.request_id) .. " is not the server's " .. show(record.request_id), diffs)
end

---------------------------------------------------------------------------

local function temporary_dir()
  local output = command_output("mktemp -d \"${TMPDIR:-/tmp}/gptimage-conformance-XXXXXX\"")
  local dir = output:match("^(%S+)")
  assert(dir, "mktemp -d failed")
  return dir
end

-- JSON nulls in a record (and in its parts) become nil, as absent.
local function without_nulls(t)
  for key, value in pairs(t) do
    if value == cjson.null then t[key] = nil end
  end
  return t
end

local function records_by_scenario(srv)
  local output, ok = command_output(fake.unsanitized .. "curl -sS --max-time 60 " .. quote(srv.root .. "/__control/requests"))
  if not ok then error("cannot read the fake server's records: " .. output, 0) end
  local map = {}
  for _, record in ipairs(decode_json(output)) do
    without_nulls(record)
    for _, part in ipairs(record.parts or {}) do without_nulls(part) end
    local name = record.headers[SCENARIO_HEADER]
    if name then
      map[name] = map[name] or {}
      table.insert(map[name], record)
    end
  end
  return map
end

local function run_sdk(node, base_url, list, dir)
  local input = { base_url = base_url, scenarios = {} }
  for _, scenario in ipairs(list) do
    input.scenarios[#input.scenarios + 1] = { name = scenario.name, op = scenario.op,
                                              params = scenario.params, files = scenario.files }
  end
  local scenario_file = dir .. "/scenarios.json"
  write_file(scenario_file, cjson.encode(input))
  local script = source_dir .. "/spec/conformance/sdk.mjs"
  -- A sanitizer build preloads its runtime for the Lua process; node must not inherit it.
  local command = string.format("env -u LD_PRELOAD %s %s %s 2>%s", quote(node), quote(script),
                                quote(scenario_file), quote(dir .. "/sdk.err"))
  local output, ok = command_output(command)
  if not ok then
    error("the SDK script failed:\n" .. (read_file(dir .. "/sdk.err") or "") .. output, 0)
  end
  local report = decode_json(output)
  local results = {}
  for _, result in ipairs(report.results) do results[result.name] = result end
  return report.sdk_version, results
end

local function run_gptimage(base_url, scenario, dir)
  local client = gptimage.new{ api_key = "sk-test", base_url = base_url, max_retries = 0, timeout = 60,
                               headers = { [SCENARIO_HEADER] = scenario.name } }
  local opts, partials = {}, {}
  for key, value in pairs(scenario.params) do opts[key] = value end
  local files = scenario.files or {}
  opts.image, opts.mask, opts.markup = files.image, files.mask, files.markup
  if scenario.save then opts.save = dir .. "/out/" .. scenario.save end
  if opts.stream then
    opts.on_partial = function(image) partials[#partials + 1] = image end
  end
  local ok, res, err = pcall(client[scenario.op], client, opts)
  client:close()
  if not ok then return nil, "raised: " .. tostring(res), partials end
  return res, err, partials
end

local function main()
  local node = os.getenv("GPTIMAGE_NODE")
  if not node or node == "" then node = "node" end
  local dir = temporary_dir()
  local images = {
    first = dir .. "/first.png", second = dir .. "/second.png",
    third = dir .. "/third.png", mask = dir .. "/mask.png", markup = dir .. "/markup.png",
  }
  write_file(images.first, make_png(64, 64, false, 1))
  write_file(images.second, make_png(64, 64, false, 2))
  write_file(images.third, make_png(48, 32, false, 3))
  write_file(images.mask, make_png(64, 64, true, 4))
  write_file(images.markup, make_png(64, 64, true, 5))

  local list = scenarios(images)
  local srv = fake.start{}
  local ok, failure = pcall(function()
    local sdk_version, sdk_results = run_sdk(node, srv.base_url, list, dir)
    local sdk_records = records_by_scenario(srv)
    srv:reset()
    local ours = {}
    for _, scenario in ipairs(list) do
      scenario.pending = missing_needs(scenario)
      if #scenario.pending == 0 then
        local res, err, partials = run_gptimage(srv.base_url, scenario, dir)
        ours[scenario.name] = { res = res, err = err, partials = partials }
      end
    end
    local our_records = records_by_scenario(srv)

    local passed, failed = 0, 0
    print(string.format("conformance with openai-node %s (gptimage %s)", sdk_version, gptimage.version))
    for _, scenario in ipairs(list) do
      local name, diffs = scenario.name, {}
      local sdk_result, our = sdk_results[name], ours[name]
      local sdk_list, our_list = sdk_records[name] or {}, our_records[name] or {}
      local sdk_only = our == nil
      if not sdk_result or not sdk_result.ok then
        diffs[#diffs + 1] = "sdk call failed: " .. tostring(sdk_result and sdk_result.error or "no result")
      end
      if sdk_only then
        diffs[#diffs + 1] = "gptimage's side did not run: gptimage.options or gptimage.validate lacks "
          .. table.concat(scenario.pending, ", ")
      end
      if not sdk_only and not our.res then
        diffs[#diffs + 1] = "gptimage call failed: " .. tostring(our.err)
      end
      if #sdk_list ~= 1 or (not sdk_only and #our_list ~= 1) then
        diffs[#diffs + 1] = string.format("requests recorded: sdk %d, gptimage %d (expected 1 each)",
                                          #sdk_list, #our_list)
      end
      if sdk_list[1] then
        check_sdk_request(scenario, sdk_list[1], diffs)
      end
      if sdk_only and sdk_list[1] and sdk_result and sdk_result.ok then
        compare("status", 200, sdk_list[1].status, diffs)
        check_sdk_reading(scenario, sdk_result, sdk_list[1], diffs)
      end
      if sdk_list[1] and our_list[1] then
        compare_requests(sdk_list[1], our_list[1], diffs)
        if sdk_result and sdk_result.ok then
          check_sdk_reading(scenario, sdk_result, sdk_list[1], diffs)
          if our.res then
            check_our_reading(scenario, our.res, our.partials, sdk_result, our_list[1], dir .. "/scratch", diffs)
          end
        end
      end
      if #diffs == 0 then
        passed = passed + 1
        print("ok   " .. name .. (sdk_only and " (SDK side only; gptimage pending: "
                                   .. table.concat(scenario.pending, ", ") .. ")" or ""))
      else
        failed = failed + 1
        print("FAIL " .. name)
        for _, line in ipairs(diffs) do print("       " .. line) end
      end
    end
    print(string.format("%d passed, %d failed", passed, failed))
    return failed
  end)
  srv:stop()
  os.execute("rm -rf " .. quote(dir))
  if not ok then
    io.stderr:write("conformance: ", tostring(failure), "\n")
    os.exit(2)
  end
  os.exit(failure == 0 and 0 or 1)
end

main()
