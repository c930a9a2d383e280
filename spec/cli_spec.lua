-- The gptimage command, run as a process against the fake server: single
-- requests, manifests with faults, re-runs from the sidecar records, budgets,
-- dry runs, JSON output and the Batch API flow. (The pure-Lua parts it
-- stands on have their own specs: cache_spec, manifest_spec.)
local gptimage = require "gptimage"
local cjson = require "cjson"
local fake = require "helpers.server"
local util = require "helpers.util"
local fixture = require "helpers.fixture"
local cli = require "helpers.cli"

local LUA = os.getenv("GPTIMAGE_LUA") or "lua5.4"
local BIN = util.command_path()

-- A 1x1 PNG, for answers the spec writes itself.
local TINY_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

describe("gptimage command", function()
  local srv, dir

  -- Runs the command in dir; env entries override the defaults, false unsets.
  local function env_with(env)
    return cli.env({ OPENAI_API_KEY = "sk-test-cli", OPENAI_BASE_URL = srv.base_url,
                     GPTIMAGE_PROGRESS = "plain" }, env)
  end

  local function run(args, env)
    return cli.run(dir, args, env_with(env))
  end

  local function run_json(args, env)
    return cli.run_json(dir, args, env_with(env))
  end

  local function path(name)
    return dir .. "/" .. name
  end

  local function write_json(name, value)
    util.write(path(name), cjson.encode(value))
  end

  local function image_requests(records)
    local list = {}
    for _, r in ipairs(records or srv:requests()) do
      if r.path:match("^/v1/images/") then
        list[#list + 1] = r
      end
    end
    return list
  end

  local function sidecar(name)
    local text = util.read(path(name .. ".json"))
    assert(text, "no record next to " .. name)
    return cjson.decode(text)
  end

  fixture.each({ server = {}, dir = true }, function(f) srv, dir = f.srv, f.dir end)

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

  describe("run", function()
    local function fifty_entries()
      local entries = {}
      for i = 1, 50 do
        entries[i] = { prompt = "sprite number " .. i, output = string.format("sprites/s%02d.png", i) }
      end
      return { defaults = { quality = "low", model = "gpt-image-1" }, entries = entries }
    end

    it("writes an entry's sprite sheet of its gif, and rebuilds when the sheet is gone", function()
      write_json("m.json", { output_dir = "out", entries = {
        { prompt = "a knight walking", output_format = "gif", frame_count = 4, size = "1024x1024",
          output = "walk.gif", sheet = "walk-sheet.png", sheet_columns = 2 } } })
      local r = run({ "run", "m.json", "-q" })
      assert.equals(0, r.code, r.stderr)
      local gif = assert(gptimage.info(path("out/walk.gif")))
      assert.equals("gif", gif.format)
      assert.equals(4, gif.frames)
      local sheet = assert(gptimage.info(path("out/walk-sheet.png")))
      assert.same({ "png", 2048, 2048 }, { sheet.format, sheet.width, sheet.height })
      local atlas = cjson.decode((assert(util.read(path("out/walk-sheet.json")))))
      assert.equals(4, #atlas.frames)
      assert.equals(1, #image_requests())
      -- up to date: nothing sent
      r = run({ "run", "m.json", "-q" })
      assert.equals(0, r.code, r.stderr)
      assert.equals(1, #image_requests())
      assert.equals(2, sidecar("out/walk.gif").sheet_columns)
    end)

    it("cuts a missing sprite sheet again from the gif on disk, without a request", function()
      write_json("m.json", { output_dir = "out", entries = {
        { prompt = "a knight walking", output_format = "gif", frame_count = 4, size = "1024x1024",
          output = "walk.gif", sheet = "walk-sheet.png", sheet_columns = 2 } } })
      assert.equals(0, run({ "run", "m.json", "-q" }).code)
      assert.equals(1, #image_requests())
      local gif_bytes = util.read(path("out/walk.gif"))
      for _, gone in ipairs({ "out/walk-sheet.png", "out/walk-sheet.json" }) do
        os.remove(path(gone))
        local plan = run({ "run", "m.json", "--dry-run" })
        assert.equals(0, plan.code, plan.stderr)
        assert.matches("0 to build, 0 up to date, 1 sprite sheet to cut again from its gif", plan.stdout, 1, true)
        assert.matches("  sheet    walk.gif  cut from the gif on disk, no request  (sprite sheet", plan.stdout, 1, true)
        assert.matches("estimated cost: $0.00", plan.stdout, 1, true)
        local r = run_json({ "run", "m.json" })
        assert.equals(0, r.code, r.stderr)
        assert.equals(1, #image_requests())
        assert.same({ 0, 1, 0 }, { r.json.summary.images, r.json.summary.sheets, r.json.summary.cost })
        assert.same({ "png", 2048, 2048 }, { gptimage.info(path("out/walk-sheet.png")).format,
          gptimage.info(path("out/walk-sheet.png")).width, gptimage.info(path("out/walk-sheet.png")).height })
        assert.equals(4, #cjson.decode((assert(util.read(path("out/walk-sheet.json"))))).frames)
        assert.equals(gif_bytes, util.read(path("out/walk.gif")))
      end
      -- then up to date again; a missing gif is a new request, and its sheet is cut from the new gif
      assert.matches("1 up to date", run({ "run", "m.json" }).stderr, 1, true)
      assert.equals(1, #image_requests())
      os.remove(path("out/walk.gif"))
      assert.equals(0, run({ "run", "m.json", "-q" }).code)
      assert.equals(2, #image_requests())
      assert.is_true(util.exists(path("out/walk-sheet.png")))
    end)

    it("cuts the sprite sheet again when only sheet_columns changes, without a request", function()
      local function manifest_with(columns)
        write_json("m.json", { output_dir = "out", entries = {
          { prompt = "a knight walking", output_format = "gif", frame_count = 4, size = "1024x1024",
            output = "walk.gif", sheet = "walk-sheet.png", sheet_columns = columns } } })
      end
      local function sheet_size()
        local info = assert(gptimage.info(path("out/walk-sheet.png")))
        return { info.width, info.height }
      end
      manifest_with(2)
      assert.equals(0, run({ "run", "m.json", "-q" }).code)
      assert.same({ 2048, 2048 }, sheet_size())
      manifest_with(4)
      local plan = run({ "run", "m.json", "--dry-run" })
      assert.matches("(sprite sheet columns changed)", plan.stdout, 1, true)
      local r = run({ "run", "m.json" })
      assert.equals(0, r.code, r.stderr)
      assert.matches("0 images built, 0 up to date, 1 sprite sheet cut again from its gif, 0 failed", r.stderr, 1, true)
      assert.same({ 4096, 1024 }, sheet_size())
      assert.equals(4, sidecar("out/walk.gif").sheet_columns)
      assert.equals(1, #image_requests())
      -- now current: nothing to do
      assert.matches("0 images built, 1 up to date, 0 failed", run({ "run", "m.json" }).stderr, 1, true)
      assert.same({ 4096, 1024 }, sheet_size())
      -- back to the default columns (none given)
      manifest_with(nil)
      assert.equals(0, run({ "run", "m.json", "-q" }).code)
      assert.is_nil(sidecar("out/walk.gif").sheet_columns)
      assert.equals(1, #image_requests())
      -- a prompt change is a new request, as before
      write_json("m.json", { output_dir = "out", entries = {
        { prompt = "a knight running", output_format = "gif", frame_count = 4, size = "1024x1024",
          output = "walk.gif", sheet = "walk-sheet.png", sheet_columns = 1 } } })
      assert.equals(0, run({ "run", "m.json", "-q" }).code)
      assert.equals(2, #image_requests())
      assert.same({ 1024, 4096 }, sheet_size())
    end)

    it("fails an entry whose sprite sheet cannot be written, without a record", function()
      util.write(path("blocker"), "a file where the sheet's folder should be")
      write_json("m.json", { entries = {
        { prompt = "a knight walking", output_format = "gif", frame_count = 2, size = "1024x1024",
          output = "walk.gif", sheet = "blocker/walk-sheet.png" } } })
      local r = run({ "run", "m.json", "-q" })
      assert.equals(1, r.code, r.stderr)
      assert.matches("FAILED walk.gif (entry 1): ", r.stderr, 1, true)
      assert.matches("the image was saved but its sprite sheet was not", r.stderr, 1, true)
      assert.is_false(util.exists(path("walk.gif.json")))
    end)

    it("refuses a sprite sheet of an entry that is not a gif, with exit 2 and nothing sent", function()
      write_json("m.json", { entries = {
        { prompt = "a knight", output = "knight.png", sheet = "knight-sheet.png" } } })
      local r = run({ "run", "m.json", "-q" })
      assert.equals(2, r.code, r.stderr)
      assert.matches("entry 1: 'sheet' makes a sprite sheet of a gif output, but the entry's output_format is "
        .. "not given (png)", r.stderr, 1, true)
      assert.equals(0, #image_requests())
      assert.is_false(util.exists(path("knight.png")))
      assert.is_false(util.exists(path("knight-sheet.png")))
    end)

    it("stops at the first 401 or 403 with exit 2 and one line", function()
      for _, status in ipairs({ 401, 403 }) do
        write_json("m.json", fifty_entries())
        local before = #srv:requests()
        -- every answer is refused, as a wrong key is for every request
        srv:fault{ action = "status", status = status, times = 100 }
        local r = run({ "run", "m.json", "-j", "4", "--max-retries", "3" })
        local sent = #srv:requests() - before
        srv:reset()
        assert.equals(2, r.code, r.stderr)
        assert.is_true(sent >= 1 and sent <= 4, "at most the first -j requests are sent: " .. sent)
        local lines = 0
        for line in r.stderr:gmatch("[^\n]+") do
          lines = lines + (line:find(tostring(status), 1, true) and 1 or 0)
        end
        assert.equals(1, lines, r.stderr)
        assert.matches("stopped at the first refusal (api error " .. status, r.stderr, 1, true)
        assert.matches(status == 401 and "check OPENAI_API_KEY" or "check the organization's access",
          r.stderr, 1, true)
        assert.matches("not started", r.stderr, 1, true)
      end
    end)

    it("builds 50 entries through faults, names each failure, and re-runs for free", function()
      write_json("m.json", fifty_entries())
      srv:fault{
        { action = "status", status = 500, times = 3, headers = { ["retry-after-ms"] = "10" } },
        { action = "error", status = 400, message = "Invalid prompt for this sprite", code = "bad_prompt" },
      }
      local r = run_json({ "run", "m.json", "-j", "4", "--max-retries", "3" })
      assert.equals(1, r.code, r.stderr)
      assert.equals(49, r.json.summary.built)
      assert.equals(1, r.json.summary.failed)
      local failed
      for _, entry in ipairs(r.json.entries) do
        if entry.status == "failed" then
          failed = entry
        else
          assert.equals("built", entry.status)
          assert.is_true(util.is_png(util.read(path(entry.label))), entry.label)
          assert.equals(entry.request_id, sidecar(entry.label).request_id)
        end
      end
      assert.equals(400, failed.error.status)
      assert.equals("bad_prompt", failed.error.code)
      assert.is_false(util.exists(path(failed.label)))
      assert.is_false(util.exists(path(failed.label .. ".json")))
      assert.matches(string.format("FAILED %s (entry %d)", failed.label, failed.index), r.stderr, 1, true)
      assert.matches("failed (run again to retry only these):\n  " .. failed.label, r.stderr, 1, true)
      -- 50 first attempts and one retry of each 500
      assert.equals(53, #srv:requests())
      -- the tree holds the outputs and records only: nothing half-written
      local names = util.listdir(path("sprites"))
      assert.equals(98, #names)
      for _, name in ipairs(names) do
        assert.matches("^s%d%d%.png", name)
      end

      -- a second run sends only the failed entry
      r = run_json({ "run", "m.json", "-j", "4" })
      assert.equals(0, r.code, r.stderr)
      assert.equals(54, #srv:requests())
      assert.equals(1, r.json.summary.built)
      assert.equals(49, r.json.summary.skipped)
      assert.equals(string.format("sprite number %d", failed.index), srv:last_request().json.prompt)

      -- a third run sends nothing
      r = run({ "run", "m.json" })
      assert.equals(0, r.code, r.stderr)
      assert.equals(54, #srv:requests())
      assert.matches("50 up to date", r.stderr, 1, true)

      -- a changed prompt regenerates only its entry
      local before = {}
      for i = 1, 50 do
        before[i] = sidecar(string.format("sprites/s%02d.png", i)).request_id
      end
      local changed = fifty_entries()
      changed.entries[7].prompt = "sprite number 7, now blue"
      write_json("m.json", changed)
      r = run_json({ "run", "m.json" })
      assert.equals(0, r.code, r.stderr)
      assert.equals(55, #srv:requests())
      assert.equals("sprite number 7, now blue", srv:last_request().json.prompt)
      for i = 1, 50 do
        local now = sidecar(string.format("sprites/s%02d.png", i)).request_id
        if i == 7 then
          assert.are_not.equal(before[i], now)
        else
          assert.equals(before[i], now)
        end
      end

      -- a missing output is rebuilt; --force rebuilds everything
      os.remove(path("sprites/s09.png"))
      r = run({ "run", "m.json" })
      assert.equals(0, r.code, r.stderr)
      assert.equals(56, #srv:requests())
      assert.equals("sprite number 9", srv:last_request().json.prompt)
    end)

    it("rebuilds an edit when the bytes of its input change, not when its name does", function()
      assert.equals(0, run({ "generate", "base", "--quality", "low", "-o", "in/base.png" }).code)
      write_json("m.json", { entries = { { prompt = "make it blue", inputs = { "in/base.png" }, output = "blue.png",
                                           quality = "low" } } })
      assert.equals(0, run({ "run", "m.json" }).code)
      local count = #srv:requests()
      assert.equals("/v1/images/edits", srv:last_request().path)
      assert.equals(0, run({ "run", "m.json" }).code)
      assert.equals(count, #srv:requests())
      -- same bytes under another name: still up to date
      os.rename(path("in/base.png"), path("in/renamed.png"))
      write_json("m.json", { entries = { { prompt = "make it blue", inputs = { "in/renamed.png" }, output = "blue.png",
                                           quality = "low" } } })
      assert.equals(0, run({ "run", "m.json" }).code)
      assert.equals(count, #srv:requests())
      -- other bytes: rebuilt
      assert.equals(0, run({ "generate", "another base", "--size", "1536x1024", "--quality", "low",
                             "-o", "in/renamed.png" }).code)
      count = #srv:requests()
      assert.equals(0, run({ "run", "m.json" }).code)
      assert.equals(count + 1, #srv:requests())
      assert.equals("/v1/images/edits", srv:last_request().path)
      -- --force rebuilds an entry that is up to date
      assert.equals(0, run({ "run", "m.json", "--force" }).code)
      assert.equals(count + 2, #srv:requests())
    end)

    it("builds an entry after the entries that make its inputs", function()
      local chain = { defaults = { quality = "low" }, output_dir = "sprites", entries = {
        { prompt = "the sword, glowing blue", inputs = { "sprites/sword.png" }, output = "sword-blue.png" },
        { prompt = "a pixel-art sword", background = "transparent", output = "sword.png" },
        { prompt = "sword and coin", inputs = { "sprites/sword-blue.png", "sprites/coin-2.png" },
          output = "combo.png" },
        { prompt = "three coins", n = 3, output = "coin.png" },
      } }
      write_json("m.json", chain)
      local r = run({ "run", "m.json", "--dry-run" })
      assert.equals(0, r.code, r.stderr)
      assert.matches("(after sword.png)", r.stdout, 1, true)
      assert.matches("(after sword-blue.png, coin.png)", r.stdout, 1, true)

      r = run({ "run", "m.json", "-j", "4" })
      assert.equals(0, r.code, r.stderr)
      local arrival = {}
      for _, request in ipairs(srv:requests()) do
        local prompt = request.json and request.json.prompt
        for _, part in ipairs(request.parts or {}) do
          if part.name == "prompt" then
            prompt = part.value
          end
        end
        arrival[prompt] = request.id
      end
      assert.is_true(arrival["the sword, glowing blue"] > arrival["a pixel-art sword"])
      assert.is_true(arrival["sword and coin"] > arrival["the sword, glowing blue"])
      assert.is_true(arrival["sword and coin"] > arrival["three coins"])
      assert.is_true(util.is_png(util.read(path("sprites/combo.png"))))

      -- an entry whose input failed is not sent, and says why
      srv:reset()
      for _, name in ipairs({ "sword", "sword-blue", "combo" }) do
        os.remove(path("sprites/" .. name .. ".png"))
      end
      srv:fault{ action = "error", status = 400, message = "no swords today" }
      r = run_json({ "run", "m.json", "-j", "1" })
      assert.equals(1, r.code, r.stderr)
      assert.equals(1, #srv:requests())
      assert.equals(3, r.json.summary.failed)
      assert.matches("sword-blue.png (entry 1): input error: its input sword.png was not built (entry 2 failed)",
                     r.stderr, 1, true)
      assert.matches("combo.png (entry 3): input error: its input sword-blue.png was not built", r.stderr, 1, true)

      write_json("loop.json", { { prompt = "a", inputs = "b.png", output = "a.png" },
                                { prompt = "b", inputs = "a.png", output = "b.png" } })
      r = run({ "run", "loop.json" })
      assert.equals(2, r.code)
      assert.matches("needs its own output", r.stderr, 1, true)
    end)

    it("reads Lua manifests, with defaults, flags and default output names", function()
      util.write(path("assets.lua"), [[
        local entries = {}
        for i, colour in ipairs({ "red", "green", "blue" }) do
          entries[i] = { prompt = "a " .. colour .. " gem" }
        end
        entries[4] = { prompt = "a wide banner", size = "1536x1024", output = "banner.png" }
        return { defaults = { quality = "medium" }, output_dir = "gems", entries = entries }
      ]])
      -- slow answers, so that the requests in flight overlap
      srv:config{ delay = 0.2 }
      local r = run({ "run", "assets.lua", "--quality", "low", "-j", "2" })
      assert.equals(0, r.code, r.stderr)
      local requests = image_requests()
      assert.equals(4, #requests)
      local most = 0
      for _, request in ipairs(requests) do
        assert.equals("low", request.json.quality)
        most = math.max(most, request.concurrent)
      end
      -- two at a time: each one met at most one other
      assert.equals(1, most)
      for _, name in ipairs({ "gems/001-a-red-gem.png", "gems/002-a-green-gem.png", "gems/003-a-blue-gem.png",
                              "gems/banner.png" }) do
        assert.is_true(util.is_png(util.read(path(name))), name)
      end
      util.write(path("broken.lua"), "return { entries = { { prompt = 'x' } }")
      r = run({ "run", "broken.lua" })
      assert.equals(2, r.code)
      assert.matches("broken.lua", r.stderr, 1, true)
    end)

    it("prints its summary when interrupted", function()
      write_json("int.json", { entries = {
        { prompt = "first", quality = "low", output = "first.png" },
        { prompt = "second", quality = "low", output = "second.png" } } })
      -- the first answer at once, the second held back until the interrupt
      srv:fault{ { action = "delay", delay = 0, times = 1 }, { action = "delay", delay = 20, times = 1 } }
      local q = fake.shell_quote
      local err_file = path("int.err")
      local script = table.concat({
        "cd " .. q(path(".")),
        "OPENAI_API_KEY=sk-test-int OPENAI_BASE_URL=" .. q(srv.base_url) .. " GPTIMAGE_PROGRESS=plain "
          .. q(LUA) .. " " .. q(BIN) .. " run int.json -j 1 2>" .. q(err_file) .. " & pid=$!",
        -- wait (at most 20 s) for the first entry to be built, then Ctrl-C
        "i=0; while ! grep -q 'built first.png' " .. q(err_file) .. " 2>/dev/null && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done",
        "kill -INT $pid; wait $pid; echo $?",
      }, "\n")
      local pipe = io.popen("sh -c " .. q(script))
      local code = tonumber(pipe:read("*a"):match("(%d+)%s*$"))
      pipe:close()
      local err = util.read(err_file) or ""
      assert.equals(130, code, err)
      assert.matches("int.json interrupted after [%d.]+ s: 1 image built, cost %$%d", err)
      assert.matches("interrupted; finished images are kept", err, 1, true)
      assert.is_true(util.is_png(util.read(path("first.png"))))
    end)

    it("--dry-run says why each entry would be built", function()
      local entries = {
        { prompt = "kept", quality = "low", output = "kept.png" },
        { prompt = "reworded", quality = "low", output = "reworded.png" },
        { prompt = "deleted", quality = "low", output = "deleted.png" },
        { prompt = "resized", quality = "low", output = "resized.png" },
      }
      write_json("why.json", { entries = entries })
      local r = run({ "run", "why.json" })
      assert.equals(0, r.code, r.stderr)
      entries[2].prompt = "reworded, now blue"
      entries[4].size = "1536x1024"
      entries[5] = { prompt = "added", quality = "low", output = "added.png" }
      write_json("why.json", { entries = entries })
      os.remove(path("deleted.png"))
      local before = #srv:requests()
      r = run({ "run", "why.json", "--dry-run" })
      assert.equals(0, r.code, r.stderr)
      assert.equals(before, #srv:requests())
      assert.matches("skip%s+kept%.png%s+up to date", r.stdout)
      assert.matches("build%s+reworded%.png[^\n]*%(prompt changed%)", r.stdout)
      assert.matches("build%s+deleted%.png[^\n]*%(file missing%)", r.stdout)
      assert.matches("build%s+resized%.png[^\n]*%(options changed%)", r.stdout)
      assert.matches("build%s+added%.png[^\n]*%(new%)", r.stdout)
      r = run({ "run", "why.json", "--dry-run", "--force" })
      assert.matches("build%s+kept%.png[^\n]*%(forced%)", r.stdout)
    end)

    it("--dry-run prints the plan and the estimate and sends nothing", function()
      write_json("m.json", { defaults = { model = "gpt-image-1" }, entries = {
        { prompt = "one", quality = "low", output = "one.png" },
        { prompt = "two", quality = "high", size = "1024x1536", n = 2, output = "two.png" },
      } })
      local expected = gptimage.estimate{ model = "gpt-image-1", quality = "low", prompt = "one" }
                     + gptimage.estimate{ model = "gpt-image-1", quality = "high", size = "1024x1536", n = 2,
                                          prompt = "two" }
      local r = run({ "run", "m.json", "--dry-run" }, { OPENAI_API_KEY = false })
      assert.equals(0, r.code, r.stderr)
      assert.matches("2 to build", r.stdout, 1, true)
      assert.matches(string.format("estimated cost: $%.4f", expected), r.stdout, 1, true)
      r = run_json({ "run", "m.json", "--dry-run" })
      assert.near(expected, r.json.estimate, 1e-12)
      assert.equals("build", r.json.entries[1].status)
      assert.equals(0, #srv:requests())
      assert.is_false(util.exists(path("one.png")))
      -- once built, the plan says up to date
      assert.equals(0, run({ "run", "m.json" }).code)
      r = run_json({ "estimate", "m.json" })
      assert.equals("skip", r.json.entries[1].status)
      assert.equals(0, r.json.estimate)
    end)

    it("--budget refuses a run whose estimate is over it, sending nothing", function()
      write_json("m.json", fifty_entries())
      local r = run_json({ "run", "m.json", "--budget", "0.25" })
      assert.equals(3, r.code)
      assert.matches("over the budget of $0.2500: nothing was sent", r.stderr, 1, true)
      assert.equals(0, #srv:requests())
      r = run({ "run", "m.json", "--budget", "0.25", "--dry-run" })
      assert.equals(3, r.code)
      assert.matches("the estimate is over it", r.stdout, 1, true)
    end)

    it("--budget stops starting entries once the actual spend reaches it", function()
      local entries = {}
      for i = 1, 10 do
        entries[i] = { prompt = "tile " .. i, output = string.format("tiles/t%02d.png", i) }
      end
      write_json("m.json", { defaults = { quality = "low", model = "gpt-image-1" }, entries = entries })
      -- the first answer reports far more tokens than the estimate: $4
      srv:fault{ action = "status", status = 200, content_type = "application/json",
                 body = { created = 1700000000, data = { { b64_json = TINY_PNG } },
                          usage = { input_tokens = 2, output_tokens = 100000, total_tokens = 100002,
                                    input_tokens_details = { text_tokens = 2, image_tokens = 0 } } } }
      local r = run_json({ "run", "m.json", "-j", "1", "--budget", "0.5" })
      assert.equals(3, r.code, r.stderr)
      assert.equals(1, #srv:requests())
      assert.equals(1, r.json.summary.built)
      assert.equals(9, r.json.summary.not_started)
      assert.is_true(r.json.summary.budget_reached)
      assert.is_true(r.json.summary.cost > 0.5)
      assert.equals("built", r.json.entries[1].status)
      assert.equals("not_started", r.json.entries[2].status)
      assert.matches("the budget of $0.5000 was reached", r.stderr, 1, true)
      assert.matches("  tiles/t10.png", r.stderr, 1, true)
      assert.is_false(util.exists(path("tiles/t02.png")))
      -- the next run, with room, builds the rest
      r = run_json({ "run", "m.json", "--budget", "1" })
      assert.equals(0, r.code, r.stderr)
      assert.equals(9, r.json.summary.built)
      assert.equals(1, r.json.summary.skipped)
    end)
  end)

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
