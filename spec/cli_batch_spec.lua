-- The Batch API flow of the command, run as a process against the fake
-- server: run --batch uploads and submits the lines (an edit runs
-- directly), entries waiting in a batch are not sent again, batch status,
-- batch collect (with --wait, into another folder) writes images and records
-- and names the failed line, and an unknown batch is exit 1.
local gptimage = require "gptimage"
local cjson = require "cjson"
local fake = require "helpers.server"
local util = require "helpers.util"
local cli = require "helpers.cli"

describe("gptimage command", function()
  local srv
  local c = cli.each({ OPENAI_API_KEY = "sk-test-cli", GPTIMAGE_PROGRESS = "plain" },
    function(f) srv = f.srv end)
  local run, run_json, path, write_json, sidecar =
    c.run, c.run_json, c.path, c.write_json, c.sidecar

  describe("the Batch API", function()
    it("submits, reports status, collects images and records, and names the failed line", function()
      assert.equals(0, run({ "generate", "base", "--quality", "low", "-o", "base.png" }).code)
      srv:reset()
      srv:config{ batch_polls = 3 }
      write_json("m.json", { defaults = { quality = "low" }, output_dir = "out", entries = {
        { prompt = "a sword", output = "sword.png" },
        { prompt = "a FAIL shield", output = "shield.png" },
        { prompt = "coins", n = 2, output = "coin.png" },
        { prompt = "the base, blue", inputs = { "base.png" }, output = "base-blue.png" },
      } })
      local r = run({ "run", "--batch", "m.json" })
      assert.equals(0, r.code, r.stderr)
      local id = r.stdout:match("^(batch_[%w_]+)\n$")
      assert.truthy(id, r.stdout)
      assert.matches("1 entry run directly", r.stderr, 1, true)
      local paths = {}
      for _, request in ipairs(srv:requests()) do
        paths[#paths + 1] = request.method .. " " .. request.path
      end
      assert.same({ "POST /v1/files", "POST /v1/batches", "POST /v1/images/edits" }, paths)
      local upload = srv:requests()[1]
      assert.equals("batch", fake.part(upload, "purpose").value)
      assert.equals("batch.jsonl", fake.part(upload, "file").filename)
      local created = srv:requests()[2].json
      assert.equals("/v1/images/generations", created.endpoint)
      assert.equals("24h", created.completion_window)
      assert.matches("^file%-", created.input_file_id)

      -- the uploaded requests
      local client = gptimage.new{ api_key = "sk-test-cli", base_url = srv.base_url, max_retries = 0 }
      local content = assert(client:request{ path = "files/" .. created.input_file_id .. "/content" }).body
      local lines = {}
      for line in content:gmatch("[^\n]+") do
        lines[#lines + 1] = cjson.decode(line)
      end
      assert.equals(3, #lines)
      assert.same({ custom_id = "sword.png", method = "POST", url = "/v1/images/generations",
                    body = { prompt = "a sword", model = "gpt-image-2.6-flare", quality = "low" } }, lines[1])
      assert.equals(2, lines[3].body.n)
      client:close()
      assert.is_true(util.exists(path("m.json.batches.json")))

      -- entries waiting in the batch are not sent again
      local count = #srv:requests()
      r = run({ "run", "m.json" })
      assert.equals(0, r.code, r.stderr)
      assert.matches("3 waiting in a batch", r.stderr, 1, true)
      assert.equals(count, #srv:requests())

      r = run({ "batch", "status", id })
      assert.equals(0, r.code, r.stderr)
      assert.matches(id .. ": in_progress", r.stdout, 1, true)
      assert.matches("3 total", r.stdout, 1, true)

      r = run_json({ "batch", "collect", id })
      assert.equals(4, r.code, r.stderr)
      assert.matches("--wait", r.stderr, 1, true)
      assert.is_false(util.exists(path("out/sword.png")))

      r = run_json({ "batch", "collect", id, "--wait", "--interval", "0.05" })
      assert.equals(1, r.code, r.stderr)
      assert.equals("completed", r.json.batch.status)
      assert.equals(2, r.json.summary.written)
      assert.equals(1, r.json.summary.failed)
      local failed = r.json.results[2]
      assert.equals("shield.png", failed.custom_id)
      assert.equals("moderation_blocked", failed.error.code)
      assert.matches("failed: shield.png: api error 400 (moderation_blocked)", r.stderr, 1, true)
      for _, name in ipairs({ "out/sword.png", "out/coin-1.png", "out/coin-2.png" }) do
        assert.is_true(util.is_png(util.read(path(name))), name)
      end
      local record = sidecar("out/coin.png")
      assert.same({ "coin-1.png", "coin-2.png" }, record.files)
      assert.equals(id, record.batch_id)
      assert.equals("batch", record.price)
      assert.is_number(record.cost)
      assert.is_false(util.exists(path("out/shield.png")))

      -- the next run builds only the failed line, directly
      count = #srv:requests()
      r = run_json({ "run", "m.json" })
      assert.equals(0, r.code, r.stderr)
      assert.equals(1, r.json.summary.built)
      assert.equals(3, r.json.summary.skipped)
      assert.equals(count + 1, #srv:requests())
      assert.equals("a FAIL shield", srv:last_request().json.prompt)

      -- collect into another folder, by custom_id
      r = run({ "batch", "collect", id, "-o", "again", "--manifest", "m.json" })
      assert.equals(1, r.code, r.stderr)
      assert.is_true(util.is_png(util.read(path("again/sword.png"))))
      assert.is_true(util.is_png(util.read(path("again/coin-2.png"))))
    end)

    it("reports an unknown batch with exit 1", function()
      local r = run({ "batch", "status", "batch_nope" })
      assert.equals(1, r.code)
      assert.matches("404", r.stderr, 1, true)
      r = run({ "batch", "collect", "batch_nope" })
      assert.equals(1, r.code)
      r = run({ "batch", "status", "../etc" })
      assert.equals(2, r.code)
    end)
  end)
end)
