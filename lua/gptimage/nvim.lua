-- gptimage.nvim: runs gptimage jobs inside Neovim without blocking it.
--
--   local gi = require "gptimage.nvim"
--   gi.setup{ client = { model = "gpt-image-2.6-flare" }, interval = 50 }
--   gi.generate({ prompt = "a lighthouse", save = "out/lighthouse.png" }, function(res, err) end)
--
-- The jobs run through the runner the command line uses (gptimage.runner), as
-- an open run per client: a vim.loop (luv) timer makes one step of each run
-- per tick (poll the client once, take in the finished jobs), and only while
-- jobs are in flight: it starts with the first job and stops when the last
-- one has been taken in. poll() never waits on the network and does a
-- bounded amount of work (while data is waiting the timer comes back every
-- millisecond), so the editor keeps typing. Callbacks (on_done, on_partial,
-- on_progress) are handed to vim.schedule, where the whole Neovim API may
-- be used. An error raised by a callback, or by poll itself, is reported
-- with vim.notify at ERROR level; the timer goes on driving the other jobs.
--
-- Unsaved images come to the callbacks with `buffer` (a gptimage.Buffer)
-- and `bytes` made from it on first read (gptimage.nvim.results), so that
-- no tick copies an image into a Lua string; a call that sets `buffer`
-- itself gets what it asked for.
--
-- Needs Neovim 0.7 or later (vim.loop, vim.schedule).

local gptimage = require "gptimage"
local runner = require "gptimage.runner"
local plugin_config = require "gptimage.nvim.config"
local results = require "gptimage.nvim.results"

local unpack = table.unpack or unpack

local M = {}

local DEFAULT_INTERVAL = 50

local config = {
  client = nil,            -- a gptimage client, once made or given
  client_options = nil,    -- options for gptimage.new when none was given
  interval = DEFAULT_INTERVAL,
}

local runs = {}            -- client -> its open run, while it has jobs
local timer = nil
local leave_hook_installed = false

local function notify_error(message)
  local function show()
    vim.notify(message, vim.log.levels.ERROR)
  end
  -- Inside a luv callback most of the Neovim API is off limits.
  if vim.in_fast_event() then
    vim.schedule(show)
  else
    show()
  end
end

-- Runs callback(...) on Neovim's main loop; its error is reported, not lost.
local function deliver(what, callback, ...)
  local args = { n = select("#", ...), ... }
  vim.schedule(function()
    local ok, err = xpcall(function() return callback(unpack(args, 1, args.n)) end, debug.traceback)
    if not ok then
      notify_error("gptimage: error in " .. what .. " callback: " .. tostring(err))
    end
  end)
end

-- A finished entry of a run: its callback on the main loop.
local function finished(entry, res, err)
  if entry.callback then
    deliver("on_done", entry.callback, entry.usable(res), err)
  end
end

-- The runner's progress, which an open run uses only to add up the cost.
local QUIET = { cost = 0, draw = function() end }

local function run_for(client)
  local run = runs[client]
  if run == nil then
    run = runner.new(client, {}, { jobs = math.huge }, QUIET, {}, { open = true, finish = finished })
    runs[client] = run
  end
  return run
end

local function stop_timer()
  if timer and timer:is_active() then
    timer:stop()
  end
end

local function pending()
  local count = 0
  for _, run in pairs(runs) do
    count = count + run:pending()
  end
  return count
end

-- Ticks come every config.interval ms; while a poll stops with data still
-- waiting (its work budget ran out), every CATCH_UP ms instead, so that big
-- images arrive at full speed in slices the editor hardly feels.
local CATCH_UP = 1
local catching_up = false

local function tick()
  -- Copy first: a callback's error must not leave a run half iterated.
  local list = {}
  for client, run in pairs(runs) do
    list[#list + 1] = { client, run }
  end
  local behind = false
  for _, pair in ipairs(list) do
    local client, run = pair[1], pair[2]
    local ok, err = pcall(run.step, run)
    if not ok then
      notify_error("gptimage: " .. tostring(err))
    elseif run.cut then
      behind = true
    end
    if run:pending() == 0 then
      runs[client] = nil
    end
  end
  if next(runs) == nil then
    stop_timer()
  elseif behind ~= catching_up and timer then
    catching_up = behind
    timer:set_repeat(behind and CATCH_UP or config.interval)
    timer:again()
  end
end

local function ensure_timer()
  if timer == nil then
    -- vim.uv from Neovim 0.10 on, where vim.loop is deprecated
    timer = (vim.uv or vim.loop).new_timer()
    if timer == nil then
      error("gptimage.nvim: cannot create a vim.loop timer", 3)
    end
  end
  if not timer:is_active() then
    catching_up = false
    timer:start(0, config.interval, tick)
  end
end

-- Cancelled jobs remove their temporary files; Neovim leaving is the last
-- chance to do so.
local function install_leave_hook()
  if leave_hook_installed or vim.api.nvim_create_autocmd == nil then
    return
  end
  leave_hook_installed = true
  vim.api.nvim_create_autocmd("VimLeavePre", {
    group = vim.api.nvim_create_augroup("gptimage", { clear = true }),
    callback = function() M.cancel_all() end,
  })
end

local function copy(t)
  local out = {}
  for key, value in pairs(t) do
    out[key] = value
  end
  return out
end

local function check_callback(callback, on_done, level)
  if callback ~= nil and type(callback) ~= "function" then
    error("gptimage.nvim: callback must be a function, got " .. type(callback), level + 1)
  end
  if on_done ~= nil and type(on_done) ~= "function" then
    error("gptimage.nvim: on_done must be a function, got " .. type(on_done), level + 1)
  end
  if callback and on_done then
    error("gptimage.nvim: give either a callback or opts.on_done, not both", level + 1)
  end
  return callback or on_done
end

--- Configure the client and the polling interval (milliseconds).
-- `client` is a gptimage client, or the options for gptimage.new (made on
-- first use; default: from the environment). The plugin's own keys (dir,
-- options, markdown_link, preview, progress) go to gptimage.nvim.config.
function M.setup(opts)
  opts = opts or {}
  if type(opts) ~= "table" then
    error("gptimage.nvim: setup expects a table, got " .. type(opts), 2)
  end
  plugin_config.set(opts, 2)
  local interval = opts.interval
  if interval ~= nil and (type(interval) ~= "number" or interval < 1 or interval ~= math.floor(interval)) then
    error("gptimage.nvim: interval must be a whole number of milliseconds >= 1", 2)
  end
  local client = opts.client
  local kind = gptimage.type(client)
  if client ~= nil and type(client) ~= "table" and kind ~= "client" then
    error("gptimage.nvim: client must be a gptimage client or a table of client options, got "
      .. (kind or type(client)), 2)
  end
  if kind == "client" then
    config.client, config.client_options = client, nil
  elseif client ~= nil then
    config.client, config.client_options = nil, copy(client)
  end
  if interval then
    config.interval = interval
    if timer and timer:is_active() then
      timer:set_repeat(interval)
    end
  end
  return M
