-- gptimage.nvim.results: what the Neovim helper hands its callbacks.
--
-- The helper asks for unsaved images as gptimage.Buffer (`buffer = true`),
-- so that the timer tick that finishes a job never copies an image into a
-- Lua string (about 1 ms per MB). Contract: ask(call) sets `buffer` on a
-- call (or a batch entry) that neither saves nor chose itself, and says
-- whether it did; usable(image) then gives such an image its `bytes` as a
-- string made on first read, on the main loop where the callback runs, so
-- that callbacks reading image.bytes keep working and those that pass
-- image.buffer on (or ignore the bytes) never pay for the copy.

local M = {}

local LAZY_BYTES = {
  __index = function(image, key)
    if key ~= "bytes" then
      return nil
    end
    local buffer = rawget(image, "buffer")
    if buffer == nil then
      return nil
    end
    local bytes = buffer:string()
    rawset(image, "bytes", bytes)
    return bytes
  end,
}

--- Sets call.buffer when the call neither saves nor chose; true if it did.
function M.ask(call)
  if call.save == nil and call.buffer == nil then
    call.buffer = true
    return true
  end
  return false
end

--- An image (or partial image) table, given its bytes on first read.
function M.usable(image)
  if type(image) == "table" and rawget(image, "buffer") ~= nil and getmetatable(image) == nil then
    setmetatable(image, LAZY_BYTES)
  end
  return image
end

--- A result's images made usable; res is returned.
function M.result(res)
  if type(res) == "table" and type(res.images) == "table" then
    for _, image in ipairs(res.images) do
      M.usable(image)
    end
  end
  return res
end

--- A batch's results ({ res, err } per entry) made usable; returned.
function M.batch(results)
  if type(results) == "table" then
    for _, entry in ipairs(results) do
      if type(entry) == "table" then
        M.result(entry.res)
      end
    end
  end
  return results
end

return M
