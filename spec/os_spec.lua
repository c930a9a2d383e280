-- What the C module gives the Lua layer so that it needs no shell and no
-- second copy of C logic: gptimage.os (clock, isatty, sleep, listdir,
-- mkdirs, cwd) and gptimage.save_path / extension / edit_distance / sniff.
-- The save-path cases are checked against the files a real call writes.
local gptimage = require "gptimage"
local fake = require "helpers.server"
local images = require "helpers.images"
local util = require "helpers.util"
local fixture = require "helpers.fixture"

describe("gptimage.os", function()
  local dir

  fixture.each({ dir = true }, function(f) dir = f.dir end)

  it("clock is monotonic and sleep waits at least as long as asked", function()
    local before = gptimage.os.clock()
    gptimage.os.sleep(0.02)
    local after = gptimage.os.clock()
    assert.is_number(before)
    assert.is_true(after - before >= 0.019, tostring(after - before))
    gptimage.os.sleep(0)
    gptimage.os.sleep(-1)
    assert.has_error(function() gptimage.os.sleep("soon") end)
  end)

  it("isatty is false for descriptors that are not terminals", function()
    local f = assert(io.open(dir .. "/plain", "w"))
    assert.is_false(gptimage.os.isatty(-1))
    assert.is_false(gptimage.os.isatty(987654))
    f:close()
    assert.has_error(function() gptimage.os.isatty("stderr") end)
  end)

  it("mkdirs makes a path and its parents, again without complaint", function()
    assert.is_true(gptimage.os.mkdirs(dir .. "/a/b//c/"))
    assert.is_true(gptimage.os.mkdirs(dir .. "/a/b/c"))
    assert.is_true(gptimage.os.mkdirs(dir))
    assert.same({ "b" }, gptimage.os.listdir(dir .. "/a"))
    assert.same({ "c" }, gptimage.os.listdir(dir .. "/a/b"))
  end)

  it("mkdirs and listdir return nil, a message naming the path and errno", function()
    util.write(dir .. "/file", "x")
    local ok, message, errno = gptimage.os.mkdirs(dir .. "/file/inner")
    assert.is_nil(ok)
    assert.equals("cannot create folder '" .. dir .. "/file/inner': Not a directory", message)
    assert.is_number(errno)
    local names
    names, message, errno = gptimage.os.listdir(dir .. "/missing")
    assert.is_nil(names)
    assert.matches("cannot list folder '" .. dir .. "/missing'", message, 1, true)
    assert.is_number(errno)
    assert.has_error(function() gptimage.os.mkdirs("") end)
  end)

  it("listdir names every entry, hidden ones too, without . and ..", function()
    util.write(dir .. "/b.png", "x")
    util.write(dir .. "/.hidden", "x")
    assert(gptimage.os.mkdirs(dir .. "/sub"))
    local names = gptimage.os.listdir(dir)
    table.sort(names)
    assert.same({ ".hidden", "b.png", "sub" }, names)
    assert.same({}, gptimage.os.listdir(dir .. "/sub"))
  end)

  it("cwd is the working folder the shell reports", function()
    local pipe = io.popen("pwd -P")
    local shell = pipe:read("*l")
    pipe:close()
    assert.equals(shell, gptimage.os.cwd())
  end)
end)

describe("the C helpers the Lua parts call", function()
  local srv, client, dir

  setup(function()
    srv = fake.start{}
    client = gptimage.new{ api_key = "sk-test", base_url = srv.base_url, max_retries = 0 }
  end)
  teardown(function()
    client:close()
    srv:stop()
  end)
  before_each(function()
    dir = util.tmpdir()
  end)
  after_each(function()
    util.rmtree(dir)
  end)

  -- The paths a real call of n images saves under the template.
  local function saved(template, n)
    local res = assert(client:generate{ prompt = "p", n = n, save = dir .. "/" .. template })
    local paths = {}
    for i, image in ipairs(res.images) do
      paths[i] = image.path:sub(#dir + 2)
    end
    return paths
  end

  it("save_path names images as the module saves them, hidden names included", function()
    for _, case in ipairs({ { "out/.hidden", 3 }, { "out/a.png", 2 }, { "out/a.png", 1 },
                            { "out/x{i}y.{ext}", 2 }, { "out.d/name", 2 }, { "sprite.{ext}", 1 } }) do
      local template, n = case[1], case[2]
      local paths = saved(template, n)
      assert.equals(n, #paths)
      for i = 1, n do
        assert.equals(paths[i], gptimage.save_path(template, i, n), template)
      end
    end
    -- the case the Lua copies got wrong: the number goes after a leading dot name
    assert.equals("out/.hidden-2", gptimage.save_path("out/.hidden", 2, 3))
    assert.equals("out/a-2.jpg", gptimage.save_path("out/a.{ext}", 2, 3, "jpeg"))
    assert.has_error(function() gptimage.save_path("a.png", 0, 1) end)
    assert.has_error(function() gptimage.save_path("a.png", 3, 2) end)
  end)

  it("extension maps an output_format as {ext} does", function()
    assert.equals("png", gptimage.extension())
    assert.equals("jpg", gptimage.extension("jpeg"))
    assert.equals("webp", gptimage.extension("webp"))
  end)

  it("edit_distance counts a swap of neighbours as one edit", function()
    assert.equals(0, gptimage.edit_distance("size", "size"))
    assert.equals(1, gptimage.edit_distance("genrate", "generate"))
    assert.equals(1, gptimage.edit_distance("qaulity", "quality"))
    assert.equals(3, gptimage.edit_distance("", "abc"))
    assert.equals(math.huge, gptimage.edit_distance(("x"):rep(41), "x"))
  end)

  it("sniff tells PNG, JPEG and WebP from their first bytes", function()
    assert.equals("png", gptimage.sniff(images.png{}))
    assert.equals("jpeg", gptimage.sniff(images.jpeg{}))
    assert.equals("webp", gptimage.sniff(images.webp{}))
    assert.is_nil(gptimage.sniff("GIF89a"))
    assert.is_nil(gptimage.sniff(""))
  end)
end)
