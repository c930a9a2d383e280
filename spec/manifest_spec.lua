-- gptimage.manifest on its own: reading JSON and Lua manifests, defaults and
-- their overrides, paths relative to the manifest, the inferred operation,
-- names made from prompts, the files an entry writes, and a message naming
-- every problem (with "did you mean" and the line of a JSON error).
local manifest = require "gptimage.manifest"
local util = require "helpers.util"
local fixture = require "helpers.fixture"

describe("manifest", function()
  local dir

  fixture.each({ dir = true }, function(f) dir = f.dir end)

  local function file(name, text)
    return util.file(dir, name, text)
  end

  local function options_of(entry)
    local copy = {}
    for key, value in pairs(entry.options) do copy[key] = value end
    return copy
  end

  it("resolves paths, defaults and the operation of every entry", function()
    local path = file("assets.json", [[
      {"defaults": {"quality": "low", "size": "1024x1024"},
       "output_dir": "sprites",
       "entries": [
         {"prompt": "a sword", "output": "sword.png", "quality": "high"},
         {"prompt": "make it blue", "inputs": ["sprites/sword.png"], "output": "blue.png", "mask": "m.png"},
         {"inputs": "icon.png", "output": "var.png", "model": "dall-e-2"},
         {"_note": "ignored", "comment": "ignored too", "prompt": "coins", "n": 3}
       ]}]])
    local m = assert(manifest.load(path, { defaults = { size = "1536x1024" } }))
    assert.equals(path, m.path)
    assert.equals(dir .. "/sprites", m.output_dir)
    assert.equals(4, #m.entries)

    local sword, blue, var, coins = m.entries[1], m.entries[2], m.entries[3], m.entries[4]
    assert.equals("generate", sword.op)
    assert.equals(dir .. "/sprites/sword.png", sword.output)
    assert.equals("sword.png", sword.label)
    -- the entry's own value wins over the defaults, the caller's over the manifest's
    assert.same({ prompt = "a sword", quality = "high", size = "1536x1024" }, options_of(sword))

    assert.equals("edit", blue.op)
    assert.same({ dir .. "/sprites/sword.png" }, blue.inputs)
    assert.equals(dir .. "/m.png", blue.mask)

    assert.equals("variation", var.op)
    assert.same({ dir .. "/icon.png" }, var.inputs)
    assert.equals("dall-e-2", var.options.model)

    -- an entry without output is named from its index and prompt
    assert.equals(dir .. "/sprites/004-coins.png", coins.output)
    assert.equals(3, coins.options.n)
    assert.is_nil(coins.options._note)
    assert.is_nil(coins.options.comment)
  end)

  it("lists every file an entry writes, numbered as the module numbers them", function()
    local m = assert(manifest.normalize({
      { prompt = "coins", n = 3, output = "coin.png" },
      { prompt = "hidden", n = 2, output = ".hidden" },
      { prompt = "one", output = "one.png" },
    }, { dir = "out" }))
    local function paths(entry)
      local list = {}
      for i, f in ipairs(manifest.output_files(entry)) do list[i] = f.path .. " " .. f.what end
      return list
    end
    assert.same({ "out/coin-1.png image 1", "out/coin-2.png image 2", "out/coin-3.png image 3",
                  "out/coin.png.json record" }, paths(m.entries[1]))
    assert.same({ "out/.hidden-1 image 1", "out/.hidden-2 image 2", "out/.hidden.json record" },
                paths(m.entries[2]))
    assert.same({ "out/one.png image", "out/one.png.json record" }, paths(m.entries[3]))
  end)

  it("reads a Lua manifest in a sandbox without io or os.execute", function()
    local m = assert(manifest.load(file("assets.lua",
      'return { { prompt = "from lua " .. string.rep("x", 2), output = "l.png" } }')))
    assert.equals("from lua xx", m.entries[1].options.prompt)
    assert.equals(dir .. "/l.png", m.entries[1].output)

    local ok, problem = manifest.load(file("evil.lua", 'io.open("' .. dir .. '/pwned", "w") return {}'))
    assert.is_nil(ok)
    assert.matches("(Lua)", problem, 1, true)
    assert.matches("'io'", problem, 1, true)
    assert.is_false(util.exists(dir .. "/pwned"))
  end)

  it("names every problem, with the field it probably meant", function()
    local m, problem = manifest.load(file("typo.json", '[{"promt": "a", "output": "a.png", "qaulity": "low"}]'))
    assert.is_nil(m)
    assert.matches("has 3 problems", problem, 1, true)
    assert.matches("entry 1: unknown field 'qaulity' (did you mean 'quality'?)", problem, 1, true)
    assert.matches("entry 1: unknown field 'promt' (did you mean 'prompt'?)", problem, 1, true)
    assert.matches("entry 1: 'prompt' is missing", problem, 1, true)
  end)

  it("places a JSON error at its line and column", function()
    local m, problem = manifest.load(file("bad.json", '{"entries": [\n  {"prompt": "a",}\n]}'))
    assert.is_nil(m)
    assert.matches("manifest '" .. dir .. "/bad.json' is not valid JSON, line 2, column 18: ", problem, 1, true)
    -- in our words, not lua-cjson's token names
    assert.matches("expected a key in double quotes but found '}' (a comma before it?", problem, 1, true)
    local cases = {
      { '{"entries": [\n  {"prompt": "a"}\n  {"prompt": "b"}]}', "line 3, column 3: expected ',' or ']' but found '{' (a missing comma?)" },
      { "{'entries': []}", "line 1, column 2: expected a key in double quotes but found something that is not JSON" },
      { '{"entries": [', "line 1, column 14: expected a value but found the end of the file" },
      { '{"entries" []}', "line 1, column 12: expected ':' after the key but found '['" },
    }
    for _, case in ipairs(cases) do
      m, problem = manifest.load(file("bad.json", case[1]))
      assert.is_nil(m)
      assert.matches(case[2], problem, 1, true)
      assert.is_nil(problem:find("T_", 1, true), problem)
    end
  end)

  it("reports a manifest it cannot read", function()
    local m, problem = manifest.load(dir .. "/missing.json")
    assert.is_nil(m)
    assert.matches("cannot read manifest '" .. dir .. "/missing.json'", problem, 1, true)
  end)

  it("suggests only names close enough to be a typo", function()
    local names = { "generate", "edit", "variation", "run", "estimate", "batch" }
    assert.equals("generate", manifest.suggest("genrate", names))
    assert.equals("estimate", manifest.suggest("estiamte", names))
    assert.is_nil(manifest.suggest("paint", names))
  end)

  it("makes file names from prompts and extensions from formats", function()
    assert.equals("a-pixel-art-sword", manifest.slug("A Pixel-Art Sword!"))
    assert.equals("image", manifest.slug("!!!"))
    assert.equals("jpg", manifest.extension("jpeg"))
    assert.equals("webp", manifest.extension("webp"))
    assert.equals("png", manifest.extension(nil))
  end)

  it("names files with the module's extension for every format, one it does not know too", function()
    local gptimage = require "gptimage"
    for _, format in ipairs{ "png", "jpeg", "jpg", "webp", "gif", "svg", "avif", "heic" } do
      assert.equals(gptimage.extension(format), manifest.extension(format))
    end
    assert.equals("avif", manifest.extension("avif"))
    -- the name planned for an entry without an output is the one "{ext}" gives
    local m = assert(manifest.normalize({ entries = {
      { prompt = "a fox", model = "gpt-image-9", output_format = "avif" } } }, { dir = "assets" }))
    assert.equals("assets/001-a-fox.avif", m.entries[1].output)
    assert.equals(m.entries[1].output, gptimage.save_path("assets/001-a-fox.{ext}", 1, 1, "avif"))
  end)

  it("writes an entry's sprite sheet and atlas, checked for collisions, only of a gif", function()
    local m = assert(manifest.normalize({ output_dir = "out", entries = {
      { prompt = "walk", output_format = "gif", output = "walk.gif", sheet = "sheets/walk-sheet.png",
        sheet_columns = 4 } } }, { dir = "assets" }))
    local entry = m.entries[1]
    assert.equals("assets/out/sheets/walk-sheet.png", entry.sheet)
    assert.equals(4, entry.sheet_columns)
    local files = {}
    for _, f in ipairs(manifest.output_files(entry)) do files[#files + 1] = f.what .. " " .. f.path end
    assert.same({ "image assets/out/walk.gif", "sprite sheet assets/out/sheets/walk-sheet.png",
                  "sprite sheet's atlas assets/out/sheets/walk-sheet.json", "record assets/out/walk.gif.json" }, files)
    local _, problems = manifest.normalize({ entries = {
      { prompt = "a", output_format = "gif", output = "a.gif", sheet = "a.png" },
      { prompt = "b", output = "a.png" } } })
    assert.matches("entry 2 (a.png): its image 'a.png' is also the sprite sheet of entry 1 (a.gif)",
      table.concat(problems, "\n"), 1, true)
    _, problems = manifest.normalize({ entries = {
      { prompt = "a", output = "a.png", sheet = "a-sheet.png" },
      { prompt = "b", output_format = "webp", sheet = "b-sheet.png" },
      { prompt = "c", output_format = "gif", n = 2, sheet = "c-sheet.png" },
      { prompt = "d", output_format = "gif", sheet_columns = 2 },
      { prompt = "e", output_format = "gif", sheet = "../e.png" } },
      defaults = { sheet = "x.png" } })
    local text = table.concat(problems, "\n")
    assert.matches("defaults: 'sheet' belongs in each entry", text, 1, true)
    assert.matches("entry 1: 'sheet' makes a sprite sheet of a gif output, but the entry's output_format is "
      .. "not given (png)", text, 1, true)
    assert.matches("entry 2: 'sheet' makes a sprite sheet of a gif output, but the entry's output_format is 'webp'",
      text, 1, true)
    assert.matches("entry 3: 'sheet' takes one image", text, 1, true)
    assert.matches("entry 4: 'sheet_columns' needs 'sheet'", text, 1, true)
    assert.matches("entry 5: sheet '../e.png' is outside the output folder", text, 1, true)
    assert.equals("a/b.c/walk.json", manifest.atlas_path("a/b.c/walk.png"))
    assert.equals("a/b.c/walk.json", manifest.atlas_path("a/b.c/walk"))
  end)

  it("accepts a plain list and infers the operation", function()
    local m = assert(manifest.normalize({
      { prompt = "a" },
      { prompt = "b", image = "in.png" },
      { images = { "in.png" }, model = "dall-e-2" },
    }, { dir = "assets" }))
    assert.equals("generate", m.entries[1].op)
    assert.equals("assets/001-a.png", m.entries[1].output)
    assert.equals("edit", m.entries[2].op)
    assert.same({ "assets/in.png" }, m.entries[2].inputs)
    assert.equals("variation", m.entries[3].op)
  end)

  it("lists every problem", function()
    local m, problems = manifest.normalize({ entries = { { prompt = "a", n = 1.5 }, { op = "edit", prompt = "b" },
                                                          "text", { prompt = "c", promt = "d" } },
                                             defalts = {} })
    assert.is_nil(m)
    local text = table.concat(problems, "\n")
    assert.matches("manifest: unknown field 'defalts' (did you mean 'defaults'?)", text, 1, true)
    assert.matches("entry 1: 'n' must be a whole number", text, 1, true)
    assert.matches("entry 2: op 'edit' needs input images", text, 1, true)
    assert.matches("entry 3: must be an object", text, 1, true)
    assert.matches("entry 4: unknown field 'promt' (did you mean 'prompt'?)", text, 1, true)
  end)
end)
