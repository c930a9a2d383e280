-- A small LÖVE game that keeps animating while an image is generated:
-- type a prompt, press Return, watch the partial images stream in, and the
-- result is shown and saved. From the source tree, after building for
-- LuaJIT:
--
--   cmake -S . -B build/luajit -DGPTIMAGE_LUA=luajit && cmake --build build/luajit
--   OPENAI_API_KEY=sk-... love examples/love "a pixel-art dragon guarding gold"
--
-- Without a key, against the bundled fake API (slowed down to 3 s an image):
--
--   python3 spec/server/fake_api.py --port 8765 &
--   curl -s -X POST -d '{"delay": 3}' http://127.0.0.1:8765/__control/config
--   GPTIMAGE_BASE_URL=http://127.0.0.1:8765/v1 love examples/love
--
-- Keys: type the prompt, Return generates, F2 asks for a walk cycle of it (a
-- GIF, played as an animation), Escape cancels (or quits when idle). Images
-- are saved in the game's save folder, under images/.

local utf8 = require "utf8"
local locate = require "locate"

local DEFAULT_PROMPT = "a pixel-art treasure chest on a grassy hill, 16-bit game art"
local REQUEST = { size = "1024x1024", quality = "low", stream = true, partial_images = 2 }
-- F2: the prompt as a looping walk cycle, an animated GIF (no streaming).
local WALK = { size = "1024x1024", quality = "low", output_format = "gif", frame_count = 8 }
local WALK_SUFFIX = ", a side-view walk cycle, one frame per step, looping"

local TONES = {
  busy = { 0.55, 0.75, 1 },
  done = { 0.6, 0.9, 0.6 },
  calm = { 0.75, 0.75, 0.75 },   -- a cancel, or a failure: said calmly, not in red
  hint = { 0.5, 0.5, 0.55 },
}

local images           -- the gptimage.love driver
local prompt = ""      -- what the player types
local job              -- the generation in flight, if any
local picture          -- the last love Image (a partial while one streams)
local walk             -- the last walk cycle: images:animation's result, played in draw
local partials = 0
local status, tone = "", "hint"
local started_at = 0

local function say(text, kind)
  status, tone = text, kind
end

-- Shows an image (or a walk cycle) in place of the last one. The last
-- image goes back to the driver, which writes the next image of its size
-- into it (a new texture would cost milliseconds in that frame) and
-- releases what it does not keep: LuaJIT's collector does not know that an
-- Image holds megabytes, so a dropped one would wait long for it.
local function show(image, animation)
  if picture and picture ~= image then
    images:recycle(picture)
  end
  if walk and walk ~= animation then
    walk.image:release()
  end
  picture, walk = image, animation
end

-- One calm line for an error table of gptimage (or anything else).
local function describe(err)
  if type(err) ~= "table" then
    return tostring(err)
  end
  local text = tostring(err.message or err.kind):gsub("%s*\n.*", "")
  if err.status == 401 then
    text = text .. " (check OPENAI_API_KEY)"
  end
  return (err.status and (err.status .. ": ") or "") .. text
end

local function slug(text)
  local words = text:lower():gsub("[^%w]+", "-"):gsub("^-+", ""):gsub("-+$", "")
  return words:sub(1, 32):gsub("-+$", "")
end

local function generate(want_walk)
  if job or not images then
    return
  end
  if prompt:match("^%s*$") then
    prompt = DEFAULT_PROMPT
  end
  love.filesystem.createDirectory("images")
  local call = {}
  for key, value in pairs(want_walk and WALK or REQUEST) do
    call[key] = value
  end
  call.prompt = want_walk and (prompt .. WALK_SUFFIX) or prompt
  call.save = string.format("%s/images/%s-%s.{ext}", love.filesystem.getSaveDirectory(),
    os.date("%Y%m%d-%H%M%S"), slug(prompt) ~= "" and slug(prompt) or "image")
  call.on_partial_image = function(image, index)
    show(image, walk)
    partials = partials + 1
    say(string.format("partial image %d…", index + 1), "busy")
  end
  started_at, partials = love.timer.getTime(), 0
  say("generating…", "busy")
  local ok, started = pcall(images.generate, images, call, function(image, res, err)
    job = nil
    if err and err.kind == "cancelled" then
      say("cancelled. Return tries again.", "calm")
    elseif not res then
      say("could not generate: " .. describe(err), "calm")
    elseif want_walk then
      local anim, problem = images:animation(res)
      if not anim then
        say("could not play the walk cycle: " .. describe(problem), "calm")
        return
      end
      show(nil, anim)
      say(string.format("walk cycle of %d frames saved as %s in %.1f s", #anim.quads,
        res.images[1].path:match("[^/]*$"), love.timer.getTime() - started_at), "done")
    else
      show(image or picture, nil)
      say(string.format("saved %s in %.1f s%s", res.images[1].path:match("[^/]*$"),
        love.timer.getTime() - started_at, res.cost and string.format(", $%.3f", res.cost) or ""), "done")
    end
  end)
  if ok then
    job = started
  else
    say("could not start: " .. describe(tostring(started):gsub("^[^:]*%.lua:%d+: ", "")), "calm")
  end
