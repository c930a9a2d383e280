-- gptimage.runner driven step by step, as a host with its own loop
-- (an editor's timer) drives it: step() never waits, polls the client
-- itself, keeps at most `jobs` requests in flight, starts an entry only
-- after the entry that makes its input, and stops at the budget; an open
-- run (the Neovim helper's) takes entries as they come and hands each
-- finished one to the host.
local gptimage = require "gptimage"
local util = require "helpers.util"
local fixture = require "helpers.fixture"
local manifest = require "gptimage.manifest"
local planner = require "gptimage.cli.planner"
local progress = require "gptimage.cli.progress"
local runner = require "gptimage.runner"

describe("the runner, step by step", function()
  local srv, client, dir

  fixture.each({ server = {}, client = { api_key = "sk-test", max_retries = 0 }, dir = true },
    function(f) srv, client, dir = f.srv, f.client, f.dir end)

  local function new_run(values)
    local path = util.file(dir, "assets.json", [[
      [{"prompt": "a sword", "output": "sword.png", "quality": "low"},
       {"prompt": "make it blue", "inputs": ["sword.png"], "output": "blue.png", "quality": "low"},
       {"prompt": "a shield", "output": "shield.png", "quality": "low"}] ]])
    local m = assert(manifest.load(path))
    local plan = planner.make_plan(m, values, gptimage)
    local counts = { built = 0, images = 0, failed = 0, not_started = 0, waiting = 0, late_skipped = 0 }
    local run = runner.new(client, plan.todo, values, progress.new("none", #plan.todo), counts,
                           { committed = 0, pending = plan.pending_map })
    return run, counts, m
  end

  it("builds every entry in dependency order without waiting itself", function()
    local run, counts, m = new_run({ jobs = 2 })
    local most, rounds = 0, 0
    while not run:step() do
      most = math.max(most, #run.inflight)
      rounds = rounds + 1
    end
    assert.is_true(rounds > 0)
    assert.is_true(most <= 2)
    assert.is_false(run.stopped)
    assert.equals(3, counts.built)
    assert.equals(0, counts.failed)
    for _, entry in ipairs(m.entries) do
      assert.equals("built", entry.status)
      assert.is_true(util.is_png(util.read(entry.output)))
      assert.is_true(util.exists(entry.output .. ".json"))
    end
    -- the edit was sent after the sword it edits had been answered
    local sword, edit
    for i, request in ipairs(srv:requests()) do
      if request.path:match("/images/edits$") then
        edit = i
      elseif request.json and request.json.prompt == "a sword" then
        sword = i
      end
    end
    assert.is_number(sword)
    assert.is_number(edit)
    assert.is_true(edit > sword)
    assert.is_true(run:step())
  end)

  it("starts nothing over the budget and says it stopped", function()
    local run, counts, m = new_run({ jobs = 2, budget = 0 })
    assert.is_true(run:step())
    assert.is_true(run.stopped)
    assert.equals(3, counts.not_started)
    assert.equals(0, counts.spent)
    for _, entry in ipairs(m.entries) do
      assert.equals("not_started", entry.status)
    end
    assert.equals(0, #srv:requests())
  end)

  describe("an open run", function()
    local function open_run(jobs)
      local finished = {}
      local run = runner.new(client, {}, { jobs = jobs }, progress.new("none", 0), {}, { open = true,
        finish = function(entry, res, err)
          finished[#finished + 1] = { entry = entry, res = res, err = err, inflight = #entry.run.inflight }
        end })
      return run, finished
    end

    local function drive(run)
      local steps = 0
      while run:pending() > 0 do
        assert.is_true(steps < 1000000, "the run never ended")
        run:step()
        steps = steps + 1
      end
      return steps
    end

    it("starts each added entry at once up to the limit and hands each finished one to the host", function()
      local run, finished = open_run(2)
      local entries = {}
      for i = 1, 3 do
        entries[i] = { op = "generate", call = { prompt = "open " .. i, quality = "low" }, run = run }
      end
      local first, second = run:add(entries[1]), run:add(entries[2])
      assert.is_not_nil(first)
      assert.is_not_nil(second)
      assert.is_nil(run:add(entries[3]))          -- waits for a slot
      assert.equals(3, run:pending())
      assert.equals(2, #run:jobs())
      assert.is_true(drive(run) > 0)
      assert.equals(3, #finished)
      for _, f in ipairs(finished) do
        assert.is_nil(f.err)
        assert.is_true(f.inflight < 2)             -- out of the run before the host hears of it
        assert.equals("built", f.entry.status)
        assert.is_true(util.is_png(f.res.images[1].bytes))
      end
      -- idle is not over: a later entry still runs
      assert.is_true(run:step())
      assert.is_false(run.finished)
      run:add({ op = "generate", call = { prompt = "later", quality = "low", save = dir .. "/later.png" }, run = run })
      drive(run)
      assert.equals(4, #finished)
      assert.equals(dir .. "/later.png", finished[4].res.images[1].path)
      assert.is_true(util.is_png(util.read(dir .. "/later.png")))
    end)

    it("goes on after a refusal, hands cancels over, raises a caller bug from add and runs a batch", function()
      local run, finished = open_run(math.huge)
      srv:fault{ action = "error", status = 401, message = "Incorrect API key provided." }
      run:add({ op = "generate", call = { prompt = "refused", quality = "low" }, run = run })
      drive(run)
      assert.equals(401, finished[1].err.status)
      assert.equals("failed", finished[1].entry.status)
      srv:fault{ action = "delay", delay = 5 }
      local held = run:add({ op = "generate", call = { prompt = "held", quality = "low" }, run = run })
      assert.is_true(held:cancel())
      drive(run)
      assert.equals("cancelled", finished[2].err.kind)
      assert.has_error(function()
        run:add({ op = "generate", call = { quality = "low" }, run = run })
      end)
      assert.equals(0, run:pending())
      srv:reset()
      run:add({ op = "batch", call = { { op = "generate", prompt = "one", quality = "low" },
                                      { op = "generate", prompt = "two", quality = "low" } },
                batch_options = { concurrency = 2 }, run = run })
      drive(run)
      local batch = finished[#finished]
      assert.equals(2, #batch.res)
      assert.is_not_nil(batch.res[1].res)
      assert.is_not_nil(batch.res[2].res)
    end)
  end)
end)
