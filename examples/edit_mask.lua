-- Edits an image where a mask is transparent, using several reference
-- images.  The mask must be a PNG with an alpha channel, the size of the
-- first image.
--   lua5.4 examples/edit_mask.lua base.png mask.png "prompt" [reference.png ...]
local gptimage = require "gptimage"

local base, mask, prompt = arg[1], arg[2], arg[3]
if not (base and mask and prompt) then
  io.stderr:write('usage: edit_mask.lua base.png mask.png "prompt" [reference.png ...]\n')
  os.exit(2)
end
local images = { base }
for i = 4, #arg do images[#images + 1] = arg[i] end

local client = gptimage.new{}
local res, err = client:edit{
  image = images,
  mask = mask,
  prompt = prompt,
  input_fidelity = "high",
  quality = "medium",
  save = "out/edited.png",
}
if not res then
  io.stderr:write(tostring(err), "\n")
  os.exit(1)
end
print("saved " .. res.images[1].path)
