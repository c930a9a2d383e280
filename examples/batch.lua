-- Turns a list of prompts into a folder of icons, four requests at a time,
-- without stopping at the first failure.
--   lua5.4 examples/batch.lua
local gptimage = require "gptimage"

local items = { "sword", "shield", "potion", "key", "scroll", "bow" }
local list = {}
for i, name in ipairs(items) do
  list[i] = {
    op = "generate",
    prompt = "a pixel-art " .. name .. " icon, 16-bit, plain background",
    quality = "low",
    size = "1024x1024",
    save = "out/icons/" .. name .. ".png",
  }
end

local client = gptimage.new{}
local results = client:batch(list, {
  concurrency = 4,
  on_progress = function(done, total, index, res, err)
    print(("[%d/%d] %s: %s"):format(done, total, items[index],
      res and res.images[1].path or tostring(err)))
  end,
})

local failed, cost = 0, 0
for _, r in ipairs(results) do
  if r.err then failed = failed + 1 end
  if r.res and r.res.cost then cost = cost + r.res.cost end
end
print(("%d images, %d failed, $%.4f"):format(#results - failed, failed, cost))
os.exit(failed == 0 and 0 or 1)
