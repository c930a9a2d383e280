-- Conformance with the official openai-node SDK (pinned in package.json).
-- The SDK (sdk.mjs) and gptimage run the same scenarios against the fake
-- server; the requests it recorded from each are compared field by field,
-- and both clients' readings of the answers are checked against what the
-- server sent, which also proves the fake's answers are ones the SDK parses.
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
local test_images = require "helpers.images"

local SCENARIO_HEADER = "x-conformance-scenario"
local quote = fake.shell_quote

local function read_file(path)
  local handle = io.open(path, "rb")
  if not handle then return nil end
  local content = handle:read("*a")
  handle:close()
  return content
end

local function write_file(path, content)
  local handle = assert(io.open(path, "wb"))
  assert(handle:write(content))
  assert(handle:close())
end

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

---------------------------------------------------------------------------
-- Scenarios: `params` go to both clients unchanged; `files` are paths given
-- to the SDK as uploads and to gptimage as `image` / `mask`; `save` is
-- gptimage's own option, so the saving path is checked too.

local function scenarios(images)
  return {
    { name = "generate-gpt-every-option", op = "generate",
      params = { model = "gpt-image-1", prompt = "a pixel-art sword", n = 2, size = "1024x1536",
                 quality = "high", background = "transparent", output_format = "png",
                 moderation = "low", user = "user-1234" } },
    { name = "generate-gpt-webp-compression", op = "generate",
      params = { model = "gpt-image-1", prompt = "a shield", size = "1536x1024", quality = "low",
                 background = "opaque", output_format = "webp", output_compression = 80 } },
    { name = "generate-gpt-saved", op = "generate", save = "generated.png",
      params = { model = "gpt-image-1", prompt = "a potion", n = 3, size = "auto", quality = "medium" } },
    { name = "generate-gpt-mini", op = "generate",
      params = { model = "gpt-image-1-mini", prompt = "a gem", quality = "low", size = "1024x1024" } },
    { name = "generate-gpt-stream", op = "generate",
      params = { model = "gpt-image-1", prompt = "a castle", stream = true, partial_images = 2,
                 size = "1024x1024", quality = "low" } },
    { name = "generate-dall-e-3-url", op = "generate",
      params = { model = "dall-e-3", prompt = "a dragon", size = "1792x1024", quality = "hd",
                 style = "vivid", response_format = "url", user = "user-1234" } },
    { name = "generate-dall-e-3-b64", op = "generate",
      params = { model = "dall-e-3", prompt = "a knight", size = "1024x1792", quality = "standard",
                 style = "natural", response_format = "b64_json" } },
    { name = "generate-dall-e-2", op = "generate",
      params = { model = "dall-e-2", prompt = "a tree", n = 2, size = "256x256",
                 response_format = "b64_json" } },
    { name = "edit-one-image", op = "edit", files = { image = images.first },
      params = { model = "gpt-image-1", prompt = "add a hat", n = 2, size = "1024x1024", quality = "low",
                 background = "opaque", output_format = "png", user = "user-1234" } },
    { name = "edit-image-list", op = "edit", files = { image = { images.first, images.second, images.third } },
      params = { model = "gpt-image-1", prompt = "combine these", size = "1536x1024", quality = "medium" } },
    { name = "edit-image-list-of-one", op = "edit", files = { image = { images.second } },
      params = { model = "gpt-image-1", prompt = "recolour" } },
    { name = "edit-mask-input-fidelity", op = "edit", files = { image = images.first, mask = images.mask },
      params = { model = "gpt-image-1", prompt = "fill the left half", input_fidelity = "high",
                 output_format = "webp", output_compression = 50 } },
    { name = "edit-saved", op = "edit", save = "edited-{i}.{ext}", files = { image = { images.first, images.third } },
      params = { model = "gpt-image-1", prompt = "make it night", n = 2, quality = "low" } },
    { name = "edit-stream", op = "edit", files = { image = images.first },
      params = { model = "gpt-image-1", prompt = "add snow", stream = true, partial_images = 1 } },
    { name = "edit-dall-e-2-mask", op = "edit", files = { image = images.first, mask = images.mask },
      params = { model = "dall-e-2", prompt = "a lake", n = 2, size = "512x512", response_format = "b64_json" } },
    { name = "variation-dall-e-2", op = "variation", files = { image = images.first },
      params = { model = "dall-e-2", n = 3, size = "256x256", response_format = "b64_json", user = "user-1234" } },
    { name = "variation-dall-e-2-url", op = "variation", files = { image = images.second },
      params = { model = "dall-e-2", size = "512x512", response_format = "url" } },
  }
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
        if (params.output_format or "png") == "png" then
          expect(entry.image.png, "sdk: data[" .. i .. "].b64_json does not decode to a PNG", diffs)
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
  end
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
  opts.image, opts.mask = files.image, files.mask
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
    third = dir .. "/third.png", mask = dir .. "/mask.png",
  }
  write_file(images.first, make_png(64, 64, false, 1))
  write_file(images.second, make_png(64, 64, false, 2))
  write_file(images.third, make_png(48, 32, false, 3))
  write_file(images.mask, make_png(64, 64, true, 4))

  local list = scenarios(images)
  local srv = fake.start{}
  local ok, failure = pcall(function()
    local sdk_version, sdk_results = run_sdk(node, srv.base_url, list, dir)
    local sdk_records = records_by_scenario(srv)
    srv:reset()
    local ours = {}
    for _, scenario in ipairs(list) do
      local res, err, partials = run_gptimage(srv.base_url, scenario, dir)
      ours[scenario.name] = { res = res, err = err, partials = partials }
    end
    local our_records = records_by_scenario(srv)

    local passed, failed = 0, 0
    print(string.format("conformance with openai-node %s (gptimage %s)", sdk_version, gptimage.version))
    for _, scenario in ipairs(list) do
      local name, diffs = scenario.name, {}
      local sdk_result, our = sdk_results[name], ours[name]
      local sdk_list, our_list = sdk_records[name] or {}, our_records[name] or {}
      if not sdk_result or not sdk_result.ok then
        diffs[#diffs + 1] = "sdk call failed: " .. tostring(sdk_result and sdk_result.error or "no result")
      end
      if not our.res then
        diffs[#diffs + 1] = "gptimage call failed: " .. tostring(our.err)
      end
      if #sdk_list ~= 1 or #our_list ~= 1 then
        diffs[#diffs + 1] = string.format("requests recorded: sdk %d, gptimage %d (expected 1 each)",
                                          #sdk_list, #our_list)
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
        print("ok   " .. name)
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