end

function love.load(args)
  love.keyboard.setKeyRepeat(true)
  prompt = table.concat(args, " ")
  local gl, problem = locate(love.filesystem.getSource())
  if not gl then
    say(problem, "calm")
    return
  end
  local base_url = os.getenv("GPTIMAGE_BASE_URL") or os.getenv("OPENAI_BASE_URL")
  if base_url == "" then
    base_url = nil
  end
  local api_key = os.getenv("OPENAI_API_KEY")
  if (api_key == nil or api_key == "") and base_url then
    api_key = "sk-local" -- the fake API takes any key
  end
  if api_key == nil or api_key == "" then
    say("Set OPENAI_API_KEY, or GPTIMAGE_BASE_URL to a local fake API.", "calm")
    return
  end
  images = gl.new{ api_key = api_key, base_url = base_url }
  if #args > 0 then
    generate()
  else
    say("type a prompt and press Return (nothing typed: a treasure chest)", "hint")
  end
end

function love.update(dt)
  if images then
    images:update(dt)
  end
end

function love.textinput(text)
  if not job then
    prompt = prompt .. text
  end
end

function love.keypressed(key)
  if key == "return" or key == "kpenter" then
    generate()
  elseif key == "f2" then
    generate(true)
  elseif key == "escape" then
    if job then
      images:cancel(job) -- the callback says "cancelled"
    else
      love.event.quit()
    end
  elseif key == "backspace" and not job then
    local last = utf8.offset(prompt, -1)
    if last then
      prompt = prompt:sub(1, last - 1)
    end
  end
end

local function draw_spinner(x, y, t)
  for i = 0, 11 do
    local angle = t * 4 + i * math.pi / 6
    local fade = (i + 1) / 12
    love.graphics.setColor(0.4 + 0.6 * fade, 0.7 * fade, 1, fade)
    love.graphics.circle("fill", x + math.cos(angle) * 30, y + math.sin(angle) * 30, 3 + 3 * fade)
  end
end

function love.draw()
  local width, height = love.graphics.getDimensions()
  local t = love.timer.getTime()
  love.graphics.clear(0.08, 0.08, 0.11)
  if picture then
    local scale = math.min(width / picture:getWidth(), (height - 110) / picture:getHeight())
    love.graphics.setColor(1, 1, 1)
    love.graphics.draw(picture, (width - picture:getWidth() * scale) / 2, 40, 0, scale, scale)
  end
  if walk then
    local quad = walk:at(t)
    local scale = math.min(width / walk.frame_width, (height - 110) / walk.frame_height)
    love.graphics.setColor(1, 1, 1)
    love.graphics.draw(walk.image, quad, (width - walk.frame_width * scale) / 2, 40, 0, scale, scale)
  end
  if job then
    draw_spinner(width - 50, height - 75, t)
  end
  love.graphics.setColor(1, 1, 1)
  local caret = (not job and math.floor(t * 2) % 2 == 0) and "_" or ""
  love.graphics.printf("> " .. prompt .. caret, 10, 10, width - 20, "left")
  love.graphics.setColor(TONES[tone] or TONES.hint)
  local line = status
  if job then
    line = string.format("%s %.1f s", status, t - started_at)
  end
  love.graphics.printf(line, 10, height - 50, width - 80, "left")
  love.graphics.setColor(TONES.hint)
  love.graphics.printf("Return: generate   F2: walk cycle   Escape: cancel / quit", 10, height - 25, width - 20, "left")
  love.graphics.setColor(1, 1, 1)
end
