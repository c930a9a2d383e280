-- The gptimage command's help and bad usage, run as a process against the
-- fake server: every command's help with the exit codes, exit 2 with what to
-- do for a wrong flag, command, key, size or count, and every problem of a
-- bad or broken manifest named, with nothing sent.
local util = require "helpers.util"
local cli = require "helpers.cli"

describe("gptimage command", function()
  local srv
  local c = cli.each({ OPENAI_API_KEY = "sk-test-cli", GPTIMAGE_PROGRESS = "plain" },
    function(f) srv = f.srv end)
  local run, path =
    c.run, c.path

  describe("help and usage", function()
    it("prints help for every command, with the exit codes", function()
      local cases = {
        { "--help" }, { "help" }, { "help", "run" }, { "help", "batch", "collect" },
        { "generate", "--help" }, { "edit", "--help" }, { "variation", "--help" },
        { "run", "--help" }, { "estimate", "--help" }, { "batch", "--help" },
        { "batch", "submit", "--help" }, { "batch", "status", "--help" },
        { "batch", "collect", "--help" }, { "batch", "cancel", "--help" },
      }
      for _, args in ipairs(cases) do
        local r = run(args)
        assert.equals(0, r.code, table.concat(args, " ") .. ": " .. r.stderr)
        assert.matches("usage: gptimage", r.stdout, 1, true)
        assert.matches("Exit codes:", r.stdout, 1, true)
        assert.matches("3    budget", r.stdout, 1, true)
      end
      local generate = run({ "generate", "--help" }).stdout
      for _, flag in ipairs({ "-o, --output", "-n N", "--size", "--quality", "--background", "--output-format",
                              "--output-compression", "--moderation", "--style", "--response-format", "--user",
                              "--input-fidelity", "--partial-images", "--model", "--extra", "--timeout",
                              "--max-retries", "--base-url", "--api-key-env", "--budget", "--dry-run" }) do
        assert.matches(flag, generate, 1, true)
      end
      assert.matches("-i, --image", run({ "edit", "--help" }).stdout, 1, true)
      assert.matches("--mask", run({ "edit", "--help" }).stdout, 1, true)
      local run_help = run({ "run", "--help" }).stdout
      for _, text in ipairs({ "-j, --jobs", "--force", "--budget", "--batch", "Manifest", "URLs or file ids" }) do
        assert.matches(text, run_help, 1, true)
      end
      assert.equals(0, #srv:requests())
    end)

    it("answers bad usage with exit 2 and says what to do", function()
      local r = run({ "generate", "a sword", "--qualty", "low" })
      assert.equals(2, r.code)
      assert.matches("did you mean --quality", r.stderr, 1, true)

      r = run({ "genrate", "a sword" })
      assert.equals(2, r.code)
      assert.matches("did you mean 'generate'", r.stderr, 1, true)

      r = run({ "generate", "a sword" }, { OPENAI_API_KEY = false })
      assert.equals(2, r.code)
      assert.matches("set OPENAI_API_KEY", r.stderr, 1, true)

      r = run({ "generate", "a sword", "--api-key-env", "MY_KEY" }, { OPENAI_API_KEY = false })
      assert.equals(2, r.code)
      assert.matches("set MY_KEY", r.stderr, 1, true)

      r = run({ "generate", "a sword", "--size", "100x100" })
      assert.equals(2, r.code)
      assert.matches("size", r.stderr, 1, true)
      assert.matches("multiples of 16", r.stderr, 1, true)

      r = run({ "generate", "a sword", "-n", "two" })
      assert.equals(2, r.code)
      assert.matches("-n expects a whole number", r.stderr, 1, true)

      r = run({ "edit", "make it blue", "-i", "missing.png" })
      assert.equals(2, r.code)
      assert.matches("missing.png", r.stderr, 1, true)

      r = run({ "run" })
      assert.equals(2, r.code)
      assert.matches("gptimage run MANIFEST", r.stderr, 1, true)

      r = run({ "run", "nope.json" })
      assert.equals(2, r.code)
      assert.matches("cannot read manifest 'nope.json'", r.stderr, 1, true)

      r = run({})
      assert.equals(2, r.code)
      assert.matches("Commands:", r.stderr, 1, true)

      assert.equals(0, #srv:requests())
    end)

    it("names every problem of a bad manifest and sends nothing", function()
      util.write(path("bad.json"), '{"entries": [\n {"prompt": "a", "qualty": "low"},\n {"prompt": 5},\n'
        .. ' {"prompt": "c", "size": "7x7"},\n {"prompt": "d", "output": "x.png"},\n {"prompt": "e", "out": "x.png"}]}')
      local r = run({ "run", "bad.json" })
      assert.equals(2, r.code)
      assert.matches("entry 1: unknown field 'qualty' (did you mean 'quality'?)", r.stderr, 1, true)
      assert.matches("entry 2: 'prompt' must be a string", r.stderr, 1, true)
      assert.matches("entry 5: writes 'x.png', as entry 4 does", r.stderr, 1, true)
      util.write(path("bad.json"), '{"entries": [{"prompt": "c", "size": "7x7"}]}')
      r = run({ "run", "bad.json" })
      assert.equals(2, r.code)
      assert.matches("entry 1 (001-c.png): option 'size'", r.stderr, 1, true)
      util.write(path("broken.json"), '{"entries": [\n  {"prompt": "a",}\n]}')
      r = run({ "run", "broken.json" })
      assert.equals(2, r.code)
      assert.matches("not valid JSON", r.stderr, 1, true)
      assert.matches("line 2", r.stderr, 1, true)
      assert.equals(0, #srv:requests())
    end)
  end)
end)
