-- Host test: examples/love, the example game, played in a real LÖVE window
-- as a player would: text typed through love.textinput, keys through
-- love.keypressed, and what the game draws read back from the
-- love.graphics calls it makes (text with its colour, images with their
-- size). Against the fake Images API over real HTTP.
--
--   xvfb-run -a -s "-screen 0 640x480x24" love spec/hosts/love_example
--
-- with GPTIMAGE_SOURCE_DIR and GPTIMAGE_BUILD_DIR set, as ctest does. It
-- puts the Lua 5.4 build (when one is there) first on package.cpath, as the
-- README's LUA_CPATH line does, to show that the game still finds the LuaJIT
-- one. Prints one line per check and a summary; exits 0 when all passed.

local HANG_GUARD = 60  -- seconds

local function say(line)
  io.stdout:write(line, "\n")
  io.stdout:flush()
end

function love.errorhandler(message)
  say("FAIL - error: " .. debug.traceback(tostring(message), 2))
  say("love example test: error, exiting")
  return function() return 1 end
end

local source_dir = os.getenv("GPTIMAGE_SOURCE_DIR")
local build_dir = os.getenv("GPTIMAGE_BUILD_DIR")
if not source_dir or source_dir == "" or not build_dir or build_dir == "" then
  error("set GPTIMAGE_SOURCE_DIR and GPTIMAGE_BUILD_DIR")
end
package.path = source_dir .. "/spec/?.lua;" .. source_dir .. "/examples/love/?.lua;" .. package.path
-- The helpers need lua-cjson only; gptimage itself is the example's to find.
local fake = require "helpers.server"
local util = require "helpers.util"

local other_lua = source_dir .. "/build/lua5.4/gptimage.so"
local have_other_lua = util.exists(other_lua)

local passed, failed = 0, 0
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

-- The message for a module built for another Lua, before anything loads
-- gptimage: only that build on the path, no source tree to search.
if have_other_lua then
  local saved = package.cpath
  package.cpath = source_dir .. "/build/lua5.4/?.so"
  local gl, problem = require("locate")(nil)
  check(gl == nil and problem and problem:find("built for another Lua", 1, true)
    and problem:find("build/luajit", 1, true),
    "a module built for Lua 5.4 is named as such, with the LuaJIT build command", problem)
  package.cpath = saved
  package.loaded["locate"] = nil
else
  say("# no build/lua5.4/gptimage.so: the other-Lua message is not checked")
end
if have_other_lua then
  package.cpath = source_dir .. "/build/lua5.4/?.so;" .. package.cpath   -- LUA_CPATH first
end

local srv = fake.start{}
local env_base = srv.base_url
-- The example reads its settings from the environment.
local getenv = os.getenv
os.getenv = function(name)
  if name == "GPTIMAGE_BASE_URL" then
    return env_base
  elseif name == "OPENAI_API_KEY" then
    return ""
  end
  return getenv(name)
end

-- What the game draws this frame.
local drawn = { texts = {}, images = {} }
local color = { 1, 1, 1, 1 }
local graphics = love.graphics
local real = { printf = graphics.printf, draw = graphics.draw, setColor = graphics.setColor }
graphics.setColor = function(r, g, b, a)
  if type(r) == "table" then
    r, g, b, a = r[1], r[2], r[3], r[4]
  end
  color = { r, g, b, a or 1 }
  return real.setColor(r, g, b, a)
