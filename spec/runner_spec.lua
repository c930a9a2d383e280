-- gptimage.cli.runner driven step by step, as a host with its own loop
-- (an editor's timer polling the client) drives it: step() never waits,
-- keeps at most `jobs` requests in flight, starts an entry only after the
-- entry that makes its input, and stops at the budget.
local gptimage = require "gptimage"
local fake = require "helpers.server"
local util = require "helpers.util"
local manifest = require "gptimage.manifest"
local planner = require "gptimage.cli.planner"
local progress = require "gptimage.cli.progress"
local runner = require "gptimage.cli.runner"

describe("the runner, step by step", function()
  local srv, client, dir

  setup(function()
    srv = fake.start{}
  end)
  teardown(function()
    srv:stop()
  end)
  before_each(function()
    srv:reset()
    dir = util.tmpdir()
    client = gptimage.new{ api_key = "sk-test", base_url = srv.base_url, max_retries = 0 }
  end)
  after_each(function()
    client:close()
    util.rmtree(dir)
  end)

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
      client:poll()
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
end)
