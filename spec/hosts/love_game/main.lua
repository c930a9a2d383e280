-- Host test: gptimage.love inside a real LÖVE game loop.
--
--   xvfb-run -a -s "-screen 0 640x480x24" love spec/hosts/love_game
--
-- with GPTIMAGE_SOURCE_DIR (the source tree) and GPTIMAGE_BUILD_DIR (where
-- gptimage.so was built for LuaJIT) set, as ctest does. Each case runs
-- against the fake Images API over real HTTP; frames (love.update calls) are
-- counted while the server holds its answer back, to show that the game loop
-- keeps running. Prints one line per check and a summary, then quits with
-- status 0 (all passed) or 1 (any failure, an error, or the hang guard).

local SERVER_DELAY = 2          -- seconds the fake server holds the first answer
local MIN_FRAMES = 30           -- a lower bound: an unblocked loop makes hundreds
local HANG_GUARD = 60           -- seconds

local function say(line)
  io.stdout:write(line, "\n")
  io.stdout:flush()
end

-- Never leave an error screen waiting for a key: print and exit 1.
function love.errorhandler(message)
  say("FAIL - error: " .. debug.traceback(tostring(message), 2))
  say("love host test: error, exiting")
  return function() return 1 end
end

local source_dir = os.getenv("GPTIMAGE_SOURCE_DIR")
local build_dir = os.getenv("GPTIMAGE_BUILD_DIR")
if not source_dir or source_dir == "" or not build_dir or build_dir == "" then
  error("set GPTIMAGE_SOURCE_DIR and GPTIMAGE_BUILD_DIR")
end
package.path = source_dir .. "/lua/?.lua;" .. source_dir .. "/spec/?.lua;" .. package.path
package.cpath = build_dir .. "/?.so;" .. package.cpath

local fake = require "helpers.server"
local cjson_null = require("cjson").null
local util = require "helpers.util"
local gptimage = require "gptimage"
local gl = require "gptimage.love"

local srv, driver, work_dir
local passed, failed = 0, 0
local finished = false
local started_at
local frame = 0
local in_update = false
local cases, case_index, case = {}, 0, nil

local function check(ok, name, detail)
  if ok then
    passed = passed + 1
    say("ok - " .. name)
  else
    failed = failed + 1
    say("FAIL - " .. name .. (detail ~= nil and (": " .. tostring(detail)) or ""))
  end
  return ok
end

local read_file = util.read

local function finish()
  if finished then
    return
  end
  finished = true
  if driver then
    driver:cancel_all()
  end
  if srv then
    srv:stop()
  end
  if work_dir then
    os.execute("rm -rf " .. fake.shell_quote(work_dir))
  end
  say(string.format("love host test: %d passed, %d failed", passed, failed))
  love.event.quit(failed == 0 and 0 or 1)
end

local function next_case()
  case_index = case_index + 1
  case = cases[case_index]
  if not case then
    finish()
    return
  end
  say("# " .. case.name)
  case.frames = 0
  case.done = false
  case.start(case)
end

-- Test-side errors inside a callback end the run with their message.
local function protect(fn)
  return function(...)
    local args = { n = select("#", ...), ... }
    local ok, err = xpcall(function() return fn(unpack(args, 1, args.n)) end, debug.traceback)
    if not ok then
      check(false, case.name .. " raised", err)
      case.done = true
    end
  end
end

local first_image_bytes
local buffer_methods      -- gptimage.Buffer's methods, from the first result

cases[#cases + 1] = { name = "delayed generation keeps the game running", start = function(self)
  srv:fault{ action = "delay", delay = SERVER_DELAY }
  local job = driver:generate({ prompt = "a pixel-art castle", size = "1536x1024", quality = "low" },
    protect(function(image, res, err)
      check(in_update, "the callback runs from driver:update")
      check(res ~= nil and err == nil, "result arrives through the callback", err)
      check(self.frames >= MIN_FRAMES, string.format("%d frames during the %d s delay (>= %d)",
        self.frames, SERVER_DELAY, MIN_FRAMES))
      say(string.format("# frames during the delayed request: %d", self.frames))
      check(image ~= nil and image:type() == "Image", "the callback gets a love Image", image)
      if image then
        local width, height = image:getDimensions()
        check(width == 1536 and height == 1024, "the Image is 1536x1024", width .. "x" .. height)
      end
      check(driver:pending() == 0, "no job left in flight")
      check(res and res.images[1].bytes == nil and tostring(res.images[1].buffer):match("^gptimage.Buffer"),
        "the image came as a gptimage.Buffer, never a Lua string", res and res.images[1].bytes)
      first_image_bytes = res and res.images[1].buffer and res.images[1].buffer:string()
      buffer_methods = res and res.images[1].buffer and getmetatable(res.images[1].buffer).__index
      self.done = true
    end))
  check(job ~= nil and driver:pending() == 1, "generate returns a job at once")
end }

