-- The OpenAI cookbook's masked edit, all in Lua: generate a character, ask
-- an edit for its black-and-white mask (white where the character is),
-- turn that into the alpha mask the API wants, and redraw only the
-- background around the character.
--   lua5.4 examples/masked_edit.lua ["what the new background is"]
-- Runs against the real API with OPENAI_API_KEY set, or against any
-- compatible server named by OPENAI_BASE_URL.
local gptimage = require "gptimage"

local background = arg[1] or "a snowy pine forest at dusk"
local client = gptimage.new{}

local function check(res, err, step)
  if not res then
    io.stderr:write(step, ": ", tostring(err), "\n")
    os.exit(1)
  end
  return res
end

-- 1. the character
local character = check(client:generate{
  prompt = "a pixel-art knight, full body, standing, plain light grey background",
  size = "1024x1024", quality = "low", save = "out/knight.png",
}, nil, "generate").images[1].path
print("character: " .. character)

-- 2. a black-and-white mask of it, asked of the model
local bw = check(client:edit{
  image = character,
  prompt = "Generate a mask of this image: the knight in pure white, everything else in pure black. "
    .. "No other colours, no shading.",
  quality = "low", save = "out/knight-mask-bw.png",
}, nil, "mask").images[1].path
print("black-and-white mask: " .. bw)

-- 3. alpha = brightness: the knight opaque (kept), the background
-- transparent (redrawn), at the character's size. (An edit also takes
-- mask = { bw = bw } and converts it on the way; here each step is shown.)
local alpha = check(gptimage.alpha_mask(bw, { like = character, save = "out/knight-mask.png" }))
print("alpha mask: " .. alpha)

-- 4. the masked edit: only the transparent part of the mask changes
local res = check(client:edit{
  image = character, mask = alpha,
  prompt = "the same knight, unchanged, standing in " .. background,
  quality = "low", save = "out/knight-new-background.png",
}, nil, "masked edit")
print("edited: " .. res.images[1].path)
