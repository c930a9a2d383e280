-- Frame times in a real LÖVE window while gptimage.love generates an image:
-- from images:generate to the image drawn on screen, the length of every
-- frame by the wall clock (love.timer, what a player feels, but also every
-- other process on a shared machine) and by the game thread's own CPU clock
-- (what the game and gptimage spent on that thread). Run by bench/polls.py
-- under xvfb-run against the fake server:
--
--   GPTIMAGE_BASE_URL=... GPTIMAGE_SOURCE_DIR=... GPTIMAGE_BUILD_DIR=... \
--     love bench/love_frames PARTIALS [RUNS]
--
-- PARTIALS 0 asks for a plain answer, 1-3 for a stream with that many
-- partial images (drawn as they come), -1 asks for nothing: the same window
-- for CONTROL_FRAMES frames a run, the floor that the machine's load and the
-- renderer set without gptimage. Prints one JSON object: frames,
-- longest_ms, p99_ms, median_ms (wall), cpu_longest_ms, cpu_p99_ms (game
-- thread CPU), partials_shown, runs; over RUNS generations (default 3).
-- Exits 1 if a generation fails. Measuring starts after a warm-up of a few
-- frames. With GPTIMAGE_FRAME_TRACE=1 the eight longest frames are written
-- to stderr with what they spent where (the phases of love.run and the
-- driver's steps, wall/CPU ms), e.g. through bench/run.sh --hosts.

local source_dir = assert(os.getenv("GPTIMAGE_SOURCE_DIR"), "set GPTIMAGE_SOURCE_DIR")
local build_dir = assert(os.getenv("GPTIMAGE_BUILD_DIR"), "set GPTIMAGE_BUILD_DIR")
package.path = source_dir .. "/lua/?.lua;" .. package.path
package.cpath = build_dir .. "/?.so;" .. package.cpath

local gl = require "gptimage.love"
local ffi = require "ffi"

ffi.cdef [[
struct gptimage_bench_timespec { long tv_sec; long tv_nsec; };
int clock_gettime(int clock, struct gptimage_bench_timespec *now);
]]
local CLOCK_THREAD_CPUTIME_ID = 3
local cpu_now = ffi.new("struct gptimage_bench_timespec")
local function thread_cpu()
  ffi.C.clock_gettime(CLOCK_THREAD_CPUTIME_ID, cpu_now)
  return tonumber(cpu_now.tv_sec) + tonumber(cpu_now.tv_nsec) * 1e-9
end

-- Where each frame's time goes: the phases of love.run and the driver's
-- steps, wall and thread CPU, kept per frame; the longest frames are
-- printed to stderr at the end (GPTIMAGE_FRAME_TRACE=1).
local trace = os.getenv("GPTIMAGE_FRAME_TRACE") == "1"
local frame_parts = {}      -- per frame: { name -> { wall, cpu } }
local current_parts = {}
local function timed(name, fn, ...)
  if not trace then
    return fn(...)
  end
  local wall, cpu = love.timer.getTime(), thread_cpu()
  local results = { n = select("#", ...), fn(...) }
  local part = current_parts[name] or { 0, 0 }
  part[1], part[2] = part[1] + love.timer.getTime() - wall, part[2] + thread_cpu() - cpu
  current_parts[name] = part
  return unpack(results, 1, results.n)
end
local function wrap(object, key, name)
  local original = object[key]
  object[key] = function(...) return timed(name, original, ...) end
end

-- Frames drawn before the first generation, as a game has drawn before it
-- asks for an image: llvmpipe compiles its shaders on the first frames that
-- draw a shape and a texture (several ms of CPU), which is not gptimage's.
local WARM_UP_FRAMES = 30
local warm_up_left = WARM_UP_FRAMES
local warm_up_texture

local images
local partials_wanted, runs_left
local frame_times, frame_cpu = {}, {}
local shown, partials_shown, picture = 0, 0, nil
local generating, started_at, last_frame, last_cpu
local waiting_for_draw = false    -- the final image is ready to draw
local drawn = false               -- and was drawn in the last frame

-- Never leave an error screen waiting for a key.
function love.errorhandler(message)
  io.stderr:write("love frame benchmark: ", debug.traceback(tostring(message), 2), "\n")
  return function() return 1 end
end

local function quit(status, message)
  if message then
    io.stderr:write(message, "\n")
  end
  love.event.quit(status)
end

local CONTROL_FRAMES = 80
local control_frames_left = 0

local function start()
  generating = true
  started_at = love.timer.getTime()
  last_frame, last_cpu = nil, nil
  if partials_wanted < 0 then
    control_frames_left = CONTROL_FRAMES
    return
  end
  local opts = { prompt = "frame benchmark", model = "gpt-image-2.6-flare", size = "1024x1024", quality = "low" }
  if partials_wanted > 0 then
    opts.stream = true
    opts.partial_images = partials_wanted
    local function show(image)
      -- a replaced image goes back to the driver, as the example game does
      if picture and picture ~= image then
        images:recycle(picture)
      end
      picture = image
      partials_shown = partials_shown + 1
    end
    if gl.Driver.decode then
      opts.on_partial_image = show
    else
      -- a driver without on_partial_image: what a game did by hand
      opts.on_partial = function(partial)
        show(images:image(partial.bytes))
      end
    end
  end
  images:generate(opts, function(image, res, err)
    if not image then
      quit(1, "generation failed: " .. tostring(err))
      return
    end
    if picture and picture ~= image then
      images:recycle(picture)
    end
    picture = image
    waiting_for_draw = true
  end)
end

function love.load(args)
  partials_wanted = tonumber(args[1] or "0")
  runs_left = tonumber(args[2] or "3")
  images = gl.new{ api_key = "sk-bench", base_url = os.getenv("GPTIMAGE_BASE_URL"), max_retries = 0 }
  if trace then
    local methods = getmetatable(images.client).__index
    wrap(methods, "poll", "poll")
    wrap(gl.Driver, "collect", "collect")
    wrap(love.graphics, "newImage", "newImage")
    wrap(love.graphics, "present", "present")
    wrap(love.graphics, "draw", "draw")
    wrap(love.event, "pump", "pump")
    wrap(love.timer, "sleep", "sleep")
  end
  warm_up_texture = love.graphics.newImage(love.image.newImageData(16, 16))
end

local function run_done()
  shown = shown + 1
  runs_left = runs_left - 1
  if runs_left > 0 then
    start()
    return
  end
  if trace then
    table.sort(frame_parts, function(a, b) return a.wall > b.wall end)
    for i = 1, math.min(8, #frame_parts) do
      local f = frame_parts[i]
      local text = {}
      for name, part in pairs(f.parts) do
        if type(part) == "table" then
          text[#text + 1] = string.format("%s %.1f/%.1f", name, part[1] * 1000, part[2] * 1000)
        end
      end
      table.sort(text)
      io.stderr:write(string.format("frame %.1f ms wall, %.1f ms CPU, lua heap %d KB: %s\n", f.wall * 1000,
        f.cpu * 1000, f.parts.gc_kb, table.concat(text, ", ")))
    end
  end
  if trace then
    local statm = io.open("/proc/self/statm")
    local pages = statm and tonumber(statm:read("*l"):match("^%d+%s+(%d+)"))
    if statm then
      statm:close()
    end
    io.stderr:write(string.format("resident after %d runs: %.0f MiB\n", shown, (pages or 0) * 4096 / 1048576))
  end
  table.sort(frame_times)
  table.sort(frame_cpu)
  local n = #frame_times
  local function at(list, q)
    return n > 0 and list[math.max(1, math.ceil(q * n))] * 1000 or 0
  end
  io.stdout:write(string.format(
    '{"frames": %d, "longest_ms": %.2f, "p99_ms": %.2f, "median_ms": %.2f, "cpu_longest_ms": %.2f,'
      .. ' "cpu_p99_ms": %.2f, "partials_shown": %d, "runs": %d}\n',
    n, at(frame_times, 1), at(frame_times, 0.99), at(frame_times, 0.5), at(frame_cpu, 1), at(frame_cpu, 0.99),
    partials_shown, shown))
  io.stdout:flush()
  quit(0)
end

function love.update()
  local now, cpu = love.timer.getTime(), thread_cpu()
  if generating and last_frame then
    frame_times[#frame_times + 1] = now - last_frame
    frame_cpu[#frame_cpu + 1] = cpu - last_cpu
    if trace then
      current_parts.gc_kb = collectgarbage("count")
      frame_parts[#frame_parts + 1] = { wall = now - last_frame, cpu = cpu - last_cpu, parts = current_parts }
    end
  end
  current_parts = {}
  last_frame, last_cpu = now, cpu
  if warm_up_left > 0 then
    warm_up_left = warm_up_left - 1
    if warm_up_left == 0 then
      start()
    end
    return
  end
  if control_frames_left > 0 then
    control_frames_left = control_frames_left - 1
    drawn = control_frames_left == 0
  end
  if drawn then
    -- the frame that drew the image has been counted: this run is over
    drawn = false
    generating = false
    run_done()
    return
  end
  images:update()
end

function love.draw()
  local t = love.timer.getTime()
  love.graphics.clear(0.1, 0.1, 0.12)
  if picture then
    love.graphics.draw(picture, 0, 0, 0, 480 / picture:getWidth())
  elseif warm_up_left > 0 then
    love.graphics.draw(warm_up_texture, 0, 0, 0, 30)
  end
  love.graphics.arc("line", "open", 560, 80, 30, t * 6, t * 6 + 4)
  if waiting_for_draw then
    waiting_for_draw = false
    drawn = true
  end
end