cases[#cases + 1] = { name = "a saved result becomes image data", start = function(self)
  local save = work_dir .. "/saved.png"
  driver:generate({ prompt = "a saved tree", size = "1024x1024", quality = "low", save = save },
    protect(function(image, res, err)
      check(res ~= nil and res.images[1].path == save, "saved where asked", err)
      check(image ~= nil and image:getWidth() == 1024, "the Image is read from the saved file")
      local data = res and driver:imagedata(res)
      check(data ~= nil and data:type() == "ImageData" and data:getHeight() == 1024,
        "driver:imagedata(res) reads the saved file")
      local from_bytes = driver:imagedata(first_image_bytes)
      check(from_bytes ~= nil and from_bytes:getWidth() == 1536, "driver:imagedata(bytes) decodes bytes")
      local none, none_err = driver:imagedata("not an image")
      check(none == nil and none_err and none_err.kind == "decode", "undecodable bytes give a decode error")
      self.done = true
    end))
end }

-- The colour of an Image's top-left pixel as drawn, read back through a canvas.
local function drawn_pixel(image)
  local canvas = love.graphics.newCanvas(4, 4)
  love.graphics.push("all")
  love.graphics.setCanvas(canvas)
  love.graphics.clear(0, 0, 0, 0)
  love.graphics.setColor(1, 1, 1, 1)
  love.graphics.draw(image, 0, 0)
  love.graphics.pop()
  local data = canvas:newImageData()
  local pixel = { data:getPixel(0, 0) }
  data:release()
  canvas:release()
  return pixel
end

local function same_colour(a, b)
  for i = 1, 4 do
    if math.abs(a[i] - b[i]) > 1.5 / 255 then
      return false
    end
  end
  return true
end

local function decoded_pixel(res)
  local data = assert(driver:imagedata(res))
  local pixel = { data:getPixel(0, 0) }
  data:release()
  return pixel
end

cases[#cases + 1] = { name = "a recycled Image is written again, not made anew", start = function(self)
  driver:generate({ prompt = "a red apple", size = "1024x1024", quality = "low" }, protect(function(first, res1, err1)
    check(first ~= nil, "the first image arrives", err1)
    if not first then
      self.done = true
      return
    end
    local first_pixel = decoded_pixel(res1)
    driver:recycle(first)
    driver:generate({ prompt = "a blue pear", size = "1024x1024", quality = "low" }, protect(function(second, res2)
      check(second == first, "an image of the same size is written into the recycled Image")
      local want = decoded_pixel(res2)
      check(not same_colour(first_pixel, want), "the two answers differ (the check below means something)")
      check(second ~= nil and same_colour(drawn_pixel(second), want), "it shows the second image's pixels",
        second and table.concat(drawn_pixel(second), ","))
      driver:recycle(second)
      driver:generate({ prompt = "a wide pear", size = "1536x1024", quality = "low" }, protect(function(third)
        check(third ~= nil and third ~= second and third:getWidth() == 1536, "an image of another size is a new one")
        check(pcall(function() return second:getWidth() end), "the spare is kept for a later image")
        local ok = pcall(driver.recycle, driver, "not an image")
        check(not ok, "recycle raises for what is not an Image")
        self.done = true
      end))
    end))
  end))
end }