end

--- The client jobs run on, made from the setup options on first use.
function M.client()
  if config.client == nil then
    config.client = gptimage.new(config.client_options or {})
  end
  return config.client
end

-- Adds an entry to the client's run and starts the timer; returns the job.
-- A caller bug in the options raises here, as client:start does.
local function add(client, entry)
  local run = run_for(client)
  local ok, job = pcall(run.add, run, entry)
  if run:pending() == 0 then
    runs[client] = nil
  end
  if not ok then
    error(job, 0)
  end
  install_leave_hook()
  ensure_timer()
  return job
end

--- Start `op` ("generate", "edit", "variation") with the call's options;
-- callback(res, err) runs on the main loop once it is done. Returns the job.
function M.start(op, opts, callback)
  if type(op) ~= "string" then
    error("gptimage.nvim: op must be a string, got " .. type(op), 2)
  end
  if op == "batch" then
    error("gptimage.nvim: use batch(list, opts, callback) for batches", 2)
  end
  if type(opts) ~= "table" then
    error("gptimage.nvim: options must be a table, got " .. type(opts), 2)
  end
  callback = check_callback(callback, opts.on_done, 2)
  if opts.on_partial ~= nil and type(opts.on_partial) ~= "function" then
    error("gptimage.nvim: on_partial must be a function, got " .. type(opts.on_partial), 2)
  end
  local client = M.client()
  local call = copy(opts)
  call.on_done = nil
  local lazy = results.ask(call)
  if call.on_partial then
    local on_partial = call.on_partial
    call.on_partial = function(partial, ...)
      deliver("on_partial", on_partial, lazy and results.usable(partial) or partial, ...)
    end
  end
  return add(client, { op = op, call = call, callback = callback,
                       usable = lazy and results.result or function(res) return res end })
end

function M.generate(opts, callback)
  return M.start("generate", opts, callback)
end

function M.edit(opts, callback)
  return M.start("edit", opts, callback)
end

function M.variation(opts, callback)
  return M.start("variation", opts, callback)
end

--- Run a list of calls (each with its `op`), at most opts.concurrency at
-- once; callback(results) gets one { res = ..., err = ... } per entry, in
-- order; opts.on_progress(done, total, index, res, err) runs as each ends.
function M.batch(list, opts, callback)
  if type(list) ~= "table" then
    error("gptimage.nvim: batch expects a list, got " .. type(list), 2)
  end
  opts = opts or {}
  if type(opts) ~= "table" then
    error("gptimage.nvim: batch options must be a table, got " .. type(opts), 2)
  end
  callback = check_callback(callback, opts.on_done, 2)
  if opts.on_progress ~= nil and type(opts.on_progress) ~= "function" then
    error("gptimage.nvim: on_progress must be a function, got " .. type(opts.on_progress), 2)
  end
  local client = M.client()
  local calls = {}
  for i, call in ipairs(list) do
    calls[i] = type(call) == "table" and copy(call) or call
    if type(call) == "table" then
      results.ask(calls[i])
    end
  end
  local batch_opts = copy(opts)
  batch_opts.on_done = nil
  if batch_opts.on_progress then
    local on_progress = batch_opts.on_progress
    batch_opts.on_progress = function(done, total, index, res, ...)
      deliver("on_progress", on_progress, done, total, index, results.result(res), ...)
    end
  end
  return add(client, { op = "batch", call = calls, batch_options = batch_opts, callback = callback,
                       usable = results.batch })
end

--- Cancel a job; its callback gets nil, { kind = "cancelled" } (from the
-- next tick). Returns true if it was cancelled (false if it had already
-- finished).
function M.cancel(job)
  if job == nil then
    error("gptimage.nvim: cancel expects a job", 2)
  end
  return job:cancel()
end

--- Cancel every job in flight; returns how many were cancelled.
function M.cancel_all()
  local jobs = {}
  for _, run in pairs(runs) do
    for _, job in ipairs(run:jobs()) do
      jobs[#jobs + 1] = job
    end
  end
  local cancelled = 0
  for _, job in ipairs(jobs) do
    if M.cancel(job) then
      cancelled = cancelled + 1
    end
  end
  return cancelled
end

--- How many jobs are in flight (a cancelled or finished job counts until
-- the tick that hands it to its callback).
function M.pending()
  return pending()
end

--- Whether the polling timer is running (it runs only while jobs are in flight).
function M.polling()
  return timer ~= nil and timer:is_active()
end

return M
