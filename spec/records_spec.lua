-- Where the record of a manifest entry sits: beside the file saved, also for
-- an output template with {i} and {ext}, whether the entry was built
-- directly or collected from the Batch API; and a record that an earlier
-- version kept under the template (as typed, or with only {ext} resolved) is
-- still found, so that an upgrade makes no paid image again. Every case
-- runs the command against the fake server and counts the image requests.
local cjson = require "cjson"
local cli = require "helpers.cli"
local fixture = require "helpers.fixture"
local util = require "helpers.util"

describe("records of templated outputs", function()
  local srv, dir
  fixture.each({ server = {}, dir = true }, function(f) srv, dir = f.srv, f.dir end)

  local function run(args)
    return cli.run(dir, args, { OPENAI_API_KEY = "sk-test-records", OPENAI_BASE_URL = srv.base_url,
                                GPTIMAGE_PROGRESS = "plain" })
  end

  local function path(name)
    return dir .. "/" .. name
  end

  local function image_requests()
    local count = 0
    for _, r in ipairs(srv:requests()) do
      if r.path:match("^/v1/images/") then count = count + 1 end
    end
    return count
  end

  local function manifest(entry)
    entry.quality = "low"
    util.write(path("m.json"), cjson.encode({ entries = { entry } }))
  end

  local function record(name)
    local text = util.read(path(name))
    assert(text, "no record " .. name)
    return cjson.decode(text)
  end

  it("sits beside image 1 as saved, and makes the next run free", function()
    manifest({ prompt = "a shot", output = "shots/{i}.{ext}", output_format = "jpeg" })
    local r = run({ "run", "m.json", "-q" })
    assert.equals(0, r.code, r.stderr)
    assert.same({ "1.jpg", "1.jpg.json" }, util.listdir(path("shots")))
    assert.same({ "1.jpg" }, record("shots/1.jpg.json").files)
    r = run({ "run", "m.json" })
    assert.equals(0, r.code, r.stderr)
    assert.matches("0 images built, 1 up to date, 0 failed", r.stderr, 1, true)
    assert.equals(1, image_requests())
  end)

  it("is one record beside image 1 that lists every image of n > 1", function()
    manifest({ prompt = "cards", n = 2, output = "cards/card-{i}.{ext}" })
    assert.equals(0, run({ "run", "m.json", "-q" }).code)
    assert.same({ "card-1.png", "card-1.png.json", "card-2.png" }, util.listdir(path("cards")))
    assert.same({ "card-1.png", "card-2.png" }, record("cards/card-1.png.json").files)
    assert.matches("1 up to date", run({ "run", "m.json" }).stderr, 1, true)
    assert.equals(1, image_requests())
    -- a lost image 2 is found missing through that record
    os.remove(path("cards/card-2.png"))
    assert.equals(0, run({ "run", "m.json", "-q" }).code)
    assert.equals(2, image_requests())
  end)

  for _, earlier in ipairs({
    { place = "shots/{i}.{ext}.json", by = "the runner, under the template as typed" },
    { place = "shots/{i}.jpg.json", by = "the Batch API helper, with only {ext} resolved" },
  }) do
    it("is still found where " .. earlier.by .. ", and moves beside the file on the next build", function()
      manifest({ prompt = "a shot", output = "shots/{i}.{ext}", output_format = "jpeg" })
      assert.equals(0, run({ "run", "m.json", "-q" }).code)
      assert(os.rename(path("shots/1.jpg.json"), path(earlier.place)))
      local plan = run({ "run", "m.json", "--dry-run" })
      assert.equals(0, plan.code, plan.stderr)
      assert.matches("0 to build, 1 up to date", plan.stdout, 1, true)
      local r = run({ "run", "m.json" })
      assert.equals(0, r.code, r.stderr)
      assert.matches("0 images built, 1 up to date, 0 failed", r.stderr, 1, true)
      assert.equals(1, image_requests())
      -- a changed prompt builds again: the record is written beside the file
      -- and the one at the earlier place is gone
      manifest({ prompt = "another shot", output = "shots/{i}.{ext}", output_format = "jpeg" })
      plan = run({ "run", "m.json", "--dry-run" })
      assert.matches("prompt changed", plan.stdout, 1, true)
      assert.equals(0, run({ "run", "m.json", "-q" }).code)
      assert.equals(2, image_requests())
      assert.same({ "1.jpg", "1.jpg.json" }, util.listdir(path("shots")))
      assert.equals("another shot", record("shots/1.jpg.json").prompt)
    end)
  end

  it("is written beside the file by a batch collect, where the next run finds it", function()
    srv:config{ batch_polls = 1 }
    manifest({ prompt = "a shot", output = "shots/{i}.{ext}" })
    local r = run({ "run", "--batch", "m.json" })
    assert.equals(0, r.code, r.stderr)
    local id = r.stdout:match("^(batch_[%w_]+)\n$")
    assert.truthy(id, r.stdout)
    r = cli.run_json(dir, { "batch", "collect", id, "--wait", "--interval", "0.05" },
      { OPENAI_API_KEY = "sk-test-records", OPENAI_BASE_URL = srv.base_url })
    assert.equals(0, r.code, r.stderr)
    assert.equals(path("shots/1.png"), r.json.results[1].output)
    assert.same({ "1.png", "1.png.json" }, util.listdir(path("shots")))
    assert.equals(id, record("shots/1.png.json").batch_id)
    local sent = #srv:requests()
    r = run({ "run", "m.json" })
    assert.equals(0, r.code, r.stderr)
    assert.matches("0 images built, 1 up to date, 0 failed", r.stderr, 1, true)
    assert.equals(sent, #srv:requests())
  end)
end)