cases[#cases + 1] = { name = "a 6 MB image is decoded off the game's thread, partials first", start = function(self)
  srv:config{ image_bytes = 6000000, sse_interval = 0.1 }
  -- The game's own love.image is not the worker's (a thread has its own Lua
  -- state): count the decodes that would run on this thread.
  self.decode_image_data = love.image.newImageData
  self.main_decodes = 0
  love.image.newImageData = function(...)
    self.main_decodes = self.main_decodes + 1
    return self.decode_image_data(...)
  end
  -- Nor may the bytes pass through this thread: no Lua string of them
  -- (Buffer:string), no love Data made of them here (the worker copies
  -- from the buffer's address itself).
  self.originals = { string = buffer_methods.string, newByteData = love.data.newByteData,
                     newFileData = love.filesystem.newFileData }
  self.main_copies = {}
  local function counted(name, fn)
    return function(...)
      self.main_copies[#self.main_copies + 1] = name
      return fn(...)
    end
  end
  buffer_methods.string = counted("Buffer:string", self.originals.string)
  love.data.newByteData = counted("love.data.newByteData", self.originals.newByteData)
  love.filesystem.newFileData = counted("love.filesystem.newFileData", self.originals.newFileData)
  self.partials = {}
  self.started = love.timer.getTime()
  self.longest = 0
  driver:generate({ prompt = "a big noisy picture", quality = "low", stream = true, partial_images = 2,
                    on_partial_image = protect(function(image, index)
                      check(in_update, "a partial image is shown from driver:update")
                      self.partials[#self.partials + 1] = { index = index, width = image:getWidth() }
                    end) },
    protect(function(image, res, err)
      love.image.newImageData = self.decode_image_data
      buffer_methods.string = self.originals.string
      love.data.newByteData = self.originals.newByteData
      love.filesystem.newFileData = self.originals.newFileData
      srv:config{ image_bytes = cjson_null, sse_interval = 0 }
      check(res ~= nil and err == nil, "the 6 MB result arrives", err)
      check(res and res.images[1].bytes == nil and res.images[1].buffer ~= nil and #res.images[1].buffer > 6000000,
        "the 6 MB image reached the worker as a gptimage.Buffer, never a Lua string")
      check(#self.partials == 2 and self.partials[1].index == 0 and self.partials[2].index == 1,
        "both partial images were shown, in order, before the final one", #self.partials)
      check(image ~= nil and image:type() == "Image" and image:getWidth() == 1414,
        "the callback gets the decoded 6 MB image", image and image:getWidth())
      check(self.main_decodes == 0, "no image was decoded on the game's thread", self.main_decodes)
      check(#self.main_copies == 0, "the image and its partials never became a Lua string or love Data on the game's thread",
        table.concat(self.main_copies, ", "))
      say(string.format("# 6 MB image with 2 partials: %d frames, longest frame %.1f ms (reported, not checked)",
        self.frames, self.longest * 1000))
      self.done = true
    end))
end, frame = function(self)
  local now = love.timer.getTime()
  if self.last and now - self.last > self.longest then
    self.longest = now - self.last
  end
  self.last = now
end }

cases[#cases + 1] = { name = "an API error reaches the callback", start = function(self)
  srv:fault{ action = "error", status = 400, message = "Your prompt is not allowed.",
             code = "invalid_prompt" }
  driver:generate({ prompt = "something refused", quality = "low" },
    protect(function(image, res, err)
      check(image == nil and res == nil, "no image and no result on error")
      check(type(err) == "table" and err.kind == "api", "err.kind is \"api\"", err and err.kind)
      check(err and err.status == 400, "err.status is 400", err and err.status)
      check(driver:pending() == 0, "no job left in flight")
      self.done = true
    end))
end }

cases[#cases + 1] = { name = "cancelling reaches the callback", start = function(self)
  self.requests_before = #srv:requests()
  srv:fault{ action = "delay", delay = 5 }
  self.save = work_dir .. "/cancelled/never.png"
  self.calls = 0
  self.job = driver:generate({ prompt = "never finished", quality = "low", save = self.save },
    protect(function(image, res, err)
      self.calls = self.calls + 1
      check(self.calls == 1, "the callback runs once")
      check(image == nil and res == nil and type(err) == "table" and err.kind == "cancelled",
        "err.kind is \"cancelled\"", err and err.kind)
      check(driver:pending() == 0, "no job left in flight")
      local listing = io.popen("ls -A " .. fake.shell_quote(work_dir .. "/cancelled") .. " 2>/dev/null")
      local leftovers = listing:read("*a")
      listing:close()
      check(leftovers == "" and read_file(self.save) == nil, "no file is left behind", leftovers)
      self.done = true
    end))
end, frame = function(self)
  -- Cancel once the server holds the request: the transfer is in flight.
  if self.job and self.frames % 5 == 0 and not self.cancelled then
    if #srv:requests() > self.requests_before then
      self.cancelled = true
      check(driver:cancel(self.job) == true, "cancel returns true for a job in flight")
    end
  end
end }

cases[#cases + 1] = { name = "a raising callback comes out of update", start = function(self)
  driver:generate({ prompt = "a raising callback", quality = "low" }, function()
    error("boom from a callback")
  end)
  self.expect_error = "boom from a callback"
end, raised = function(self, err)
  check(tostring(err):find("boom from a callback", 1, true) ~= nil,
    "driver:update re-raises the callback error", err)
  check(driver:pending() == 0, "the raising job is no longer in flight")
  -- The driver stays usable.
  driver:generate({ prompt = "after the error", quality = "low" }, protect(function(image, res, err2)
    check(image ~= nil and res ~= nil, "a later job still completes", err2)
    self.done = true
  end))
end }

cases[#cases + 1] = { name = "a GIF becomes a sheet, quads and durations", start = function(self)
  local images = require "helpers.images"
  local gif = images.gif{ width = 8, height = 6, palette = { { 255, 0, 0 }, { 0, 0, 255 } }, frames = {
    { pixels = 0, delay = 10 }, { pixels = 1, delay = 20 }, { pixels = 0, delay = 30 } } }
  local walk, err = driver:animation(gif, { columns = 2, padding = 1 })
  check(walk ~= nil and walk.image:type() == "Image", "animation gives a love Image", err)
  if walk then
    check(walk.image:getWidth() == 19 and walk.image:getHeight() == 15, "the sheet is 2 columns and 2 rows with padding",
      walk.image:getWidth() .. "x" .. walk.image:getHeight())
    local x, y, w, h = walk.quads[3]:getViewport()
    check(#walk.quads == 3 and x == 1 and y == 8 and w == 8 and h == 6, "quad 3 points at the third frame",
      table.concat({ x, y, w, h }, ","))
    check(walk.durations[2] == 0.2 and math.abs(walk.duration - 0.6) < 1e-9, "durations are in seconds")
    check(select(2, walk:at(0.15)) == 2 and select(2, walk:at(0.65)) == 1, "at(t) loops through the frames")
  end
  local path = work_dir .. "/walk.gif"
  util.write(path, gif)
  check(driver:animation(path) ~= nil, "animation takes a GIF path")
  local none, none_err = driver:animation("GIF89a")
  check(none == nil and none_err and none_err.kind == "decode", "a broken GIF gives a decode error")
  self.done = true
end }

function love.load()
  started_at = love.timer.getTime()
  work_dir = os.tmpname()
  os.remove(work_dir)
  assert(os.execute("mkdir -p " .. fake.shell_quote(work_dir)))
  srv = fake.start{}
  driver = gl.new{ api_key = "sk-test", base_url = srv.base_url, max_retries = 0, model = "gpt-image-1" }
  local major, minor = love.getVersion()
  say(string.format("# LÖVE %d.%d, %s, gptimage %s, %s", major, minor,
    jit and jit.version or _VERSION, tostring(gptimage.version),
    select(4, love.graphics.getRendererInfo())))
  next_case()
end

function love.update(dt)
  if finished then
    return
  end
  frame = frame + 1
  if love.timer.getTime() - started_at > HANG_GUARD then
    check(false, "hang guard: still running after " .. HANG_GUARD .. " s, in " .. case.name)
    finish()
    return
  end
  case.frames = case.frames + 1
  if case.frame then
    case.frame(case)
  end
  in_update = true
  local ok, err = pcall(driver.update, driver, dt)
  in_update = false
  if not ok then
    if case.raised and case.expect_error then
      case.expect_error = nil
      case.raised(case, err)
    else
      check(false, "driver:update raised", err)
      case.done = true
    end
  end
  if case.done then
    next_case()
  end
end

function love.draw()
  local t = love.timer.getTime()
  love.graphics.clear(0.1, 0.1, 0.12)
  love.graphics.arc("line", "open", 160, 120, 30, t * 6, t * 6 + 4)
  love.graphics.print(case and case.name or "", 10, 10)
end
