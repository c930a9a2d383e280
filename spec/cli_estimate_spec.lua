-- The estimate command, run as a process against the fake server: a
-- request's estimate as text and JSON with what it assumed, a missing
-- manifest file taken for a mistake, and a model without a token table,
-- whose estimate is unknown (so --budget needs --assume-cost) until its
-- records teach it.
local gptimage = require "gptimage"
local cjson = require "cjson"
local util = require "helpers.util"
local cli = require "helpers.cli"

describe("gptimage command", function()
  local srv
  local c = cli.each({ OPENAI_API_KEY = "sk-test-cli", GPTIMAGE_PROGRESS = "plain" },
    function(f) srv = f.srv end)
  local run, run_json, path, write_json =
    c.run, c.run_json, c.path, c.write_json

  describe("estimates of models without a token table", function()
    it("are unknown until records exist; --budget needs --assume-cost; records teach the estimate", function()
      local r = run({ "estimate", "--quality", "low", "a castle" }, { OPENAI_API_KEY = false })
      assert.equals(0, r.code, r.stderr)
      assert.matches("unknown: no published output-token table for gpt-image-2.6-flare", r.stdout, 1, true)
      r = run({ "generate", "a castle", "--quality", "low", "--budget", "5" })
      assert.equals(3, r.code)
      assert.matches("no estimate is known for gpt-image-2.6-flare", r.stderr, 1, true)
      assert.equals(0, #srv:requests())
      r = run({ "generate", "a castle", "--quality", "low", "--budget", "0.01", "--assume-cost", "0.02" })
      assert.equals(3, r.code)
      assert.matches("over the budget", r.stderr, 1, true)
      r = run({ "generate", "a castle", "--quality", "low", "--size", "1024x1024", "--budget", "0.05",
                "--assume-cost", "0.02", "-o", "castle.png" })
      assert.equals(0, r.code, r.stderr)
      assert.equals(1, #srv:requests())
      -- the record of that image now gives the estimate: its output tokens at $30 per million
      local record = cjson.decode(util.read(path("castle.png.json")))
      r = run_json({ "estimate", "--quality", "low", "--size", "1024x1024", "-n", "2", "x" })
      assert.equals(0, r.code, r.stderr)
      assert.near(2 * record.usage.output_tokens * 30 / 1e6 + 5 / 1e6, r.json.estimate, 1e-12)
      assert.equals("observed", r.json.details.source)
      write_json("m.json", { entries = { { prompt = "a", output = "fresh/a.png" } } })
      r = run({ "run", "m.json", "--budget", "1" }, {})
      assert.equals(3, r.code)
      assert.matches("1 entry has no known estimate", r.stderr, 1, true)
    end)
  end)

  describe("estimate", function()
    it("prints the estimate of a request, as text and JSON", function()
      local expected = gptimage.estimate{ model = "gpt-image-1", quality = "high", size = "1536x1024", n = 4,
                                          prompt = "a castle" }
      local r = run({ "estimate", "--quality", "high", "--size", "1536x1024", "-n", "4", "a castle",
                      "--model", "gpt-image-1" }, { OPENAI_API_KEY = false })
      assert.equals(0, r.code, r.stderr)
      assert.matches(string.format("$%.4f", expected), r.stdout, 1, true)
      assert.matches("24832 output tokens", r.stdout, 1, true)
      r = run_json({ "estimate", "--quality", "high", "--size", "1536x1024", "-n", "4", "-p", "a castle",
                     "-m", "gpt-image-1" })
      assert.near(expected, r.json.estimate, 1e-12)
      assert.equals(24832, r.json.details.output_tokens)
      assert.equals(0, #srv:requests())
    end)

    it("says which model, quality and size it assumed", function()
      local r = run({ "estimate", "a castle", "-m", "gpt-image-1" }, { OPENAI_API_KEY = false })
      assert.equals(0, r.code, r.stderr)
      assert.matches("for 1 image: gpt%-image%-1, quality medium, size 1024x1024 %(set %-%-quality", r.stdout)
      r = run({ "estimate", "--quality", "high", "--size", "1536x1024", "-n", "2", "a castle", "-m", "gpt-image-1" },
              { OPENAI_API_KEY = false })
      assert.matches("for 2 images: gpt-image-1, quality high, size 1536x1024\n", r.stdout, 1, true)
    end)

    it("takes a missing .json or .lua file for a mistake, not a prompt", function()
      for _, name in ipairs({ "sprites.json", "sprites.lua" }) do
        local r = run({ "estimate", name }, { OPENAI_API_KEY = false })
        assert.equals(2, r.code, r.stdout)
        assert.matches("no manifest " .. name, r.stderr, 1, true)
        assert.equals("", r.stdout)
      end
      local r = run({ "estimate", "--prompt", "sprites.json" }, { OPENAI_API_KEY = false })
      assert.equals(0, r.code, r.stderr)
    end)
  end)
end)
