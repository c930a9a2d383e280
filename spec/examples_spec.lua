-- The scripts in examples/ run as a user would run them, each in its own
-- interpreter and folder, against the fake server: they exit cleanly, say
-- what they saved, and the files are real images.
local gptimage = require "gptimage"
local fake = require "helpers.server"
local util = require "helpers.util"
local fixture = require "helpers.fixture"

local LUA = os.getenv("GPTIMAGE_LUA") or "lua5.4"
local SOURCE = os.getenv("GPTIMAGE_SOURCE_DIR") or "."

local quote = fake.shell_quote

describe("examples", function()
  local srv, dir

  fixture.each({ server = {}, dir = true }, function(f) srv, dir = f.srv, f.dir end)

  -- Runs examples/<name> in dir with the given arguments; returns its
  -- output and its exit status.
  local function run(name, ...)
    local args = {}
    for i, a in ipairs{ ... } do args[i] = quote(a) end
    -- the status is printed last: LuaJIT's pipe close does not give it
    local command = string.format("cd %s && OPENAI_API_KEY=sk-example OPENAI_BASE_URL=%s %s %s %s 2>&1; echo \"exit $?\"",
      quote(dir), quote(srv.base_url), quote(LUA), quote(SOURCE .. "/examples/" .. name), table.concat(args, " "))
    local pipe = assert(io.popen(command))
    local output = pipe:read("*a")
    pipe:close()
    local text, status = output:match("^(.*)exit (%d+)\n$")
    assert(status, "no exit status in: " .. output)
    return text, tonumber(status)
  end

  local function assert_png(path)
    local bytes = util.read(path)
    assert.is_truthy(bytes, path .. " was not written")
    assert.is_true(util.is_png(bytes), path .. " is not a PNG")
  end

  it("generate.lua saves two sprites and reports the cost", function()
    local output, status = run("generate.lua")
    assert.equals(0, status, output)
    assert.matches("image 1: out/sword%-1%.png", output)
    assert.matches("cost: %$%d", output)
    assert_png(dir .. "/out/sword-1.png")
    assert_png(dir .. "/out/sword-2.png")
    assert.equals(1, #srv:requests())
  end)

  it("masked_edit.lua generates, asks for a mask, converts it and edits with it", function()
    local output, status = run("masked_edit.lua", "a beach")
    assert.equals(0, status, output)
    for _, name in ipairs{ "knight.png", "knight-mask-bw.png", "knight-mask.png", "knight-new-background.png" } do
      assert_png(dir .. "/out/" .. name)
    end
    local info = gptimage.info(dir .. "/out/knight-mask.png")
    assert.is_true(info.alpha)
    assert.same({ info.width, info.height }, { gptimage.info(dir .. "/out/knight.png").width,
      gptimage.info(dir .. "/out/knight.png").height })
    local requests = srv:requests()
    assert.equals(3, #requests)
    local mask
    for _, part in ipairs(requests[3].parts or {}) do
      if part.name == "mask" then mask = part end
    end
    assert.is_truthy(mask, "the last edit sends the mask")
    assert.equals(#util.read(dir .. "/out/knight-mask.png"), mask.size)
  end)

  it("edit_mask.lua sends every image and the mask, and saves the edit", function()
    local client = gptimage.new{ api_key = "sk-example", base_url = srv.base_url }
    util.write(dir .. "/base.png", assert(client:generate{ prompt = "base" }).images[1].bytes)
    util.write(dir .. "/ref.png", assert(client:generate{ prompt = "reference" }).images[1].bytes)
    util.write(dir .. "/mask.png",
      assert(client:generate{ prompt = "mask", background = "transparent" }).images[1].bytes)
    client:close()
    srv:reset()
    local output, status = run("edit_mask.lua", "base.png", "mask.png", "add a lighthouse", "ref.png")
    assert.equals(0, status, output)
    assert.matches("saved out/edited%.png", output)
    assert_png(dir .. "/out/edited.png")
    local names = {}
    for _, part in ipairs(srv:last_request().parts) do names[#names + 1] = part.name end
    table.sort(names)
    assert.same({ "image[]", "image[]", "input_fidelity", "mask", "model", "prompt", "quality" }, names)
  end)

  it("edit_mask.lua without its arguments prints its usage and exits 2", function()
    local output, status = run("edit_mask.lua")
    assert.equals(2, status)
    assert.matches("usage: edit_mask%.lua", output)
    assert.equals(0, #srv:requests())
  end)

  it("batch.lua builds six icons, four at a time", function()
    srv:fault{ action = "delay", delay = 0.3, times = 6 }
    local output, status = run("batch.lua")
    assert.equals(0, status, output)
    for _, name in ipairs{ "sword", "shield", "potion", "key", "scroll", "bow" } do
      assert_png(dir .. "/out/icons/" .. name .. ".png")
    end
    local most = 0
    for _, r in ipairs(srv:requests()) do most = math.max(most, r.concurrent or 0) end
    assert.equals(6, #srv:requests())
    assert.is_true(most <= 4, "more than 4 requests at once: " .. most)
    assert.is_true(most >= 2, "requests never overlapped")
  end)

  it("async.lua keeps its frame loop running until the image arrives", function()
    srv:fault{ action = "delay", delay = 1, times = 1 }
    local output, status = run("async.lua")
    assert.equals(0, status, output)
    assert_png(dir .. "/out/map.png")
    local frames = tonumber(output:match("job done after (%d+) frames"))
    assert.is_truthy(frames, output)
    -- more than one frame: the loop went on while the answer was awaited
    -- (not a rate, which a loaded machine would not keep)
    assert.is_true(frames >= 2, "only " .. frames .. " frames during a 1 s delay")
  end)
end)
