-- stream = true: partial images through on_partial as they arrive, the
-- completed event as the normal result; malformed streams are errors.
local util = require "helpers.util"
local fixture = require "helpers.fixture"

describe("streaming", function()
  local srv, client, dir

  fixture.each({ server = {}, client = { api_key = "sk-test", max_retries = 0 }, dir = true },
    function(f) srv, client, dir = f.srv, f.client, f.dir end)

  local function run(opts)
    local partials = {}
    opts.on_partial = function(image, index)
      partials[#partials + 1] = { image = image, index = index }
    end
    local res, err = client:generate(opts)
    return res, err, partials
  end

  it("delivers each partial image, then the final one as bytes", function()
    local res, err, partials = run{ prompt = "a", stream = true, partial_images = 2 }
    assert.is_nil(err)
    assert.equals(2, #partials)
    for i, p in ipairs(partials) do
      assert.equals(i - 1, p.index)
      assert.equals(i - 1, p.image.partial_image_index)
      assert.is_true(util.is_png(p.image.bytes))
      assert.is_string(p.image.size)
    end
    assert.equals(1, #res.images)
    assert.is_true(util.is_png(res.images[1].bytes))
    assert.is_table(res.usage)
    assert.is_number(res.cost)
    local r = srv:last_request()
    assert.is_true(r.json.stream)
    assert.equals(2, r.json.partial_images)
  end)

  it("saves the completed image to a file", function()
    local res, err, partials = run{ prompt = "a", stream = true, partial_images = 1, save = dir .. "/s.png" }
    assert.is_nil(err)
    assert.equals(1, #partials)
    assert.equals(dir .. "/s.png", res.images[1].path)
    assert.is_true(util.is_png(util.read(dir .. "/s.png")))
    assert.same({ "s.png" }, util.listdir(dir))
  end)

  it("frames a stream split into small pieces with CRLF, comments and multi-line data", function()
    srv:fault{ action = "sse_split", chunk = 7, interval = 0 }
    local res, err, partials = run{ prompt = "a", stream = true, partial_images = 2 }
    assert.is_nil(err)
    assert.equals(2, #partials)
    assert.is_true(util.is_png(res.images[1].bytes))
  end)

  it("streams edits too", function()
    local png = assert(client:generate{ prompt = "base" }).images[1].bytes
    local partials = {}
    local res, err = client:edit{ image = png, prompt = "edit", stream = true, partial_images = 1,
                                  on_partial = function(image) partials[#partials + 1] = image end }
    assert.is_nil(err)
    assert.equals(1, #partials)
    assert.matches("image_edit", partials[1].type)
    assert.is_true(util.is_png(res.images[1].bytes))
  end)

  it("a malformed event is a decode error and leaves no file", function()
    srv:fault{ action = "sse_malformed" }
    local res, err = run{ prompt = "a", stream = true, partial_images = 1, save = dir .. "/m.png" }
    assert.is_nil(res)
    assert.equals("decode", err.kind)
    assert.same({}, util.listdir(dir))
  end)

  it("an error raised in on_partial surfaces from the call", function()
    assert.has_error(function()
      client:generate{ prompt = "a", stream = true, partial_images = 1,
                       on_partial = function() error("partial callback failed") end }
    end)
  end)
end)
