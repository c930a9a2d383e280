-- A small LÖVE game that keeps animating while an image is generated, then
-- shows it. From the source tree, after building for LuaJIT:
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
-- Keys: space or return generates again, escape cancels (or quits when idle).
-- Once installed (cmake --install or luarocks), no paths need to be set.

-- From the source tree, find the Lua parts and the LuaJIT build.
local repo = love.filesystem.getSource():gsub("/+$", "") .. "/../.."
package.path = package.path .. ";" .. repo .. "/lua/?.lua"
package.cpath = package.cpath .. ";" .. repo .. "/build/luajit/?.so"

local DEFAULT_PROMPT = "a pixel-art treasure chest on a grassy hill, 16-bit game art"

local images          -- the gptimage.love driver
local prompt
local job             -- the generation in flight, if any
local picture         -- the last love Image
local status = ""
local problem         -- a message shown in red
local started_at, elapsed = 0, 0
local frames_while_waiting = 0

local function generate()
  if job or not images then
    return
  end
  problem = nil
  started_at = love.timer.getTime()
  frames_while_waiting = 0
  status = "generating..."
  job = images:generate({ prompt = prompt, size = "1024x1024", quality = "low" },
    function(image, res, err)
      job = nil
      elapsed = love.timer.getTime() - started_at
      if not image then
        problem = tostring(err or "the image could not be shown")
        status = ""
        return
      end
      picture = image
      local cost = res.cost and string.format(", $%.3f", res.cost) or ""
      status = string.format("done in %.1f s, %d frames drawn meanwhile%s",
        elapsed, frames_while_waiting, cost)
    end)
end

function love.load(args)
  prompt = #args > 0 and table.concat(args, " ") or DEFAULT_PROMPT
  local base_url = os.getenv("GPTIMAGE_BASE_URL") or os.getenv("OPENAI_BASE_URL")
  if base_url == "" then
    base_url = nil
  end
  local api_key = os.getenv("OPENAI_API_KEY")
  if (api_key == nil or api_key == "") and base_url then
    api_key = "sk-local" -- the fake API takes any key
  end
  if api_key == nil or api_key == "" then
    problem = "Set OPENAI_API_KEY, or GPTIMAGE_BASE_URL to a local fake API."
    return
  end
  local ok, driver = pcall(function()
    return require("gptimage.love").new{ api_key = api_key, base_url = base_url }
  end)
  if not ok then
    problem = "Cannot load gptimage: " .. tostring(driver)
      .. "\nBuild it for LuaJIT, or set LUA_CPATH and LUA_PATH."
    return
  end
  images = driver
  generate()
end

function love.update(dt)
  if images then
    images:update(dt)
  end
  if job then
    frames_while_waiting = frames_while_waiting + 1
  end
end

function love.keypressed(key)
  if key == "space" or key == "return" then
    generate()
  elseif key == "escape" then
    if job then
      images:cancel(job) -- the callback reports "cancelled"
    else
      love.event.quit()
    end
  end
end

local function draw_spinner(x, y, t)
  for i = 0, 11 do
    local angle = t * 4 + i * math.pi / 6
    local fade = ((i + 1) / 12)
    love.graphics.setColor(0.4 + 0.6 * fade, 0.7 * fade, 1, fade)
    love.graphics.circle("fill", x + math.cos(angle) * 40, y + math.sin(angle) * 40, 4 + 4 * fade)
  end
  love.graphics.setColor(1, 1, 1)
end

function love.draw()
  local width, height = love.graphics.getDimensions()
  local t = love.timer.getTime()
  love.graphics.clear(0.08, 0.08, 0.11)
  if picture then
    local scale = math.min(width / picture:getWidth(), (height - 100) / picture:getHeight())
    love.graphics.setColor(job and 0.35 or 1, job and 0.35 or 1, job and 0.35 or 1)
    love.graphics.draw(picture, (width - picture:getWidth() * scale) / 2, 40, 0, scale, scale)
    love.graphics.setColor(1, 1, 1)
  end
  if job then
    draw_spinner(width / 2, height / 2, t)
    status = string.format("generating... %.1f s, %d frames", t - started_at, frames_while_waiting)
  end
  love.graphics.printf(prompt or "", 10, 10, width - 20, "center")
  love.graphics.printf(status, 10, height - 50, width - 20, "center")
  if problem then
    love.graphics.setColor(1, 0.4, 0.4)
    love.graphics.printf(problem, 20, height / 2 + 60, width - 40, "center")
    love.graphics.setColor(1, 1, 1)
  end
  love.graphics.printf("space: again   escape: cancel / quit", 10, height - 25, width - 20, "center")
end
