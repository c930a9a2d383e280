-- Sprite sheets of gif entries in the run command, run as a process against
-- the fake server: the sheet and its atlas written beside the gif, cut again
-- from the gif on disk without a request when the sheet is gone or only
-- sheet_columns changed, an entry failed without a record when its sheet
-- cannot be written, and a sheet of an entry that is not a gif refused.
local gptimage = require "gptimage"
local cjson = require "cjson"
local util = require "helpers.util"
local cli = require "helpers.cli"

describe("gptimage command", function()
  local c = cli.each({ OPENAI_API_KEY = "sk-test-cli", GPTIMAGE_PROGRESS = "plain" })
  local run, run_json, path, write_json, image_requests, sidecar =
    c.run, c.run_json, c.path, c.write_json, c.image_requests, c.sidecar

  describe("run", function()
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
  end)
end)