end
graphics.printf = function(text, ...)
  drawn.texts[#drawn.texts + 1] = { text = tostring(text), color = color }
  return real.printf(text, ...)
end
graphics.draw = function(drawable, ...)
  if type(drawable) == "userdata" and drawable.typeOf and drawable:typeOf("Image") then
    local quad = select(1, ...)
    if not (type(quad) == "userdata" and quad.typeOf and quad:typeOf("Quad")) then
      quad = nil
    end
    drawn.images[#drawn.images + 1] = { drawable = drawable, width = drawable:getWidth(), quad = quad }
  end
  return real.draw(drawable, ...)
end

-- The example game, loaded as LÖVE would load its main.lua.
local game = {}
do
  local ours = { load = love.load, update = love.update, draw = love.draw }
  local chunk = assert(loadfile(source_dir .. "/examples/love/main.lua"))
  chunk()
  game.load, game.update, game.draw = love.load, love.update, love.draw
  game.textinput, game.keypressed = love.textinput, love.keypressed
  love.load, love.update, love.draw = ours.load, ours.update, ours.draw
end

local function status_line()
  for _, item in ipairs(drawn.texts) do
    if item.text:find("^generating") or item.text:find("^partial") or item.text:find("^saved")
      or item.text:find("^cancelled") or item.text:find("^walk cycle") or item.text:find("^could not") or item.text:find("^type a prompt")
      or item.text:find("OPENAI_API_KEY") or item.text:find("gptimage") then
      return item
    end
  end
end

local utf8 = require "utf8"
local function type_text(text)
  for _, code in utf8.codes(text) do
    game.textinput(utf8.char(code))
  end
end

local function red(item)
  return item and item.color[1] > 0.8 and item.color[2] < 0.5 and item.color[3] < 0.5
end

local save_dir
local steps, step = {}, 1
local step_started = 0
local frame = 0
local seen_partial_before_done = false
local partials_drawn = {}  -- every partial Image drawn, as keys

steps[#steps + 1] = { name = "starts with a prompt line and a hint", run = function()
  local line = status_line()
  check(line and line.text:find("^type a prompt"), "the game asks for a prompt", line and line.text)
  type_text("a red fox")
  game.keypressed("backspace")
  type_text("x in snow")
  game.keypressed("return")
  return true
end }

steps[#steps + 1] = { name = "partial images stream in, then the result is saved", run = function()
  local line = status_line()
  if line and line.text:find("^partial") and #drawn.images > 0 then
    seen_partial_before_done = true
    partials_drawn[drawn.images[1].drawable] = true
  end
  if not (line and line.text:find("^saved")) then
    return false
  end
  check(seen_partial_before_done, "a partial image was drawn while the job ran")
  local request = srv:last_request()
  check(request.json.prompt == "a red fox in snow", "the typed prompt was sent", request.json.prompt)
  check(request.json.stream == true and request.json.partial_images == 2, "streaming with partial images")
  check(#drawn.images == 1 and drawn.images[1].width == 1024, "the result is drawn")
  -- the game hands each replaced image back (images:recycle): the result is
  -- written into the texture of the partial image two steps before it
  check(#drawn.images == 1 and partials_drawn[drawn.images[1].drawable],
    "the result was written into a replaced partial image's texture, not a new one")
  save_dir = love.filesystem.getSaveDirectory() .. "/images"
  local files = util.listdir(save_dir)
  check(#files == 1 and files[1]:find("a%-red%-fox%-in%-snow%.png$"), "the image is saved under images/",
    table.concat(files, " "))
  check(not red(line), "the status line is not red")
  srv:fault{ action = "status", status = 401 }
  game.keypressed("return")
  return true
end }

steps[#steps + 1] = { name = "an API error is a calm status line", run = function()
  local line = status_line()
  if not (line and line.text:find("^could not")) then
    return false
  end
  check(line.text:find("401") and line.text:find("OPENAI_API_KEY"), "it says what went wrong", line.text)
  check(not red(line), "not in red", table.concat(line.color, ","))
  check(#drawn.images == 1, "the last picture stays on screen")
  srv:fault{ action = "delay", delay = 5 }
  step_started = #srv:requests()
  game.keypressed("return")
  return true
end }

steps[#steps + 1] = { name = "escape cancels, calmly, and the game goes on", run = function()
  local line = status_line()
  if #srv:requests() > step_started and line and line.text:find("^generating") then
    game.keypressed("escape")
    return false
  end
  if not (line and line.text:find("^cancelled")) then
    return false
  end
  check(not red(line), "the cancel is not red", line.text)
  check(#util.listdir(save_dir) == 1, "nothing more is saved")
  type_text(" walking")
  game.keypressed("f2")
  return true
end }

-- F2: a walk cycle as a GIF, played frame by frame. Distinct quads are
-- counted over drawn frames; the step ends once several have been seen.
local walk_quads, walk_frames = {}, 0
steps[#steps + 1] = { name = "F2 asks for a walk cycle and plays it", run = function()
  local line = status_line()
  if line and line.text:find("^could not") then
    check(false, "the walk cycle arrives", line.text)
    return true
  end
  if not (line and line.text:find("^walk cycle")) then
    return false
  end
  local sheet = drawn.images[1]
  if walk_frames == 0 then
    local request = srv:last_request()
    check(request.json.output_format == "gif" and request.json.frame_count == 8,
      "a gif of 8 frames was asked for", tostring(request.json.output_format) .. " " .. tostring(request.json.frame_count))
    check(request.json.prompt:find("^a red fox in snow walking, a side%-view walk cycle"),
      "the typed prompt asks for a walk cycle", request.json.prompt)
    check(line.text:find("^walk cycle of 8 frames"), "the animation has 8 frames", line.text)
    check(#drawn.images == 1 and sheet.quad ~= nil, "the sheet is drawn through a quad")
    local files = util.listdir(save_dir)
    local gifs = 0
    for _, name in ipairs(files) do
      if name:find("walking%.gif$") then gifs = gifs + 1 end
    end
    check(gifs == 1, "the gif is saved under images/", table.concat(files, " "))
  end
  walk_frames = walk_frames + 1
  if sheet and sheet.quad then
    local x, y = sheet.quad:getViewport()
    walk_quads[x .. "," .. y] = true
  end
  local distinct = 0
  for _ in pairs(walk_quads) do distinct = distinct + 1 end
  if distinct < 3 then
    return false
  end
  check(distinct >= 3, "several different frames were drawn", distinct .. " in " .. walk_frames .. " frames")
  return true
end }

-- Empties images/ of the game's save folder.
local function clear_saved()
  for _, name in ipairs(love.filesystem.getDirectoryItems("images")) do
    love.filesystem.remove("images/" .. name)
  end
end

local started = 0
function love.load()
  started = love.timer.getTime()
  clear_saved()   -- what an earlier run left
  game.load({})
  say("# " .. tostring(love.filesystem.getSaveDirectory()))
end

function love.update(dt)
  frame = frame + 1
  game.update(dt)
  if love.timer.getTime() - started > HANG_GUARD then
    check(false, "hang guard: still running after " .. HANG_GUARD .. " s, in " .. steps[step].name)
    step = #steps + 1
  end
end

function love.draw()
  drawn = { texts = {}, images = {} }
  game.draw()
  if frame < 2 or step > #steps then
    if step > #steps then
      srv:stop()
      clear_saved()
      say(string.format("love example test: %d passed, %d failed", passed, failed))
      love.event.quit(failed == 0 and 0 or 1)
      step = math.huge
    end
    return
  end
  if step == math.huge then
    return
  end
  if steps[step].announced == nil then
    steps[step].announced = true
    say("# " .. steps[step].name)
  end
  if steps[step].run() then
    step = step + 1
  end
end
