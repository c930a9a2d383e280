-- Generates two pixel-art sprites and saves them as out/sword-1.png and
-- out/sword-2.png.  Uses OPENAI_API_KEY (and OPENAI_BASE_URL if set).
--   lua5.4 examples/generate.lua ["prompt"] [output]
local gptimage = require "gptimage"

local prompt = arg[1] or "a pixel-art sword on a transparent background, 16-bit game sprite"
local output = arg[2] or "out/sword.png"

local client = gptimage.new{}
local res, err = client:generate{
  prompt = prompt,
  size = "1024x1024",
  quality = "low",
  background = "transparent",
  n = 2,
  save = output,
}
if not res then
  io.stderr:write(tostring(err), "\n")
  os.exit(1)
end
for i, image in ipairs(res.images) do
  print(("image %d: %s"):format(i, image.path))
end
if res.cost then print(("cost: $%.4f"):format(res.cost)) end
print("request id: " .. tostring(res.request_id))
client:close()
