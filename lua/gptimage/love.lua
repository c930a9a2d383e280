-- gptimage.love: runs gptimage jobs from a LÖVE game loop.
--
--   local gl = require "gptimage.love"
--   local images = gl.new{ model = "gpt-image-1" }   -- or gl.new(client)
--   function love.update(dt) images:update(dt) end
--   images:generate({ prompt = "a pixel-art sword" }, function(image, res, err)
--     sword = image            -- a love Image of the first result
--   end)
--
-- update() calls client:poll(), which never waits on the network, so the
-- game keeps its frame rate while images are generated. Callbacks run inside
-- update(); an error they raise comes out of update() and so reaches
-- love.errorhandler like any other error of the game.
--
-- Needs LÖVE 11 (LuaJIT). The image is nil when love.graphics cannot be used
-- (no window): driver:imagedata(res) still decodes it.

local gptimage = require "gptimage"

local gl = {}

local Driver = {}
Driver.__index = Driver

local function failure(kind, message)
  return setmetatable({ kind = kind, message = message }, gptimage.Error)
end

local function is_client(value)
  if type(value) ~= "userdata" then
    return false
  end
  local ok, poll = pcall(function() return value.poll end)
  return ok and type(poll) == "function"
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

--- A driver for `client_or_options`: a gptimage client, or the options of
-- gptimage.new (default: from the environment).
function gl.new(client_or_options)
  local client = client_or_options
  if client == nil or type(client) == "table" then
    client = gptimage.new(client or {})
  elseif not is_client(client) then
    error("gptimage.love: new expects a gptimage client or a table of client options, got "
      .. type(client), 2)
  end
  return setmetatable({ client = client, jobs = {}, count = 0 }, Driver)
end

--- Drive every job of the client; call it from love.update. Returns the
-- number of this driver's jobs still in flight. `dt` is accepted so that the
-- call reads like love.update's; polling needs no time step.
function Driver:update(dt) -- luacheck: ignore 212
  self.client:poll()
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
    if entry.bytes then
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
    return love.image.newImageData(love.filesystem.newFileData(bytes, name:match("[^/]*$")))
  end)
  if not ok then
    return nil, failure("decode", "LÖVE cannot decode the image: " .. tostring(data))
  end
  return data
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
  local ok, image = pcall(love.graphics.newImage, data)
  if not ok then
    return nil, failure("decode", "cannot make a love Image: " .. tostring(image))
  end
  return image
end

local function finish(self, job)
  if job and self.jobs[job] then
    self.jobs[job] = nil
    self.count = self.count - 1
  end
end

--- Start `op` ("generate", "edit" or "variation"); callback(image, res, err)
-- runs from update() once it is done: image is a love Image of the first
-- result (nil on failure or without a window). Returns the job.
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
  local call = copy(opts)
  local entry = { finished = false }
  call.on_done = function(res, err)
    entry.finished = true
    finish(self, entry.job)
    if opts.on_done then
      return opts.on_done(res, err)
    end
    if not callback then
      return
    end
    local image
    if res then
      local image_err
      image, image_err = self:image(res, 1)
      if not image and graphics_usable() then
        err = image_err
      end
    end
    return callback(image, res, err)
  end
  local job = self.client:start(op, call)
  if not entry.finished then
    entry.job = job
    self.jobs[job] = true
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
  local cancelled = job:cancel()
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

gl.Driver = Driver

return gl
