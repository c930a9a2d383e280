-- buffer = true: images (and partial images) as gptimage.Buffer, the
-- module's own memory, instead of Lua strings.
local gptimage = require "gptimage"
local fixture = require "helpers.fixture"

describe("buffer = true", function()
  local srv, client

  fixture.each({ server = {}, client = { api_key = "sk-test", max_retries = 0 } },
    function(f) srv, client = f.srv, f.client end)

  it("gives each image as a Buffer holding the bytes the server sent", function()
    local res = assert(client:generate{ prompt = "a", n = 2, buffer = true })
    local record = srv:last_request()
    for index = 1, 2 do
      local buf = res.images[index].buffer
      assert.is_nil(res.images[index].bytes)
      assert.equals("userdata", type(buf))
      local sent = srv:image(record.images[index])
      assert.equals(#sent, #buf)
      assert.equals(sent, buf:string())
      assert.equals("userdata", type(buf:pointer()))
      assert.matches("^gptimage%.Buffer %(%d+ bytes%)$", tostring(buf))
    end
  end)

  it("slices like string.sub", function()
    local buf = assert(client:generate{ prompt = "a", buffer = true }).images[1].buffer
    local whole = buf:string()
    for _, range in ipairs{ { 1, 8 }, { -4, -1 }, { 0, 3 }, { 5, 2 }, { 10, 1e9 }, { -1e9, 2 }, { #whole, #whole } } do
      assert.equals(whole:sub(range[1], range[2]), buf:string(range[1], range[2]))
    end
    assert.equals(whole:sub(3), buf:string(3))
  end)

  it("release frees the bytes at once and leaves an empty Buffer", function()
    local buf = assert(client:generate{ prompt = "a", buffer = true }).images[1].buffer
    assert.is_true(#buf > 0)
    buf:release()
    assert.equals(0, #buf)
    assert.equals("", buf:string())
    assert.equals("", buf:string(1, 10))
    assert.matches("%(0 bytes%)", tostring(buf))
    buf:release() -- twice is fine
    assert.equals(0, #buf)
    assert.has_error(function() buf.release({}) end)
  end)

  -- Lua 5.4's to-be-closed variables call __close when the scope ends
  if _VERSION == "Lua 5.4" then
    it("a <close> variable releases it when its scope ends", function()
      local res = assert(client:generate{ prompt = "a", buffer = true })
      local run = assert(load([[
        local image = ...
        do
          local buf <close> = image.buffer
          assert(#buf > 0)
        end
        return #image.buffer
      ]]))
      assert.equals(0, run(res.images[1]))
    end)
  end

  it("gives partial images as Buffers too", function()
    local partials = {}
    local res = assert(client:generate{ prompt = "a", stream = true, partial_images = 2, buffer = true,
                                        on_partial = function(image) partials[#partials + 1] = image end })
    assert.equals(2, #partials)
    local record = srv:last_request()
    for index, image in ipairs(partials) do
      assert.is_nil(image.bytes)
      assert.equals(srv:image(record.partial_images[index]), image.buffer:string())
    end
    assert.equals(srv:image(record.images[1]), res.images[1].buffer:string())
  end)

  it("is off unless asked, and must be a boolean", function()
    local res = assert(client:generate{ prompt = "a", buffer = false })
    assert.is_string(res.images[1].bytes)
    assert.is_nil(res.images[1].buffer)
    assert.has_error(function() client:generate{ prompt = "a", buffer = "yes" } end)
  end)

  it("a saved image is a path whatever buffer says", function()
    local dir = os.tmpname()
    os.remove(dir)
    local res = assert(client:generate{ prompt = "a", buffer = true, save = dir .. "/b.png" })
    assert.equals(dir .. "/b.png", res.images[1].path)
    assert.is_nil(res.images[1].buffer)
    os.remove(dir .. "/b.png")
    os.remove(dir)
  end)
end)
