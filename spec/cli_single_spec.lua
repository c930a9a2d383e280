-- The single-request commands, generate, edit and variation, run as a
-- process against the fake server: every flag sent, the images and their
-- record saved (beside the file, also under an -o template), the saved path
-- printed or the image on stdout, a failed request's exit 1 with a hint and
-- the attempts made, and --budget and --dry-run before anything is sent.
local gptimage = require "gptimage"
local util = require "helpers.util"
local cli = require "helpers.cli"

describe("gptimage command", function()
  local srv
  local c = cli.each({ OPENAI_API_KEY = "sk-test-cli", GPTIMAGE_PROGRESS = "plain" },
    function(f) srv = f.srv end)
  local run, run_json, path, sidecar =
    c.run, c.run_json, c.path, c.sidecar

  describe("generate, edit, variation", function()
    it("generate sends every flag, saves the images and their record", function()
      local r = run_json({ "generate", "a pixel-art sword", "-n", "2", "--quality", "low", "--size", "1536x1024",
                           "--background", "opaque", "--output-format", "png", "--moderation", "low",
                           "--user", "u-7", "--extra", '{"seed": 7}', "-o", "out/sword.png" })
      assert.equals(0, r.code, r.stderr)
      local request = srv:last_request()
      assert.equals("/v1/images/generations", request.path)
      assert.equals("Bearer sk-test-cli", request.headers.authorization)
      assert.same({ prompt = "a pixel-art sword", model = "gpt-image-2.6-flare", n = 2, quality = "low",
                    size = "1536x1024", background = "opaque", output_format = "png",
                    moderation = "low", user = "u-7", seed = 7 }, request.json)
      assert.same({ "out/sword-1.png", "out/sword-2.png" }, r.json.files)
      assert.is_true(util.is_png(util.read(path("out/sword-1.png"))))
      assert.is_true(util.is_png(util.read(path("out/sword-2.png"))))
      assert.equals(request.request_id, r.json.request_id)
      local record = sidecar("out/sword.png")
      assert.equals(request.request_id, record.request_id)
      assert.same({ "sword-1.png", "sword-2.png" }, record.files)
      assert.equals("gpt-image-2.6-flare", record.model)
      assert.matches("^fnv1a64:%x+$", record.request_hash)
      assert.near(r.json.cost, record.cost, 1e-12)
      assert.equals(r.json.usage.output_tokens, record.usage.output_tokens)
      assert.is_number(record.created)
    end)

    it("writes the record beside the file saved, not under an -o template", function()
      local r = run_json({ "generate", "a coin", "--quality", "low", "--output-format", "jpeg",
                           "-o", "shots/{i}.{ext}" })
      assert.equals(0, r.code, r.stderr)
      assert.same({ "shots/1.jpg" }, r.json.files)
      local record = sidecar("shots/1.jpg")
      assert.same({ "1.jpg" }, record.files)
      assert.equals(srv:last_request().request_id, record.request_id)
      assert.same({ "1.jpg", "1.jpg.json" }, util.listdir(path("shots")))
      -- n > 1: one record, beside image 1, listing every image
      r = run_json({ "generate", "a card", "-n", "2", "--quality", "low", "-o", "cards/card-{i}.{ext}" })
      assert.equals(0, r.code, r.stderr)
      assert.same({ "cards/card-1.png", "cards/card-2.png" }, r.json.files)
      assert.same({ "card-1.png", "card-2.png" }, sidecar("cards/card-1.png").files)
      assert.same({ "card-1.png", "card-1.png.json", "card-2.png" }, util.listdir(path("cards")))
    end)

    it("prints the saved path, and -o - writes the image to stdout", function()
      local r = run({ "generate", "-p", "a shield", "--quality", "low" })
      assert.equals(0, r.code, r.stderr)
      assert.equals("a-shield.png\n", r.stdout)
      assert.is_true(util.is_png(util.read(path("a-shield.png"))))
      r = run({ "generate", "a shield", "--quality", "low" })
      assert.equals("a-shield-2.png\n", r.stdout)
      r = run({ "generate", "a shield", "--quality", "low", "-o", "-" })
      assert.equals(0, r.code, r.stderr)
      assert.is_true(util.is_png(r.stdout))
    end)

    it("edit sends every input image and the mask; variation its image", function()
      assert.equals(0, run({ "generate", "a", "--background", "transparent", "--quality", "low", "-o", "a.png" }).code)
      assert.equals(0, run({ "generate", "b", "--quality", "low", "-o", "b.png" }).code)
      local r = run_json({ "edit", "-i", "a.png", "-i", "b.png", "--mask", "a.png", "--input-fidelity", "high",
                           "put them together", "-o", "ab.png" })
      assert.equals(0, r.code, r.stderr)
      local request = srv:last_request()
      assert.equals("/v1/images/edits", request.path)
      local names = {}
      for _, part in ipairs(request.parts) do
        names[#names + 1] = part.name
      end
      assert.same({ "image[]", "image[]", "input_fidelity", "mask", "model", "prompt" }, (function()
        table.sort(names)
        return names
      end)())
      assert.is_true(util.is_png(util.read(path("ab.png"))))

      r = run({ "variation", "-i", "b.png", "-o", "v.png", "--size", "256x256" })
      assert.equals(0, r.code, r.stderr)
      request = srv:last_request()
      assert.equals("/v1/images/edits", request.path)
      local fields = {}
      for _, part in ipairs(request.parts) do fields[part.name] = part.value end
      assert.equals(gptimage.variation_prompt, fields.prompt)
      assert.equals("256x256", fields.size)
      assert.is_true(util.is_png(util.read(path("v.png"))))
      r = run({ "variation", "-i", "b.png", "-o", "v2.png", "the same, at night" })
      assert.equals(0, r.code, r.stderr)
      assert.equals("the same, at night", srv:last_request().parts[#srv:last_request().parts].value
        and (function() for _, p in ipairs(srv:last_request().parts) do
          if p.name == "prompt" then return p.value end end end)())
      r = run({ "variation", "-i", "b.png", "--model", "dall-e-2", "-o", "v3.png", "--size", "256x256" })
      assert.equals(0, r.code, r.stderr)
      assert.equals("/v1/images/variations", srv:last_request().path)
    end)

    it("reports a failed request with exit 1 and a hint", function()
      srv:fault{ action = "error", status = 401, message = "Incorrect API key provided", code = "invalid_api_key" }
      local r = run({ "generate", "a sword", "--max-retries", "0" })
      assert.equals(1, r.code)
      assert.matches("401", r.stderr, 1, true)
      assert.matches("check OPENAI_API_KEY", r.stderr, 1, true)
      assert.is_nil(r.stderr:find("sk-test-cli", 1, true))
    end)

    it("refuses a request over --budget and a dry run sends nothing", function()
      local r = run({ "generate", "a castle", "--quality", "high", "--budget", "0.01", "--model", "gpt-image-1" })
      assert.equals(3, r.code)
      assert.matches("over the budget", r.stderr, 1, true)
      r = run_json({ "generate", "a castle", "--quality", "high", "--dry-run", "--model", "gpt-image-1" })
      assert.equals(0, r.code)
      local expected = gptimage.estimate{ model = "gpt-image-1", quality = "high", prompt = "a castle" }
      assert.near(expected, r.json.estimate, 1e-12)
      assert.equals(0, #srv:requests())
    end)
  end)

  it("says how many attempts were made when the retries ran out", function()
    srv:fault{ action = "status", status = 500, times = 2 }
    local r = run({ "generate", "--max-retries", "1", "-m", "gpt-image-1", "--quality", "low", "-o",
                    path("retried.png"), "a retried one" })
    assert.equals(1, r.code, r.stderr)
    assert.matches("api error 500", r.stderr, 1, true)
    assert.matches("(after 2 attempts)", r.stderr, 1, true)
  end)
end)
