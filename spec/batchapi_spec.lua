-- The Batch API from Lua: client:batch_submit / batch_status / batch_collect
-- against the fake server's /files and /batches endpoints.
local gptimage = require "gptimage"
local cjson = require "cjson"
local util = require "helpers.util"
local fixture = require "helpers.fixture"
local batchapi = require "gptimage.batchapi"

describe("the Batch API from Lua", function()
  local srv, client, dir

  local function uploaded_lines(file_id)
    local res = assert(client:request{ path = "files/" .. file_id .. "/content" })
    local lines = {}
    for line in res.body:gmatch("[^\n]+") do
      lines[#lines + 1] = cjson.decode(line)
    end
    return lines
  end

  local function read_json(path)
    local text = util.read(path)
    assert(text, "missing " .. path)
    return cjson.decode(text)
  end

  fixture.each({ server = {}, config = { batch_polls = 2 }, client = { api_key = "sk-batch-test", max_retries = 0 },
                 dir = true },
    function(f) srv, client, dir = f.srv, f.client, f.dir end)

  it("submit uploads one JSONL line per entry and creates a batch", function()
    local batch, record = client:batch_submit({
      { prompt = "a sword", quality = "low", save = dir .. "/a.png", request_hash = "h-a" },
      { prompt = "two shields", n = 2, size = "1536x1024", quality = "low", save = dir .. "/b.png", custom_id = "bee" },
      { prompt = "a lighthouse", model = "dall-e-3", save = dir .. "/c.png", extra = { seed = 3 } },
    }, { state = dir .. "/state.json", metadata = { project = "sprites" } })
    assert.matches("^batch_", batch.id)
    assert.equals("validating", batch.status)
    assert.equals(batch.id, record.id)

    local requests = srv:requests()
    assert.equals(2, #requests)
    local upload, create = requests[1], requests[2]
    assert.equals("POST", upload.method)
    assert.equals("/v1/files", upload.path)
    local parts = {}
    for _, part in ipairs(upload.parts) do
      parts[part.name] = part
    end
    assert.equals("batch", parts.purpose.value)
    assert.equals("batch.jsonl", parts.file.filename)
    assert.equals("application/jsonl", parts.file.content_type)
    assert.equals("/v1/batches", create.path)
    assert.same({ endpoint = "/v1/images/generations", completion_window = "24h",
                  input_file_id = record.input_file_id, metadata = { project = "sprites" } }, create.json)

    local lines = uploaded_lines(record.input_file_id)
    assert.equals(3, #lines)
    assert.same({ custom_id = "1", method = "POST", url = "/v1/images/generations",
                  body = { prompt = "a sword", quality = "low", model = "gpt-image-2.6-flare" } }, lines[1])
    assert.equals("bee", lines[2].custom_id)
    assert.equals(2, lines[2].body.n)
    assert.same({ prompt = "a lighthouse", model = "dall-e-3", response_format = "b64_json", seed = 3 }, lines[3].body)

    local state = read_json(dir .. "/state.json")
    local saved = state.batches[batch.id]
    assert.equals(record.input_file_id, saved.input_file_id)
    assert.equals(dir .. "/a.png", saved.entries[1].output)
    assert.equals("h-a", saved.entries[1].request_hash)
    assert.equals("bee", saved.entries[2].custom_id)
  end)

  it("raises on caller bugs before any request", function()
    local cases = {
      { { { op = "edit", prompt = "x", image = "a.png" } }, "cannot go through the Batch API" },
      { { { prompt = "x", image = "a.png" } }, "input images cannot go through the Batch API" },
      { { { prompt = "x", stream = true, partial_images = 1 } }, "streaming" },
      { { { prompt = "x", quality = "ultra" } }, "quality" },
      { { { prompt = "x", qualty = "low" } }, "did you mean 'quality'" },
      { { { prompt = "x", model = "dall-e-2", response_format = "url" } }, "response_format 'url'" },
      { { { prompt = "x", custom_id = "same" }, { prompt = "y", custom_id = "same" } }, "custom_id 'same'" },
      { {}, "non-empty list" },
    }
    for _, case in ipairs(cases) do
      local ok, message = pcall(client.batch_submit, client, case[1])
      assert.is_false(ok)
      assert.is_string(message)
      assert.matches(case[2], message, 1, true)
    end
    local ok, message = pcall(client.batch_submit, client, { { prompt = "x" } }, { stat = "s.json" })
    assert.is_false(ok)
    assert.matches("unknown option 'stat'", message, 1, true)
    ok, message = pcall(client.batch_status, client, "../files")
    assert.is_false(ok)
    assert.matches("batch id", message, 1, true)
    ok, message = pcall(client.batch_collect, client, "batch_x", { wait = "yes" })
    assert.is_false(ok)
    assert.matches("'wait' must be true", message, 1, true)
    assert.equals(0, #srv:requests())
  end)

  it("status follows the batch until it is completed", function()
    local batch = assert(client:batch_submit({ { prompt = "a", quality = "low" }, { prompt = "b", quality = "low" } }))
    local status = assert(client:batch_status(batch.id))
    assert.equals("in_progress", status.status)
    assert.equals(2, status.request_counts.total)
    status = assert(client:batch_status(batch.id))
    assert.equals("completed", status.status)
    assert.equals(2, status.request_counts.completed)
    assert.matches("^file%-", status.output_file_id)

    local missing, err = client:batch_status("batch_missing")
    assert.is_nil(missing)
    assert.equals("api", err.kind)
    assert.equals(404, err.status)
    srv:fault{ action = "status", status = 503, path = "/batches" }
    missing, err = client:batch_status(batch.id)
    assert.is_nil(missing)
    assert.equals(503, err.status)
  end)

  it("collect waits, writes every image with its record and reports each failed line", function()
    srv:config{ batch_polls = 3 }
    local state = dir .. "/state.json"
    local batch = assert(client:batch_submit({
      { prompt = "a sword", quality = "low", save = dir .. "/out/sword.png", request_hash = "hash-sword" },
      { prompt = "a FAIL shield", quality = "low", save = dir .. "/out/shield.png" },
      { prompt = "coins", quality = "low", n = 2, save = dir .. "/out/coin.png", custom_id = "coins" },
      { prompt = "a lighthouse", model = "dall-e-3", save = dir .. "/out/light.png" },
    }, { state = state }))

    local results, err = client:batch_collect(batch.id, { state = state })
    assert.is_nil(results)
    assert.equals("timeout", err.kind)
    assert.is_true(err.pending)
    assert.equals("in_progress", err.batch_status)
    assert.matches(batch.id, tostring(err), 1, true)
    assert.is_false(util.exists(dir .. "/out/sword.png"))

    local statuses = {}
    local seen = {}
    local done
    results, done = client:batch_collect(batch.id, { state = state, wait = true, interval = 0.01,
      on_status = function(b) statuses[#statuses + 1] = b.status end,
      on_result = function(result) seen[#seen + 1] = result.custom_id end })
    assert.is_table(results, tostring(done))
    assert.equals("completed", done.status)
    assert.same({ "in_progress", "completed" }, statuses)
    assert.equals(4, #seen)
    assert.equals(4, #results)
    assert.same({ "1", "2", "coins", "4" }, { results[1].custom_id, results[2].custom_id, results[3].custom_id,
                                              results[4].custom_id })

    local sword = results[1]
    assert.equals(dir .. "/out/sword.png", sword.output)
    assert.is_true(util.is_png(util.read(dir .. "/out/sword.png")))
    local record = read_json(dir .. "/out/sword.png.json")
    assert.equals("hash-sword", record.request_hash)
    assert.equals(batch.id, record.batch_id)
    assert.equals("gpt-image-2.6-flare", record.model)
    assert.equals("a sword", record.prompt)
    assert.equals(sword.res.request_id, record.request_id)
    -- half of the synchronous price of the same usage
    local usage = sword.res.usage
    local direct = (usage.input_tokens_details.text_tokens * 5 + usage.output_tokens * 30) / 1e6
    assert.near(direct / 2, record.cost, 1e-12)

    local shield = results[2]
    assert.is_nil(shield.res)
    assert.equals("api", shield.err.kind)
    assert.equals(400, shield.err.status)
    assert.equals("moderation_blocked", shield.err.code)
    assert.matches("moderation_blocked", tostring(shield.err), 1, true)
    assert.is_false(util.exists(dir .. "/out/shield.png"))
    assert.is_false(util.exists(dir .. "/out/shield.png.json"))

    local coins = results[3].res
    assert.same({ dir .. "/out/coin-1.png", dir .. "/out/coin-2.png" }, { coins.images[1].path, coins.images[2].path })
    assert.same({ "coin-1.png", "coin-2.png" }, read_json(dir .. "/out/coin.png.json").files)

    local light = results[4].res
    assert.is_true(util.is_png(util.read(light.images[1].path)))
    assert.is_string(light.images[1].revised_prompt)
    assert.equals(light.images[1].revised_prompt, read_json(dir .. "/out/light.png.json").revised_prompt)

    assert.is_number(read_json(state).batches[batch.id].collected_at)
    -- nothing half-written is left in the folder
    for _, name in ipairs(util.listdir(dir .. "/out")) do
      assert.is_nil(name:find("tmp", 1, true), name)
    end
  end)

  it("collect numbers the images of one line as a direct call does, hidden names included", function()
    local direct = assert(client:generate{ prompt = "d", quality = "low", n = 3, save = dir .. "/direct/.hidden" })
    local batch = assert(client:batch_submit({
      { prompt = "b", quality = "low", n = 3, save = dir .. "/batch/.hidden", custom_id = "hidden" },
    }))
    local results = assert(client:batch_collect(batch.id, { outputs = { hidden = dir .. "/batch/.hidden" },
                                                          wait = true, interval = 0.01 }))
    local paths = {}
    for i, image in ipairs(results[1].res.images) do
      paths[i] = image.path
      assert.equals(direct.images[i].path:gsub("/direct/", "/batch/"), image.path)
      assert.is_true(util.is_png(util.read(image.path)))
    end
    assert.same({ dir .. "/batch/.hidden-1", dir .. "/batch/.hidden-2", dir .. "/batch/.hidden-3" }, paths)
  end)

  it("collect without a state names files by custom_id, inside dir", function()
    local batch = assert(client:batch_submit({
      { prompt = "a", quality = "low", custom_id = "../../escape" },
      { prompt = "b", quality = "low", custom_id = "sub/dir/name.png" },
      { prompt = "c", quality = "low", custom_id = "chosen" },
    }))
    assert(client:batch_status(batch.id))
    local results = assert(client:batch_collect(batch.id, { dir = dir .. "/out",
      outputs = { chosen = dir .. "/picked.png" } }))
    assert.equals(3, #results)
    assert.equals(dir .. "/out/_/_/escape.png", results[1].output)
    assert.is_true(util.is_png(util.read(dir .. "/out/_/_/escape.png")))
    assert.is_true(util.is_png(util.read(dir .. "/out/sub/dir/name.png")))
    assert.is_true(util.is_png(util.read(dir .. "/picked.png")))
    assert.same({ "out", "picked.png", "picked.png.json" }, util.listdir(dir))
  end)

  it("collects nothing from a cancelled batch and reports unknown ones", function()
    local batch = assert(client:batch_submit({ { prompt = "a", quality = "low" } }))
    local cancelling = assert(batchapi.cancel(client, batch.id))
    assert.equals("cancelling", cancelling.status)
    local results, done = client:batch_collect(batch.id, { dir = dir })
    assert.same({}, results)
    assert.equals("cancelled", done.status)

    local missing, err = client:batch_collect("batch_unknown", { dir = dir })
    assert.is_nil(missing)
    assert.equals("api", err.kind)
    assert.equals(404, err.status)
  end)
end)
