-- The run command, run as a process against the fake server: 50 entries
-- built through faults with each failure named and re-runs that send only
-- what changed, the stop at the first 401 or 403, edits rebuilt when their
-- inputs' bytes change and built after the entries that make them, Lua
-- manifests, the summary on an interrupt, --dry-run plans and --budget.
-- (Sprite sheets of gif entries: cli_sheet_spec; the pure-Lua parts the
-- command stands on have their own specs: cache_spec, manifest_spec.)
local gptimage = require "gptimage"
local fake = require "helpers.server"
local util = require "helpers.util"
local cli = require "helpers.cli"

local LUA = os.getenv("GPTIMAGE_LUA") or "lua5.4"
local BIN = util.command_path()

-- A 1x1 PNG, for answers the spec writes itself.
local TINY_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

describe("gptimage command", function()
  local srv
  local c = cli.each({ OPENAI_API_KEY = "sk-test-cli", GPTIMAGE_PROGRESS = "plain" },
    function(f) srv = f.srv end)
  local run, run_json, path, write_json, image_requests, sidecar =
    c.run, c.run_json, c.path, c.write_json, c.image_requests, c.sidecar

  describe("run", function()
    local function fifty_entries()
      local entries = {}
      for i = 1, 50 do
        entries[i] = { prompt = "sprite number " .. i, output = string.format("sprites/s%02d.png", i) }
      end
      return { defaults = { quality = "low", model = "gpt-image-1" }, entries = entries }
    end

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
end)
