-- gptimage.cache on its own: the request hash (stable, by content, the same
-- under Lua 5.4 and LuaJIT), sidecar records and the up-to-date check that
-- makes re-runs free; and gptimage.json, whose stable text the hash rests on.
local cache = require "gptimage.cache"
local json = require "gptimage.json"
local images = require "helpers.images"
local util = require "helpers.util"
local fixture = require "helpers.fixture"

describe("cache", function()
  local dir

  fixture.each({ dir = true }, function(f) dir = f.dir end)

  it("hashes with FNV-1a 64, the same digits on every interpreter", function()
    -- the published test values of FNV-1a 64
    assert.equals("cbf29ce484222325", cache.hash_string(""))
    assert.equals("af63dc4c8601ec8c", cache.hash_string("a"))
    assert.equals("85944171f73967e8", cache.hash_string("foobar"))
    -- in pieces or whole, and across the boundary of the pieces
    local text = string.rep("0123456789", 7)
    assert.equals(cache.hash_string(text), cache.hasher():update(text:sub(1, 13)):update(text:sub(14)):hex())
    -- the C core's hash itself, which the cache and the trust judge share
    local gptimage = require "gptimage"
    assert.equals("85944171f73967e8", gptimage.fnv1a64("bar", gptimage.fnv1a64("foo")))
    assert.equals("85944171f73967e8", gptimage.fnv1a64("", "85944171F73967E8"))
    assert.error_matches(function() gptimage.fnv1a64("x", "abc") end, "16 hex digits")
    assert.error_matches(function() gptimage.fnv1a64("x", "zzzzzzzzzzzzzzzz") end, "16 hex digits")
    assert.error_matches(function() gptimage.fnv1a64(nil) end, "string expected")
  end)

  it("digests a file by its bytes and size", function()
    local bytes = images.png{}
    local path = util.file(dir, "a.png", bytes)
    assert.equals(cache.hash_string(bytes) .. ":" .. #bytes, cache.file_digest(path))
    local missing, problem = cache.file_digest(dir .. "/missing.png")
    assert.is_nil(missing)
    assert.is_string(problem)
  end)

  it("hashes a request by what changes the answer, inputs by their bytes", function()
    local png = images.png{}
    local a = util.file(dir, "a.png", png)
    local b = util.file(dir, "b.png", png)
    local c = util.file(dir, "c.png", images.png{ width = 3 })
    local base = { op = "edit", model = "m", prompt = "p", quality = "low" }
    local hash = assert(cache.request_hash(base, { a }))
    assert.matches("^fnv1a64:%x+$", hash)
    -- the same request, whatever the field order or the input's name
    assert.equals(hash, cache.request_hash({ quality = "low", prompt = "p", model = "m", op = "edit" }, { b }))
    -- fields that do not change the answer do not count; n defaults to 1
    assert.equals(hash, cache.request_hash({ op = "edit", model = "m", prompt = "p", quality = "low",
                                             timeout = 5, n = 1 }, { a }))
    -- what changes the answer changes the hash
    local changed = { { prompt = "q" }, { quality = "high" }, { n = 2 }, { extra = { seed = 1 } } }
    for _, change in ipairs(changed) do
      local fields = {}
      for k, v in pairs(base) do fields[k] = v end
      for k, v in pairs(change) do fields[k] = v end
      assert.not_equals(hash, cache.request_hash(fields, { a }))
    end
    assert.not_equals(hash, cache.request_hash(base, { c }))
    assert.not_equals(hash, cache.request_hash(base, { a }, a))
    local none, problem = cache.request_hash(base, { dir .. "/gone.png" })
    assert.is_nil(none)
    assert.matches("cannot read input image '" .. dir .. "/gone.png'", problem, 1, true)
  end)

  it("records a result next to its output and knows when it is up to date", function()
    local output = dir .. "/out/coin.png"
    local paths = { dir .. "/out/coin-1.png", dir .. "/out/coin-2.png" }
    assert.is_false((cache.up_to_date(output, "h1")))
    local res = { images = { { path = paths[1], revised_prompt = "one" }, { path = paths[2] } },
                  cost = 0.25, model = "m", request_id = "req_1", created = 1750000000 }
    local record = cache.record(output, res, { request_hash = "h1", prompt = "coins", batch_id = "b1" })
    assert.same({ "coin-1.png", "coin-2.png" }, record.files)
    assert.equals("one", record.revised_prompt)
    assert.equals("b1", record.batch_id)
    assert.is_true(cache.write(output, record))
    assert.equals(cache.sidecar_path(output), output .. ".json")
    assert.same(record.files, cache.read(output).files)

    -- a record is not enough: every file it names must be there
    assert.is_false((cache.up_to_date(output, "h1")))
    for _, path in ipairs(paths) do util.write(path, "x") end
    assert.is_true((cache.up_to_date(output, "h1")))
    assert.is_false((cache.up_to_date(output, "h2")))
    os.remove(paths[2])
    assert.is_false((cache.up_to_date(output, "h1")))
  end)

  it("treats an unreadable record as no record", function()
    local output = util.file(dir, "x.png", "x")
    util.write(output .. ".json", "{ not json")
    assert.is_nil(cache.read(output))
    assert.is_false((cache.up_to_date(output, "h")))
  end)

  it("hashes a long text in odd pieces as it hashes it whole", function()
    local long = string.rep("0123456789", 1000)
    local h = cache.hasher()
    for i = 1, #long, 7 do
      h:update(long:sub(i, i + 6))
    end
    assert.equals(cache.hash_string(long), h:hex())
  end)

  it("is up to date only with the same hash and every file present", function()
    local output = dir .. "/x.png"
    util.write(dir .. "/x-1.png", "one")
    util.write(dir .. "/x-2.png", "two")
    local res = { images = { { path = dir .. "/x-1.png" }, { path = dir .. "/x-2.png" } }, request_id = "req_1" }
    assert(cache.write(output, cache.record(output, res, { request_hash = "h1" })))
    assert.is_true((cache.up_to_date(output, "h1")))
    assert.is_false((cache.up_to_date(output, "h2")))
    os.remove(dir .. "/x-2.png")
    assert.is_false((cache.up_to_date(output, "h1")))
    util.write(output .. ".json", "not json")
    assert.is_false((cache.up_to_date(output, "h1")))
  end)

  it("keeps a record beside image 1 as saved, and still finds one at an earlier place", function()
    assert.equals("a.png", cache.beside("a.png", "jpeg"))
    assert.equals("out/1.jpg", cache.beside("out/{i}.{ext}", "jpeg"))
    assert.equals("out/card-1.png", cache.beside("out/card-{i}.{ext}"))
    local output = dir .. "/{i}.{ext}"
    util.write(dir .. "/1.webp", "one")
    local res = { images = { { path = dir .. "/1.webp" } } }
    -- where the runner wrote it before: under the template as typed
    assert(cache.write(output, cache.record(output, res, { request_hash = "h1" })))
    local record, place = cache.find(output, "webp")
    assert.equals("h1", record.request_hash)
    assert.equals(output, place)
    assert.is_true((cache.up_to_date(output, "h1", "webp")))
    -- written beside the file, the earlier one is gone
    assert.same({ true, dir .. "/1.webp" }, { cache.write_beside(output, "webp", res, { request_hash = "h2" }) })
    assert.same({ "1.webp", "1.webp.json" }, util.listdir(dir))
    record, place = cache.find(output, "webp")
    assert.same({ "h2", dir .. "/1.webp" }, { record.request_hash, place })
    assert.same({ "1.webp" }, record.files)
    -- where the Batch API helper wrote it before: {ext} resolved, {i} not
    os.rename(dir .. "/1.webp.json", dir .. "/{i}.webp.json")
    assert.equals(dir .. "/{i}.webp", select(2, cache.find(output, "webp")))
    assert.is_false((cache.up_to_date(output, "h1", "webp")))
    assert.is_true((cache.up_to_date(output, "h2", "webp")))
    -- none anywhere: nil and where it would go
    os.remove(dir .. "/{i}.webp.json")
    record, place = cache.find(output, "webp")
    assert.is_nil(record)
    assert.equals(dir .. "/1.webp", place)
  end)
end)

describe("json", function()
  it("writes the same text for the same value: sorted keys, no escaped slashes", function()
    assert.equals('{"a":[1,2,"x/y"],"b":1,"c":[],"d":{},"e":1.5,"f":"q\\"\\n"}',
      json.encode({ f = 'q"\n', e = 1.5, d = {}, c = json.array(), b = 1, a = { 1, 2, "x/y" } }))
    assert.equals('{\n  "a": {\n    "b": true\n  }\n}', json.encode({ a = { b = true } }, "  "))
  end)

  it("refuses what JSON cannot hold", function()
    local loop = {}
    loop.self = loop
    assert.has_error(function() json.encode(loop) end)
    assert.has_error(function() json.encode({ f = print }) end)
    assert.has_error(function() json.encode({ [true] = 1 }) end)
  end)

  it("decodes without nulls and with whole numbers as integers", function()
    local value = json.decode('{"a": null, "b": [1, 2.5], "c": {"d": null}}')
    assert.is_nil(value.a)
    assert.same({}, value.c)
    assert.equals("1", tostring(value.b[1]))
    assert.equals(2.5, value.b[2])
    local none, problem = json.decode("{")
    assert.is_nil(none)
    assert.is_string(problem)
  end)

  it("writes JSON with sorted keys, so equal requests hash equally", function()
    assert.equals('{"a":1,"b":[1,2,{"c":"x\\"y\\n/"}],"d":[],"e":{}}',
      json.encode({ e = {}, d = json.array(), b = { 1, 2, { c = "x\"y\n/" } }, a = 1 }))
    assert.equals(cache.request_hash({ prompt = "p", model = "m", size = "1024x1024" }),
                  cache.request_hash({ size = "1024x1024", model = "m", prompt = "p", n = 1 }))
    assert.are_not.equal(cache.request_hash({ prompt = "p", model = "m" }),
                         cache.request_hash({ prompt = "p", model = "m", quality = "low" }))
    assert.are_not.equal(cache.request_hash({ prompt = "p", op = "generate" }),
                         cache.request_hash({ prompt = "p", op = "edit" }))
    local ok, problem = cache.request_hash({ prompt = "p" }, { "/nonexistent/in.png" })
    assert.is_nil(ok)
    assert.matches("/nonexistent/in.png", problem, 1, true)
  end)
end)
