-- Proves that the fake Images API behaves as documented in
-- spec/server/README.md, talking to it with the curl CLI only, so that the
-- specs that rely on it can trust what it answers and records.

local cjson = require "cjson"
local fake = require "helpers.server"
local util = require "helpers.util"
local fixture = require "helpers.fixture"

local quote = fake.shell_quote
local read_file, write_file, run, sleep = util.read, util.write, util.run, util.sleep

local temporary_files = {}

local function temporary_path()
  local path = os.tmpname()
  os.remove(path)
  temporary_files[#temporary_files + 1] = path
  return path
end

local function parse_headers(raw)
  local headers = {}
  if not raw then
    return headers
  end
  -- After "100 Continue" curl writes two header blocks: keep the last.
  local last = raw
  for block in raw:gmatch("HTTP/[^\r\n]*\r?\n.-\r?\n\r?\n") do
    last = block
  end
  for name, value in last:gmatch("([%w%-]+):%s*([^\r\n]*)") do
    headers[name:lower()] = value
  end
  return headers
end

-- One HTTP exchange through the curl CLI.
-- opts: method, headers (list), json (string), form (list of -F values),
-- key (API key; false for none), max_time, extra (raw curl arguments).
local function curl(url, opts)
  opts = opts or {}
  local header_path, body_path = temporary_path(), temporary_path()
  local command = { fake.unsanitized .. "curl -sS", "-D", quote(header_path), "-o", quote(body_path),
                    "-w", quote("\n__status=%{http_code}\n") }
  if opts.method then
    command[#command + 1] = "-X " .. opts.method
  end
  if opts.key ~= false then
    command[#command + 1] = "-H " .. quote("Authorization: Bearer " .. (opts.key or "sk-test"))
  end
  for _, header in ipairs(opts.headers or {}) do
    command[#command + 1] = "-H " .. quote(header)
  end
  if opts.json then
    command[#command + 1] = "-H 'Content-Type: application/json' --data-binary "
      .. quote(opts.json)
  end
  for _, field in ipairs(opts.form or {}) do
    command[#command + 1] = "-F " .. quote(field)
  end
  if opts.max_time then
    command[#command + 1] = "--max-time " .. opts.max_time
  end
  if opts.extra then
    command[#command + 1] = opts.extra
  end
  command[#command + 1] = quote(url)
  local output, code = run(table.concat(command, " "))
  return {
    rc = code,
    output = output,
    status = tonumber(output:match("__status=(%d+)")),
    headers = parse_headers(read_file(header_path)),
    body = read_file(body_path) or "",
  }
end

local BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local BASE64_VALUE = {}
for index = 1, #BASE64 do
  BASE64_VALUE[BASE64:byte(index)] = index - 1
end

-- Strict decoder: nil for anything that is not canonical padded base64.
local function base64_decode(text)
  if #text % 4 ~= 0 or text:find("[^%w%+/=]") or text:find("=[^=]") then
    return nil
  end
  local out = {}
  for index = 1, #text, 4 do
    local a, b, c, d = text:byte(index, index + 3)
    local value = BASE64_VALUE[a] * 262144 + BASE64_VALUE[b] * 4096
      + (BASE64_VALUE[c] or 0) * 64 + (BASE64_VALUE[d] or 0)
    local x, y, z = math.floor(value / 65536), math.floor(value / 256) % 256, value % 256
    if c == 61 then
      out[#out + 1] = string.char(x)
    elseif d == 61 then
      out[#out + 1] = string.char(x, y)
    else
      out[#out + 1] = string.char(x, y, z)
    end
  end
  return table.concat(out)
end

local function big_endian(bytes, first)
  local a, b, c, d = bytes:byte(first, first + 3)
  return ((a * 256 + b) * 256 + c) * 256 + d
end

-- width, height and colour type of a PNG, or nil.
local function png_info(bytes)
  if not bytes or bytes:sub(1, 8) ~= "\137PNG\r\n\26\n" or bytes:sub(13, 16) ~= "IHDR" then
    return nil
  end
  return big_endian(bytes, 17), big_endian(bytes, 21), bytes:byte(26)
end

local function sha256(bytes)
  local path = temporary_path()
  write_file(path, bytes)
  local output = run("sha256sum " .. quote(path))
  return output:match("^(%x+)")
end

-- Server-sent events as the HTML standard frames them.
local function parse_sse(text)
  local events = {}
  local event, data = nil, nil
  local position = 1
  while position <= #text do
    local line_end, next_start = text:find("\r\n", position, true)
    local lf = text:find("[\r\n]", position)
    if not line_end or (lf and lf < line_end) then
      line_end = lf
      next_start = lf
    end
    if not line_end then
      break -- an unterminated last line is not an event
    end
    local line = text:sub(position, line_end - 1)
    position = next_start + 1
    if line == "" then
      if data then
        events[#events + 1] = { event = event, data = table.concat(data, "\n") }
      end
      event, data = nil, nil
    elseif line:sub(1, 1) ~= ":" then
      local field, value = line:match("^([^:]*):?(.*)$")
      value = value:gsub("^ ", "")
      if field == "event" then
        event = value
      elseif field == "data" then
        data = data or {}
        data[#data + 1] = value
      end
    end
  end
  return events
end

local function decode(body)
  local ok, value = pcall(cjson.decode, body)
  if ok then
    return value
  end
  return nil
end

local PNG_FILE, JPEG_MAGIC = nil, "\255\216\255"

describe("fake Images API server", function()
  local srv, base, root

  local function generate(body, opts)
    opts = opts or {}
    opts.json = type(body) == "string" and body or cjson.encode(body)
    return curl(base .. "/images/generations", opts)
  end

  fixture.each({ server = {} }, function(f) srv = f.srv end)

  setup(function()
    base, root = srv.base_url, srv.root
    PNG_FILE = temporary_path() .. ".png"
    -- A transparent 1024x1024 PNG for uploads, made by the fake itself.
    local answer = generate({ prompt = "seed", model = "gpt-image-1", background = "transparent" })
    write_file(PNG_FILE, base64_decode(decode(answer.body).data[1].b64_json))
  end)

  teardown(function()
    for _, path in ipairs(temporary_files) do
      os.remove(path)
    end
    if PNG_FILE then
      os.remove(PNG_FILE)
    end
  end)

  describe("start and control", function()
    it("listens on a loopback port and reports its pid", function()
      assert.is_true(srv.port > 0)
      assert.are.equal("http://127.0.0.1:" .. srv.port .. "/v1", srv.base_url)
      assert.is_false(fake.process_gone(srv.pid))
    end)

    it("does not record control calls", function()
      srv:config{}
      srv:stats()
      assert.are.same({}, srv:requests())
      assert.are.equal(0, srv:stats().requests)
    end)

    it("rejects an unknown fault action", function()
      assert.has_error(function() srv:fault{ action = "explode" } end)
    end)

    it("reset forgets records, faults and configuration", function()
      srv:config{ batch_polls = 7 }
      srv:fault{ action = "status", status = 500 }
      generate({ prompt = "x" })
      srv:fault{ action = "status", status = 500 }
      srv:reset()
      assert.are.same({}, srv:requests())
      assert.are.same({}, srv:faults())
      assert.are.equal(2, srv:config().batch_polls)
      assert.are.equal(200, generate({ prompt = "x" }).status)
    end)
  end)

  describe("authentication", function()
    it("answers 401 with the API error shape without a key", function()
      local answer = generate({ prompt = "x" }, { key = false })
      assert.are.equal(401, answer.status)
      local err = decode(answer.body).error
      assert.are.equal("invalid_request_error", err.type)
      assert.are.equal("invalid_api_key", err.code)
      assert.are.equal(cjson.null, err.param)
      assert.is_string(err.message)
    end)

    it("answers 401 to an empty bearer token", function()
      local answer = generate({ prompt = "x" }, { key = false, headers = { "Authorization: Bearer " } })
      assert.are.equal(401, answer.status)
    end)

    it("checks the key only when one is configured", function()
      srv:config{ api_key = "sk-right-key-1234" }
      local wrong = generate({ prompt = "x" }, { key = "sk-wrong-key-9876" })
      assert.are.equal(401, wrong.status)
      assert.is_nil(wrong.body:find("sk-wrong-key-9876", 1, true))
      assert.are.equal(200, generate({ prompt = "x" }, { key = "sk-right-key-1234" }).status)
    end)
  end)

  describe("generations", function()
    it("defaults to gpt-image-2.6-flare with base64 images and usage", function()
      local answer = generate({ prompt = "a sword", n = 2 })
      assert.are.equal(200, answer.status)
      assert.matches("^req_%x+$", answer.headers["x-request-id"])
      assert.matches("^application/json", answer.headers["content-type"])
      local body = decode(answer.body)
      assert.is_number(body.created)
      assert.are.equal(2, #body.data)
      assert.is_table(body.usage.output_tokens_details)
      assert.are.equal("1024x1024", body.size)
      local first = base64_decode(body.data[1].b64_json)
      local second = base64_decode(body.data[2].b64_json)
      assert.are.same({ 1024, 1024, 3 }, { png_info(first) })
      assert.are_not.equal(first, second)
    end)

    it("records the request and the sha256 of every image it served", function()
      local answer = generate({ prompt = "a sword", model = "gpt-image-1", size = "1024x1536" })
      local record = srv:last_request()
      assert.are.equal("POST", record.method)
      assert.are.equal("/v1/images/generations", record.path)
      assert.are.equal("Bearer sk-test", record.headers.authorization)
      assert.are.same({ prompt = "a sword", model = "gpt-image-1", size = "1024x1536" }, record.json)
      assert.is_nil(record.parts)
      assert.are.equal(#cjson.encode(record.json), record.body_size)
      assert.are.equal(answer.headers["x-request-id"], record.request_id)
      assert.are.equal(200, record.status)
      local image = base64_decode(decode(answer.body).data[1].b64_json)
      assert.are.same({ 1024, 1536, 3 }, { png_info(image) })
      assert.are.equal(sha256(image), record.images[1])
      assert.are.equal(image, srv:image(record.images[1]))
    end)

    it("answers GPT image models with metadata and token usage", function()
      local prompt = string.rep("p", 41)
      local body = decode(generate({ prompt = prompt, model = "gpt-image-1", quality = "low", n = 2 }).body)
      assert.are.equal("opaque", body.background)
      assert.are.equal("png", body.output_format)
      assert.are.equal("low", body.quality)
      assert.are.equal("1024x1024", body.size)
      assert.are.same({
        input_tokens = 11,
        input_tokens_details = { image_tokens = 0, text_tokens = 11 },
        output_tokens = 2 * 272,
        total_tokens = 11 + 2 * 272,
      }, body.usage)
      assert.is_nil(body.data[1].revised_prompt)
    end)

    it("uses the output token table for each quality and size", function()
      local expected = {
        { "medium", "1024x1536", 1584 }, { "high", "1536x1024", 6208 },
        { "auto", "auto", 1056 }, { "high", "1024x1024", 4160 },
      }
      for _, case in ipairs(expected) do
        local body = decode(generate({ prompt = "abcd", model = "gpt-image-1",
                                       quality = case[1], size = case[2] }).body)
        assert.are.equal(case[3], body.usage.output_tokens)
      end
    end)

    it("gives a transparent background a real alpha channel", function()
      local body = decode(generate({ prompt = "x", model = "gpt-image-1", background = "transparent",
                                     size = "1536x1024" }).body)
      assert.are.equal("transparent", body.background)
      assert.are.same({ 1536, 1024, 6 }, { png_info(base64_decode(body.data[1].b64_json)) })
    end)

    it("answers jpeg and webp output formats with such images", function()
      local jpeg = decode(generate({ prompt = "x", model = "gpt-image-1", output_format = "jpeg" }).body)
      assert.are.equal("jpeg", jpeg.output_format)
      assert.are.equal(JPEG_MAGIC, base64_decode(jpeg.data[1].b64_json):sub(1, 3))
      local webp = decode(generate({ prompt = "x", model = "gpt-image-1", output_format = "webp" }).body)
      local bytes = base64_decode(webp.data[1].b64_json)
      assert.are.equal("RIFF", bytes:sub(1, 4))
      assert.are.equal("WEBP", bytes:sub(9, 12))
    end)

    it("adds revised_prompt for dall-e-3", function()
      local body = decode(generate({ prompt = "a cat", model = "dall-e-3" }).body)
      assert.matches("a cat", body.data[1].revised_prompt, 1, true)
    end)

    it("serves url answers without authentication", function()
      local body = decode(generate({ prompt = "x", model = "dall-e-2", response_format = "url",
                                     size = "256x256" }).body)
      local url = body.data[1].url
      assert.matches("^http://127%.0%.0%.1:" .. srv.port .. "/files/.+%.png$", url)
      local download = curl(url, { key = false })
      assert.are.equal(200, download.status)
      assert.are.equal("image/png", download.headers["content-type"])
      assert.are.same({ 256, 256, 3 }, { png_info(download.body) })
      assert.are.equal(404, curl(root .. "/files/img-unknown.png", { key = false }).status)
    end)

    it("returns incompressible images of about image_bytes", function()
      srv:config{ image_bytes = 200000 }
      local answer = generate({ prompt = "x", model = "gpt-image-1", n = 2 })
      local body = decode(answer.body)
      local image = base64_decode(body.data[1].b64_json)
      assert.is_truthy(png_info(image))
      assert.is_true(math.abs(#image - 200000) < 2000, "size " .. #image)
      local packed = temporary_path()
      write_file(packed, image)
      local compressed = tonumber((run("gzip -c " .. quote(packed) .. " | wc -c")))
      assert.is_true(compressed > #image * 0.95)
    end)

    it("pretty-prints like the API unless told not to", function()
      assert.truthy(generate({ prompt = "x" }).body:find("\n  \"data\": [", 1, true))
      srv:config{ pretty = false }
      assert.are.equal("{\"created\":", generate({ prompt = "x" }).body:sub(1, 11))
    end)
  end)

  describe("validation like the API's", function()
    local function error_of(answer)
      return answer.status, decode(answer.body).error
    end

    it("rejects response_format and style for GPT image models", function()
      local status, err = error_of(generate({ prompt = "x", model = "gpt-image-1", response_format = "b64_json" }))
      assert.are.equal(400, status)
      assert.are.equal("unknown_parameter", err.code)
      assert.are.equal("response_format", err.param)
      status, err = error_of(generate({ prompt = "x", model = "gpt-image-1", style = "vivid" }))
      assert.are.equal("style", err.param)
    end)

    it("rejects wrong JSON types, a missing prompt and bad JSON", function()
      local status, err = error_of(generate('{"prompt":"x","n":"2"}'))
      assert.are.equal(400, status)
      assert.are.equal("invalid_type", err.code)
      status, err = error_of(generate({ model = "gpt-image-1" }))
      assert.are.equal("missing_required_parameter", err.code)
      status, err = error_of(generate('{"prompt": '))
      assert.are.equal(400, status)
      assert.matches("parse the JSON body", err.message)
    end)

    it("answers unknown paths like the API", function()
      local answer = curl(base .. "/images/nothing", { method = "POST" })
      assert.are.equal(404, answer.status)
      assert.matches("Invalid URL %(POST /v1/images/nothing%)", decode(answer.body).error.message)
    end)

    it("accepts anything when strict is off", function()
      srv:config{ strict = false }
      assert.are.equal(200, generate({ model = "gpt-image-1", response_format = "url", n = "3" }).status)
    end)
  end)

  describe("edits and variations (multipart)", function()
    it("records every part with its name, filename, type, size and sha256", function()
      local answer = curl(base .. "/images/edits", { form = {
        "image[]=@" .. PNG_FILE .. ";type=image/png;filename=a.png",
        "image[]=@" .. PNG_FILE .. ";type=image/png;filename=b.png",
        "mask=@" .. PNG_FILE .. ";type=image/png;filename=mask.png",
        "prompt=make it blue", "model=gpt-image-1", "n=2", "input_fidelity=high",
      } })
      assert.are.equal(200, answer.status)
      local body = decode(answer.body)
      assert.are.equal(2, #body.data)
      assert.are.equal(2 * 1290, body.usage.input_tokens_details.image_tokens)
      local record = srv:last_request()
      assert.is_nil(record.json)
      local size = #read_file(PNG_FILE)
      local digest = sha256(read_file(PNG_FILE))
      local names = {}
      for _, part in ipairs(record.parts) do
        names[#names + 1] = part.name
        if part.filename then
          assert.are.equal("image/png", part.content_type)
          assert.are.equal(size, part.size)
          assert.are.equal(digest, part.sha256)
          assert.is_nil(part.value)
        end
      end
      assert.are.same({ "image[]", "image[]", "mask", "prompt", "model", "n", "input_fidelity" }, names)
      assert.are.equal("a.png", record.parts[1].filename)
      assert.are.equal("make it blue", record.parts[4].value)
    end)

    it("rejects an image sent as application/octet-stream", function()
      local answer = curl(base .. "/images/edits", { form = {
        "image=@" .. PNG_FILE .. ";type=application/octet-stream", "prompt=x", "model=gpt-image-1" } })
      assert.are.equal(400, answer.status)
      local err = decode(answer.body).error
      assert.are.equal("image", err.param)
      assert.matches("unsupported mimetype", err.message)
    end)

    it("rejects a broken multipart body", function()
      local answer = curl(base .. "/images/edits", {
        headers = { "Content-Type: multipart/form-data; boundary=XYZ" },
        extra = "--data-binary " .. quote("--XYZ\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\nx") })
      assert.are.equal(400, answer.status)
      assert.is_string(srv:last_request().multipart_error)
    end)

    it("answers variations for dall-e-2 at the requested size", function()
      local answer = curl(base .. "/images/variations", { form = {
        "image=@" .. PNG_FILE .. ";type=image/png", "n=1", "size=512x512" } })
      assert.are.equal(200, answer.status)
      local body = decode(answer.body)
      assert.is_nil(body.usage)
      assert.are.same({ 512, 512, 3 }, { png_info(base64_decode(body.data[1].b64_json)) })
    end)

    it("reads chunked uploads and answers Expect: 100-continue", function()
      local answer = curl(base .. "/images/edits", {
        headers = { "Transfer-Encoding: chunked", "Expect: 100-continue" },
        form = { "image=@" .. PNG_FILE .. ";type=image/png", "prompt=x", "model=gpt-image-1" } })
      assert.are.equal(200, answer.status)
      assert.are.equal(3, #srv:last_request().parts)
    end)
  end)

  describe("Azure OpenAI routes", function()
    local path = "/openai/deployments/gpt-image-1/images/generations?api-version=2025-04-01-preview"

    it("authenticates with api-key and takes the model from the deployment", function()
      local answer = curl(root .. path, { key = false, headers = { "api-key: azure-key" },
                                          json = '{"prompt":"x"}' })
      assert.are.equal(200, answer.status)
      assert.is_table(decode(answer.body).usage)
      local record = srv:last_request()
      assert.are.equal("2025-04-01-preview", record.query["api-version"])
      assert.are.equal("azure-key", record.headers["api-key"])
    end)

    it("needs a key and an api-version", function()
      assert.are.equal(401, curl(root .. path, { key = false, json = '{"prompt":"x"}' }).status)
      local answer = curl(root .. "/openai/deployments/d/images/generations",
                          { key = false, headers = { "api-key: k" }, json = '{"prompt":"x"}' })
      assert.are.equal(404, answer.status)
    end)
  end)

  describe("streaming", function()
    it("frames partial images then the completed image as SSE", function()
      local answer = generate({ prompt = "x", model = "gpt-image-1", stream = true, partial_images = 2,
                                quality = "low" })
      assert.are.equal(200, answer.status)
      assert.matches("^text/event%-stream", answer.headers["content-type"])
      assert.are.equal(#answer.body, tonumber(answer.headers["content-length"]))
      assert.are.equal("\n\n", answer.body:sub(-2))
      local events = parse_sse(answer.body)
      assert.are.equal(3, #events)
      for index, event in ipairs(events) do
        local data = decode(event.data)
        assert.are.equal(event.event, data.type)
        assert.is_truthy(png_info(base64_decode(data.b64_json)))
        assert.are.equal("opaque", data.background)
        assert.are.equal("png", data.output_format)
        assert.are.equal("low", data.quality)
        assert.are.equal("1024x1024", data.size)
        assert.is_number(data.created_at)
        if index < 3 then
          assert.are.equal("image_generation.partial_image", data.type)
          assert.are.equal(index - 1, data.partial_image_index)
        else
          assert.are.equal("image_generation.completed", data.type)
          assert.are.equal(272 + 2 * 100, data.usage.output_tokens)
        end
      end
      local record = srv:last_request()
      assert.are.equal(2, #record.partial_images)
      assert.are.equal(1, #record.images)
    end)

    it("uses image_edit events for streamed edits", function()
      local answer = curl(base .. "/images/edits", { form = {
        "image=@" .. PNG_FILE .. ";type=image/png", "prompt=x", "model=gpt-image-1",
        "stream=true", "partial_images=1" } })
      local events = parse_sse(answer.body)
      assert.are.equal(2, #events)
      assert.are.equal("image_edit.partial_image", events[1].event)
      assert.are.equal("image_edit.completed", events[2].event)
    end)
  end)

  describe("connections", function()
    it("keeps connections alive and records which one each request used", function()
      local command = string.format(
        fake.unsanitized .. "curl -sS -o /dev/null -o /dev/null -H 'Authorization: Bearer k' -H 'Content-Type: application/json' "
          .. "--data-binary '{\"prompt\":\"x\"}' %s %s", quote(base .. "/images/generations"),
        quote(base .. "/images/generations"))
      local _, code = run(command)
      assert.are.equal(0, code)
      generate({ prompt = "x" })
      local records = srv:requests()
      assert.are.equal(3, #records)
      assert.are.equal(records[1].connection, records[2].connection)
      assert.are_not.equal(records[1].connection, records[3].connection)
      local stats = srv:stats()
      assert.are.equal(2, stats.connections)
      assert.are.equal(3, stats.requests)
    end)

    it("serves slow requests concurrently", function()
      srv:fault{ action = "delay", delay = 1.5, times = 4 }
      local one = string.format(fake.unsanitized .. "curl -sS -o /dev/null -H 'Authorization: Bearer k' "
        .. "--data-binary '{\"prompt\":\"x\"}' %s", quote(base .. "/images/generations"))
      local _, code = run("(" .. one .. " & " .. one .. " & " .. one .. " & " .. one .. " & wait)")
      assert.are.equal(0, code)
      local records = srv:requests()
      assert.are.equal(4, #records)
      local most = 0
      for _, record in ipairs(records) do
        assert.are.equal("delay", record.fault)
        most = math.max(most, record.concurrent)
      end
      assert.is_true(most >= 1, "requests never overlapped")
    end)

    it("gzips answers when configured and accepted", function()
      srv:config{ gzip = true }
      local answer = generate({ prompt = "x" }, { extra = "--compressed" })
      assert.are.equal("gzip", answer.headers["content-encoding"])
      assert.is_table(decode(answer.body).data)
      assert.is_nil(generate({ prompt = "x" }).headers["content-encoding"])
    end)

    it("can send chunked answers", function()
      srv:config{ chunked = true }
      local answer = generate({ prompt = "x" })
      assert.are.equal("chunked", answer.headers["transfer-encoding"])
      assert.is_nil(answer.headers["content-length"])
      assert.is_table(decode(answer.body).data)
    end)
  end)

  describe("faults", function()
    it("status: fails N times, then answers normally", function()
      srv:fault{ action = "status", status = 503, times = 2, headers = { ["retry-after"] = "0" } }
      local first, second, third = generate({ prompt = "x" }), generate({ prompt = "x" }), generate({ prompt = "x" })
      assert.are.same({ 503, 503, 200 }, { first.status, second.status, third.status })
      assert.are.equal("0", first.headers["retry-after"])
      assert.are.equal("server_error", decode(first.body).error.type)
      assert.matches("^req_", first.headers["x-request-id"])
    end)

    it("status: sends the given body and content type", function()
      srv:fault{ action = "status", status = 418, body = "teapot", content_type = "text/x-tea" }
      local answer = generate({ prompt = "x" })
      assert.are.equal(418, answer.status)
      assert.are.equal("teapot", answer.body)
      assert.are.equal("text/x-tea", answer.headers["content-type"])
    end)

    it("error: sends the API's error JSON", function()
      srv:fault{ action = "error", status = 400, message = "Your request was rejected.",
                 type = "image_generation_user_error", code = "moderation_blocked" }
      local answer = generate({ prompt = "x" })
      assert.are.equal(400, answer.status)
      assert.are.same({ message = "Your request was rejected.", type = "image_generation_user_error",
                        code = "moderation_blocked", param = cjson.null }, decode(answer.body).error)
      srv:fault{ action = "error", status = 429 }
      local limited = decode(generate({ prompt = "x" }).body).error
      assert.are.equal("rate_limit_exceeded", limited.code)
    end)

    it("html: sends a gateway error page", function()
      srv:fault{ action = "html" }
      local answer = generate({ prompt = "x" })
      assert.are.equal(502, answer.status)
      assert.matches("^text/html", answer.headers["content-type"])
      assert.matches("<html>", answer.body, 1, true)
    end)

    it("delay: waits before answering normally", function()
      srv:fault{ action = "delay", delay = 3 }
      local answer = generate({ prompt = "x" }, { max_time = 0.5 })
      assert.are.equal(28, answer.rc) -- curl: operation timed out
      assert.are.equal(200, generate({ prompt = "x" }).status)
    end)

    it("delay combines with any action", function()
      srv:fault{ action = "status", status = 500, delay = 3 }
      assert.are.equal(28, generate({ prompt = "x" }, { max_time = 0.5 }).rc)
    end)

    it("drip: sends the normal answer slowly", function()
      srv:fault{ action = "drip", chunk = 4000, interval = 0.01 }
      local answer = generate({ prompt = "x" })
      assert.are.equal(200, answer.status)
      assert.is_truthy(png_info(base64_decode(decode(answer.body).data[1].b64_json)))
      srv:fault{ action = "drip", chunk = 100, interval = 0.5 }
      local slow = generate({ prompt = "x" }, { max_time = 0.8 })
      assert.are.equal(28, slow.rc)
      assert.is_true(#slow.body > 0 and #slow.body < 1000)
    end)

    it("reset: sends part of the body, then a TCP reset", function()
      srv:fault{ action = "reset", after_bytes = 500 }
      local answer = generate({ prompt = "x" })
      assert.are.equal(56, answer.rc) -- curl: failure receiving, connection reset
      assert.matches("reset", answer.output)
      assert.are.equal(200, answer.status)
    end)

    it("truncate: promises the whole body, then closes early", function()
      srv:fault{ action = "truncate", after_bytes = 700 }
      local answer = generate({ prompt = "x" })
      assert.are.equal(18, answer.rc) -- curl: partial file
      assert.are.equal(700, #answer.body)
      assert.is_true(tonumber(answer.headers["content-length"]) > 700)
    end)

    it("drop: reads the request and closes without answering", function()
      srv:fault{ action = "drop" }
      local answer = generate({ prompt = "x" })
      assert.are.equal(52, answer.rc) -- curl: empty reply
      assert.are.equal(14, srv:last_request().body_size)
    end)

    it("drop_upload: closes before reading the body", function()
      srv:fault{ action = "drop_upload", path = "/images/edits" }
      local big = temporary_path()
      write_file(big, read_file(PNG_FILE) .. string.rep("\0", 4 * 1024 * 1024))
      local answer = curl(base .. "/images/edits", { form = {
        "image=@" .. big .. ";type=image/png", "prompt=x" } })
      assert.are_not.equal(0, answer.rc)
      local record = srv:last_request()
      assert.are.equal("drop_upload", record.fault)
      assert.is_nil(record.body_size)
    end)

    it("bad_base64: corrupts the first image in three ways", function()
      local function first_image()
        return decode(generate({ prompt = "x", n = 2 }).body).data
      end
      local clean = first_image()[1].b64_json
      assert.is_string(base64_decode(clean))
      srv:fault{ action = "bad_base64" }
      local data = first_image()
      assert.is_truthy(data[1].b64_json:find("*", 1, true))
      assert.are.equal(#clean, #data[1].b64_json)
      assert.is_string(base64_decode(data[2].b64_json))
      srv:fault{ action = "bad_base64", variant = "padding" }
      local padded = first_image()[1].b64_json
      assert.is_nil(base64_decode(padded))
      assert.is_truthy(padded:find("=[^=]"))
      srv:fault{ action = "bad_base64", variant = "length" }
      assert.are.equal(#clean - 1, #first_image()[1].b64_json)
    end)

    it("escape_slashes: writes every slash as \\/", function()
      srv:fault{ action = "escape_slashes" }
      local answer = generate({ prompt = "x", model = "dall-e-2", response_format = "url" })
      assert.is_truthy(answer.body:find("http:\\/\\/127.0.0.1", 1, true))
      assert.is_nil(answer.body:find("[^\\]/"))
      assert.matches("^http://", decode(answer.body).data[1].url)
    end)

    it("huge: pads a valid answer with an extra field", function()
      srv:fault{ action = "huge", bytes = 3000000 }
      local answer = generate({ prompt = "x" })
      assert.is_true(#answer.body > 3000000)
      local body = decode(answer.body)
      assert.are.equal(3000000, #body.padding)
      assert.is_truthy(png_info(base64_decode(body.data[1].b64_json)))
    end)

    it("sse_malformed: streams an event whose data is not JSON", function()
      srv:fault{ action = "sse_malformed" }
      local answer = generate({ prompt = "x", model = "gpt-image-1", stream = true })
      local events = parse_sse(answer.body)
      assert.is_nil(decode(events[1].data))
      assert.are.equal("image_generation.completed", decode(events[#events].data).type)
    end)

    it("sse_split: CRLF lines, comments and multi-line data in small pieces", function()
      srv:fault{ action = "sse_split", chunk = 97 }
      local answer = generate({ prompt = "x", model = "gpt-image-1", stream = true, partial_images = 1 })
      assert.is_truthy(answer.body:find("\r\n\r\n", 1, true))
      assert.is_truthy(answer.body:find("\r\n: ", 1, true) or answer.body:sub(1, 2) == ": ")
      local events = parse_sse(answer.body)
      assert.are.equal(2, #events)
      for _, event in ipairs(events) do
        assert.is_truthy(event.data:find("\n", 1, true))
        local data = decode(event.data)
        assert.are.equal(event.event, data.type)
        assert.is_truthy(png_info(base64_decode(data.b64_json)))
      end
    end)

    it("not_json: answers 200 with a text body", function()
      srv:fault{ action = "not_json" }
      local answer = generate({ prompt = "x" })
      assert.are.equal(200, answer.status)
      assert.is_nil(decode(answer.body))
    end)

    it("empty_data: answers with no images", function()
      srv:fault{ action = "empty_data" }
      local body = decode(generate({ prompt = "x" }).body)
      assert.is_number(body.created)
      assert.are.same({}, body.data)
    end)

    it("are consumed first in, first out, by matching paths only", function()
      srv:fault{ { action = "status", status = 500, path = "/v1/files" },
                 { action = "status", status = 502 }, { action = "status", status = 503 } }
      assert.are.equal(502, generate({ prompt = "x" }).status)
      assert.are.equal(503, generate({ prompt = "x" }).status)
      assert.are.equal(200, generate({ prompt = "x" }).status)
      assert.are.equal(1, #srv:faults())
      assert.are.equal(500, curl(base .. "/files").status)
    end)

    it("times = -1 applies to every matching request", function()
      srv:fault{ action = "status", status = 500, times = -1 }
      for _ = 1, 3 do
        assert.are.equal(500, generate({ prompt = "x" }).status)
      end
    end)
  end)

  describe("files and batches", function()
    local function upload(lines)
      local path = temporary_path()
      write_file(path, table.concat(lines, "\n") .. "\n")
      local answer = curl(base .. "/files", { form = { "purpose=batch", "file=@" .. path .. ";filename=in.jsonl" } })
      assert.are.equal(200, answer.status)
      return decode(answer.body)
    end

    local function line(custom_id, prompt)
      return cjson.encode({ custom_id = custom_id, method = "POST", url = "/v1/images/generations",
                            body = { model = "gpt-image-1", prompt = prompt, quality = "low" } })
    end

    local function jsonl(text)
      local values = {}
      for entry in text:gmatch("[^\n]+") do
        values[#values + 1] = decode(entry)
      end
      return values
    end

    it("stores uploaded files and serves their content", function()
      local file = upload({ line("a", "one") })
      assert.matches("^file%-", file.id)
      assert.are.equal("file", file.object)
      assert.are.equal("batch", file.purpose)
      assert.are.equal("in.jsonl", file.filename)
      assert.are.equal(#line("a", "one") + 1, file.bytes)
      assert.are.equal(file.id, decode(curl(base .. "/files/" .. file.id).body).id)
      assert.are.equal(line("a", "one") .. "\n", curl(base .. "/files/" .. file.id .. "/content").body)
      assert.are.equal(404, curl(base .. "/files/file-nope").status)
    end)

    it("runs a batch: validating, in_progress, completed, with output and error files", function()
      local file = upload({ line("a", "one"), line("b", "please FAIL"), "not json", line("c", "three") })
      local created = curl(base .. "/batches", { json = cjson.encode({
        input_file_id = file.id, endpoint = "/v1/images/generations", completion_window = "24h",
        metadata = { job = "sprites" } }) })
      assert.are.equal(200, created.status)
      local batch = decode(created.body)
      assert.matches("^batch_", batch.id)
      assert.are.equal("batch", batch.object)
      assert.are.equal("validating", batch.status)
      assert.are.equal("sprites", batch.metadata.job)
      assert.are.equal(cjson.null, batch.output_file_id)

      local polled = decode(curl(base .. "/batches/" .. batch.id).body)
      assert.are.equal("in_progress", polled.status)
      assert.are.equal(4, polled.request_counts.total)
      polled = decode(curl(base .. "/batches/" .. batch.id).body)
      assert.are.equal("completed", polled.status)
      assert.are.same({ total = 4, completed = 2, failed = 2 }, polled.request_counts)

      local outputs = jsonl(curl(base .. "/files/" .. polled.output_file_id .. "/content").body)
      assert.are.equal(2, #outputs)
      assert.are.equal("a", outputs[1].custom_id)
      assert.matches("^batch_req_", outputs[1].id)
      assert.are.equal(200, outputs[1].response.status_code)
      assert.matches("^req_", outputs[1].response.request_id)
      assert.are.equal(cjson.null, outputs[1].error)
      assert.is_truthy(png_info(base64_decode(outputs[1].response.body.data[1].b64_json)))
      assert.are.equal(272, outputs[2].response.body.usage.output_tokens)

      local errors = jsonl(curl(base .. "/files/" .. polled.error_file_id .. "/content").body)
      assert.are.equal(2, #errors)
      assert.are.equal("b", errors[1].custom_id)
      assert.are.equal(400, errors[1].response.status_code)
      assert.are.equal("moderation_blocked", errors[1].response.body.error.code)
      assert.are.equal(cjson.null, errors[2].response)
      assert.is_string(errors[2].error.message)
    end)

    it("completes after batch_polls GETs and can cancel", function()
      srv:config{ batch_polls = 1 }
      local file = upload({ line("a", "one") })
      local body = cjson.encode({ input_file_id = file.id, endpoint = "/v1/images/generations",
                                  completion_window = "24h" })
      local batch = decode(curl(base .. "/batches", { json = body }).body)
      assert.are.equal("completed", decode(curl(base .. "/batches/" .. batch.id).body).status)

      srv:config{ batch_polls = 5 }
      batch = decode(curl(base .. "/batches", { json = body }).body)
      local cancelling = decode(curl(base .. "/batches/" .. batch.id .. "/cancel", { method = "POST" }).body)
      assert.are.equal("cancelling", cancelling.status)
      assert.are.equal("cancelled", decode(curl(base .. "/batches/" .. batch.id).body).status)
    end)

    it("rejects a batch for a missing file", function()
      local answer = curl(base .. "/batches", { json = cjson.encode({ input_file_id = "file-none",
        endpoint = "/v1/images/generations", completion_window = "24h" }) })
      assert.are.equal(400, answer.status)
      assert.are.equal("input_file_id", decode(answer.body).error.param)
    end)
  end)

  describe("process lifetime", function()
    it("exits when the watched process is gone", function()
      local pipe = assert(io.popen("sleep 60 >/dev/null 2>&1 & echo $!"))
      local sleeper = tonumber(pipe:read("*l"))
      pipe:close()
      local port_file = temporary_path()
      os.execute(string.format("%s %s --port 0 --port-file %s --watch-pid %d >/dev/null 2>&1 &",
        quote(fake.python()), quote(fake.script_path()), quote(port_file), sleeper))
      local content
      for _ = 1, 1200 do -- up to a minute on a loaded machine; ends when ready
        content = read_file(port_file)
        if content and content:find("\n") then
          break
        end
        sleep(0.05)
      end
      local port, pid = content:match("^(%d+) (%d+)\n$")
      assert.is_truthy(port)
      pid = tonumber(pid)
      assert.is_false(fake.process_gone(pid))
      os.execute("kill " .. sleeper)
      for _ = 1, 1200 do
        if fake.process_gone(pid) then
          break
        end
        sleep(0.05)
      end
      assert.is_true(fake.process_gone(pid))
    end)

    it("stop() ends the server", function()
      local other = fake.start{ batch_polls = 3 }
      assert.are.equal(3, other:config().batch_polls)
      other:stop()
      assert.is_true(fake.process_gone(other.pid))
      other:stop()
      assert.has_error(function() other:stats() end)
    end)
  end)
end)
