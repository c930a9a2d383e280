-- One image-tools benchmark job for bench/imagetools.py: runs an operation
-- once to warm up, then `reps` times, and prints the CPU seconds per run
-- (os.clock) and the size of what it made.
--   lua imagetools_job.lua mask|sheet INPUT REPS
local gptimage = require "gptimage"
local op, input, reps = arg[1], arg[2], tonumber(arg[3])

local function run()
  if op == "mask" then
    return assert(gptimage.alpha_mask(input))
  elseif op == "sheet" then
    return assert(gptimage.spritesheet(input)).bytes
  end
  error("unknown job " .. tostring(op))
end

local bytes = run()
local start = os.clock()
for _ = 1, reps do bytes = run() end
io.write(string.format("%.6f %d\n", (os.clock() - start) / reps, #bytes))
