-- Starts a generation and keeps a frame loop running while it is in flight:
-- the shape of a game loop or an editor timer.  poll() never blocks.
--   lua5.4 examples/async.lua
local gptimage = require "gptimage"

local client = gptimage.new{}
local finished = false
local job = client:start("generate", {
  prompt = "a watercolor map of a small island",
  quality = "low",
  save = "out/map.png",
  on_done = function(res, err)
    finished = true
    print(res and ("\nsaved " .. res.images[1].path) or ("\nfailed: " .. tostring(err)))
  end,
})

local spinner, frame = { "|", "/", "-", "\\" }, 0
while not finished do
  client:poll()
  frame = frame + 1
  io.write("\rworking ", spinner[frame % 4 + 1], " frame ", frame)
  io.flush()
  os.execute("sleep 0.05") -- stands for the rest of a frame's work
end
print(("job %s after %d frames"):format(job:status(), frame))
