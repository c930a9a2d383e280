-- gptimage.love: runs gptimage jobs from a LÖVE game loop.
--
--   local gl = require "gptimage.love"
--   local images = gl.new{ model = "gpt-image-2.6-flare" }   -- or gl.new(client)
--   function love.update(dt) images:update(dt) end
--   images:generate({ prompt = "a pixel-art sword" }, function(image, res, err)
--     sword = image            -- a love Image of the first result
--   end)
--
-- update() calls client:poll(), which never waits on the network and does
-- a bounded amount of work, so the game keeps its frame rate while images
-- are generated. Images are decoded in a love.thread: the game's thread only
-- hands the worker the address of the bytes (through LuaJIT's FFI, no copy)
-- and, frames later, uploads the decoded ImageData as a texture, one per
-- update. Callbacks run inside update(); an error they raise comes out of
-- update() and so reaches love.errorhandler like any other error of the
-- game.
--
--   images:generate({ prompt = "a castle", stream = true, partial_images = 2,
--                     on_partial_image = function(image, index) preview = image end },
--                   function(image, res, err) castle = image end)
--
--   local walk = assert(images:animation(res))        -- or a GIF path or its bytes
--   -- walk.image, walk.quads[i], walk.durations[i] (seconds); walk:at(t) gives
--   -- the quad to draw t seconds in, looping; with anim8:
--   -- anim8.newAnimation(anim8.newGrid(walk.frame_width, walk.frame_height,
--   --   walk.width, walk.height, walk.padding, walk.padding, walk.padding)("1-" .. #walk.quads, 1), walk.durations)
--
-- images:recycle(old) hands back an Image the game stops drawing: the next
-- image of its size is written into it instead of a new texture.
--
-- Needs LÖVE 11.3 or later (LuaJIT). The image is nil when love.graphics
-- cannot be used (no window): driver:imagedata(res) still decodes it, on the
-- calling thread.

local gptimage = require "gptimage"
local ffi = require "ffi"

local gl = {}

local Driver = {}
Driver.__index = Driver

local function failure(kind, message)
  return setmetatable({ kind = kind, message = message }, gptimage.Error)
end

local function copy(t)
  local out = {}
  for key, value in pairs(t) do
    out[key] = value
  end
  return out
end

local function read_file(path)
  local file, err = io.open(path, "rb")
  if not file then
    return nil, err
  end
  local data, read_err = file:read("*a")
  file:close()
  if not data then
    return nil, read_err
  end
  return data
end

local function graphics_usable()
  return love.graphics ~= nil and love.graphics.isActive ~= nil and love.graphics.isActive()
end

-- The decoding worker's code, run by love.thread. Requests are tables:
-- { id, address, size, name } (copy size bytes from address into a ByteData,
-- answer { id, copied = true } at once so the game may let go of them, then
-- decode) or { id, path, name } (read and decode a saved file). Answers
-- { id, imagedata } or { id, error }. The worker lets go of each Data as
-- soon as it is done with it (Object:release): its Lua state makes so little
-- garbage that its collector would keep megabytes of them for a long time.
local WORKER = [==[
local requests, results = ...
require "love.data"
require "love.filesystem"
require "love.image"
local ffi = require "ffi"
while true do
  local request = requests:demand()
  if request == "stop" then
    return
  end
  local ok, value = pcall(function()
    local data
    if request.address then
      data = love.data.newByteData(request.size)
      ffi.copy(data:getFFIPointer(), ffi.cast("const char *", ffi.cast("uintptr_t", request.address)),
        request.size)
      results:push({ id = request.id, copied = true })
    else
      local file = assert(io.open(request.path, "rb"))
      local bytes = file:read("*a")
      file:close()
      data = love.filesystem.newFileData(bytes, request.name)
    end
    local ok_decode, imagedata = pcall(love.image.newImageData, data)
    data:release()
    assert(ok_decode, imagedata)
    return imagedata
  end)
  if ok then
    results:push({ id = request.id, imagedata = value })
    value:release()   -- the channel and then the game hold it now
  else
    results:push({ id = request.id, error = tostring(value) })
  end
end
]==]

-- The address of a Lua string's or a gptimage.Buffer's bytes, as a number
-- a thread can be given.
local function address_of(bytes)
  if type(bytes) == "string" then
    return tonumber(ffi.cast("uintptr_t", ffi.cast("const char *", bytes)))
  end
  return tonumber(ffi.cast("uintptr_t", bytes:pointer()))
end

--- A driver for `client_or_options`: a gptimage client, or the options of
-- gptimage.new (default: from the environment).
function gl.new(client_or_options)
  local client = client_or_options
  if client == nil or type(client) == "table" then
    client = gptimage.new(client or {})
  elseif gptimage.type(client) ~= "client" then
    error("gptimage.love: new expects a gptimage client or a table of client options, got "
      .. (gptimage.type(client) or type(client)), 2)
  end
  -- libcurl's loading and the trust store's judging (about 8 ms once per
  -- process) happen now, while the game loads, not in the frame of the
  -- first request; a failure is the first request's to report
  gptimage.libcurl()
  return setmetatable({ client = client, jobs = {}, count = 0, decodes = {}, next_decode = 0, ready = {},
                        spares = {} }, Driver)
end

-- Images recycle() keeps at most; an older one is released
local SPARES = 4

--- Hands back an Image the game no longer draws (a partial image the next
-- one replaces, last level's sprite): the next image of the same size and
-- pixel format this driver makes is written into it (Image:replacePixels,
-- a fraction of a millisecond under llvmpipe) instead of a new texture,
-- whose fresh memory costs milliseconds in that frame. The image must not
-- be drawn after this. Keeps the SPARES most recent; releases the others,
-- and anything that is not a plain single-level Image.
function Driver:recycle(image)
  local ok, kind = pcall(function() return image:type() end)
  if not ok or kind ~= "Image" then
    error("gptimage.love: recycle expects a love Image, got " .. type(image), 2)
  end
  local info_ok, width, height, format, levels = pcall(function()
    local w, h = image:getDimensions()
    return w, h, image:getFormat(), image:getMipmapCount()
  end)
  if not info_ok or levels ~= 1 or image:getTextureType() ~= "2d" then
    pcall(image.release, image)
    return
  end
  for _, spare in ipairs(self.spares) do
    if spare.image == image then
      return
    end
  end
  self.spares[#self.spares + 1] = { image = image, width = width, height = height, format = format }
  if #self.spares > SPARES then
    local oldest = table.remove(self.spares, 1)
    pcall(oldest.image.release, oldest.image)
  end
end

-- Hands image bytes (a string or a gptimage.Buffer, kept alive until the
-- worker has copied them) or a saved file to the worker; then(imagedata,
-- err) runs from update().
function Driver:decode(source, name, then_)
  if not self.worker then
    self.requests = love.thread.newChannel()
    self.results = love.thread.newChannel()
    self.worker = love.thread.newThread(love.filesystem.newFileData(WORKER, "gptimage_decoder.lua"))
    self.worker:start(self.requests, self.results)
  end
  self.next_decode = self.next_decode + 1
  local id = self.next_decode
  local request = { id = id, name = name }
  if source.bytes then
    request.address, request.size = address_of(source.bytes), #source.bytes
  else
    request.path = source.path
  end
  self.decodes[id] = { keep = source.bytes, then_ = then_ }
  self.requests:push(request)
end

-- Answers from the worker: copies done let go of their bytes; decoded
-- images wait in `ready`, and one is made a texture per update.
function Driver:collect()
  if not self.results then
    return
  end
  while true do
    local answer = self.results:pop()
    if answer == nil then
      return
    end
    local entry = self.decodes[answer.id]
    if answer.copied then
      entry.keep = nil
    else
      self.decodes[answer.id] = nil
      entry.imagedata, entry.error = answer.imagedata, answer.error
      self.ready[#self.ready + 1] = entry
    end
  end
end

--- Drive every job of the client; call it from love.update. Returns the
-- number of this driver's jobs still in flight (an image being decoded is
-- still in flight). `dt` is accepted so that the call reads like
-- love.update's; polling needs no time step.
function Driver:update(dt) -- luacheck: ignore 212
  self.client:poll()
  self:collect()
  local entry = table.remove(self.ready, 1)
  if entry then
    entry.then_(entry.imagedata, entry.error)
  end
  return self.count
end

--- ImageData of image `index` (default 1) of a result, or of a string of
-- image bytes. Returns nil, err when there is nothing to decode or LÖVE
-- cannot decode it.
function Driver:imagedata(res_or_bytes, index)
  local bytes, name
  if type(res_or_bytes) == "string" then
    bytes, name = res_or_bytes, "image"
  elseif type(res_or_bytes) == "table" then
    index = index or 1
    local images = res_or_bytes.images
    local entry = type(images) == "table" and images[index] or nil
    if entry == nil then
      return nil, failure("decode", "the result has no image " .. tostring(index))
    end
    if entry.buffer then
      bytes = entry.buffer
    elseif entry.bytes then
      bytes = entry.bytes
    elseif entry.path then
      local err
      bytes, err = read_file(entry.path)
      if not bytes then
        return nil, failure("io", "cannot read " .. entry.path .. ": " .. tostring(err))
      end
    else
      return nil, failure("decode", "image " .. index .. " has neither bytes nor a saved file")
    end
    name = entry.path or ("image." .. (res_or_bytes.output_format or "png"))
  else
    error("gptimage.love: imagedata expects a result table or a string of bytes, got "
      .. type(res_or_bytes), 2)
  end
  local ok, data = pcall(function()
    if type(bytes) ~= "string" then
      local copy_of = love.data.newByteData(#bytes)
      ffi.copy(copy_of:getFFIPointer(), bytes:pointer(), #bytes)
      return love.image.newImageData(copy_of)
    end
    return love.image.newImageData(love.filesystem.newFileData(bytes, name:match("[^/]*$")))
  end)
  if not ok then
    return nil, failure("decode", "LÖVE cannot decode the image: " .. tostring(data))
  end
  return data
end

-- An Image recycle() handed back with the size and pixel format of
-- imagedata, its pixels replaced by imagedata's; nil when there is none.
local function reuse(self, imagedata)
  local spares = self.spares
  local width, height = imagedata:getDimensions()
  local format = imagedata:getFormat()
  for i = #spares, 1, -1 do
    local spare = spares[i]
    if spare.width == width and spare.height == height and spare.format == format then
      table.remove(spares, i)
      if pcall(spare.image.replacePixels, spare.image, imagedata) then
        return spare.image
      end
      pcall(spare.image.release, spare.image)
    end
  end
end

local function texture(self, imagedata, decode_err)
  if not imagedata then
    return nil, failure("decode", "LÖVE cannot decode the image: " .. tostring(decode_err))
  end
  local reused = reuse(self, imagedata)
  if reused then
    imagedata:release()
    return reused
  end
  local ok, image = pcall(love.graphics.newImage, imagedata)
  -- the Image keeps what it needs; without this the pixels would wait for
  -- a collection that does not know their size
  imagedata:release()
  if not ok then
    return nil, failure("decode", "cannot make a love Image: " .. tostring(image))
  end
  return image
end

--- A love Image of image `index` (default 1) of a result, or of bytes.
function Driver:image(res_or_bytes, index)
  local data, err = self:imagedata(res_or_bytes, index)
  if not data then
    return nil, err
  end
  if not graphics_usable() then
    return nil, failure("decode", "love.graphics is not active (no window)")
  end
  return texture(self, data)
end

local function finish(self, job)
  if job and self.jobs[job] then
    self.jobs[job] = nil
    self.count = self.count - 1
  end
end

-- What the worker should decode for image `index` of a result or a partial.
local function source_of(entry, fallback_name)
  if entry == nil then
    return nil
  end
  if entry.path then
    return { path = entry.path }, entry.path:match("[^/]*$")
  end
  if entry.buffer or entry.bytes then
    return { bytes = entry.buffer or entry.bytes }, fallback_name
  end
end


--- Start `op` ("generate", "edit" or "variation"); callback(image, res, err)
-- runs from update() once it is done and its first image is decoded: image
-- is a love Image of the first result (nil on failure or without a window).
-- `opts.on_partial_image(image, index, partial)`, when given, runs from
-- update() with a love Image of each partial image as it streams in (set
-- `stream` and `partial_images`), each before the final image. Returns the job.
function Driver:start(op, opts, callback)
  if type(op) ~= "string" then
    error("gptimage.love: op must be a string, got " .. type(op), 2)
  end
  if type(opts) ~= "table" then
    error("gptimage.love: options must be a table, got " .. type(opts), 2)
  end
  if callback ~= nil and type(callback) ~= "function" then
    error("gptimage.love: callback must be a function, got " .. type(callback), 2)
  end
  if callback and opts.on_done then
    error("gptimage.love: give either a callback or opts.on_done, not both", 2)
  end
  local on_partial_image = opts.on_partial_image
  if on_partial_image ~= nil and type(on_partial_image) ~= "function" then
    error("gptimage.love: on_partial_image must be a function, got " .. type(on_partial_image), 2)
  end
  local call = copy(opts)
  call.on_partial_image = nil
  -- unsaved images come as gptimage.Buffer: the game's thread never copies
  -- them into a Lua string, the worker reads them where they are
  if call.buffer == nil and call.save == nil then
    call.buffer = true
  end
  local entry = { finished = false, shown = 0, callback = callback }
  local format = opts.output_format or "png"
  if on_partial_image then
    local user_on_partial = opts.on_partial
    local sent = 0
    call.on_partial = function(partial, index)
      if user_on_partial then
        user_on_partial(partial, index)
      end
      local source, name = source_of(partial, "partial." .. format)
      if source and graphics_usable() then
        sent = sent + 1
        local order = sent
        self:decode(source, name, function(imagedata, decode_err)
          -- shown in order, each before the final image (the worker is FIFO)
          if entry.cancelled or order <= entry.shown then
            return
          end
          entry.shown = order
          local image = texture(self, imagedata, decode_err)
          if image then
            return on_partial_image(image, index, partial)
          end
        end)
      end
    end
  end
  call.on_done = function(res, err)
    entry.finished = true
    if opts.on_done then
      finish(self, entry.job)
      return opts.on_done(res, err)
    end
    local source, name
    if res and graphics_usable() then
      source, name = source_of(res.images[1], "image." .. (res.output_format or format))
    end
    if not callback or not source then
      finish(self, entry.job)
      if res and not source and graphics_usable() then
        err = failure("decode", "the result has no image 1")
      end
      if callback then
        return callback(nil, res, err)
      end
      return
    end
    entry.decoding = true
    self:decode(source, name, function(imagedata, decode_err)
      finish(self, entry.job)
      if entry.cancelled then
        return
      end
      local image, image_err = texture(self, imagedata, decode_err)
      return callback(image, res, image_err)
    end)
  end
  local job = self.client:start(op, call)
  if not entry.finished or entry.decoding then
    entry.job = job
    self.jobs[job] = entry
    self.count = self.count + 1
  end
  return job
end

function Driver:generate(opts, callback)
  return self:start("generate", opts, callback)
end

function Driver:edit(opts, callback)
  return self:start("edit", opts, callback)
end

function Driver:variation(opts, callback)
  return self:start("variation", opts, callback)
end

--- Cancel a job; its callback gets (nil, nil, { kind = "cancelled" }).
function Driver:cancel(job)
  if job == nil then
    error("gptimage.love: cancel expects a job", 2)
  end
  local entry = self.jobs[job]
  local cancelled = job:cancel()
  if entry and entry.decoding and not cancelled then
    -- done, but its image is still being decoded: drop it, as asked
    entry.cancelled = true
    cancelled = true
    self.ready[#self.ready + 1] = { then_ = function()
      return entry.callback(nil, nil, failure("cancelled", "the job was cancelled"))
    end }
  end
  finish(self, job)
  return cancelled
end

--- Cancel every job of this driver; returns how many were cancelled.
function Driver:cancel_all()
  local jobs = {}
  for job in pairs(self.jobs) do
    jobs[#jobs + 1] = job
  end
  local cancelled = 0
  for _, job in ipairs(jobs) do
    if self:cancel(job) then
      cancelled = cancelled + 1
    end
  end
  return cancelled
end

--- How many of this driver's jobs are in flight.
function Driver:pending()
  return self.count
end

local Animation = {}
Animation.__index = Animation

--- The quad to draw `t` seconds into the animation (it loops), and its index.
function Animation:at(t)
  local total = self.duration
  if total <= 0 then
    return self.quads[1], 1
  end
  t = t % total
  for i, d in ipairs(self.durations) do
    if t < d then
      return self.quads[i], i
    end
    t = t - d
  end
  return self.quads[#self.quads], #self.quads
end

--- A GIF as a sprite sheet ready to draw: `source` is a result of a gif
-- generation (its first image), a GIF's path or its bytes; `opts` are
-- gptimage.spritesheet's columns and padding. Returns { image (a love
-- Image of the sheet), quads, durations (seconds), durations_ms, duration
-- (the loop's length, seconds), width, height, frame_width, frame_height,
-- columns, rows, padding, sheet (gptimage.spritesheet's result) } with the
-- method at(t); or nil, err. The frames are composed on the calling thread
-- (tens of milliseconds for a large GIF): make animations while loading.
function Driver:animation(source, opts)
  local gif = source
  if type(source) == "table" then
    local entry = type(source.images) == "table" and source.images[1] or nil
    gif = entry and (entry.bytes or entry.path)
    if gif == nil then
      return nil, failure("decode", "the result has no image")
    end
  elseif type(source) ~= "string" then
    error("gptimage.love: animation expects a result, a GIF path or GIF bytes, got " .. type(source), 2)
  end
  local sheet, err = gptimage.spritesheet(gif, opts and { columns = opts.columns, padding = opts.padding })
  if not sheet then
    return nil, err
  end
  local image
  image, err = self:image(sheet.bytes)
  if not image then
    return nil, err
  end
  local anim = { image = image, quads = {}, durations = {}, durations_ms = {}, duration = 0,
    width = sheet.width, height = sheet.height, frame_width = sheet.frame_width,
    frame_height = sheet.frame_height, columns = sheet.columns, rows = sheet.rows, padding = sheet.padding,
    sheet = sheet }
  for i, f in ipairs(sheet.frames) do
    anim.quads[i] = love.graphics.newQuad(f.x, f.y, f.w, f.h, sheet.width, sheet.height)
    anim.durations_ms[i] = f.duration_ms
    anim.durations[i] = f.duration_ms / 1000
    anim.duration = anim.duration + anim.durations[i]
  end
  sheet.bytes = nil -- the texture has it; let the PNG go
  return setmetatable(anim, Animation)
end

gl.Driver = Driver
gl.Animation = Animation

return gl
