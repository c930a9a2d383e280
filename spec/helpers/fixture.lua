-- The hooks most specs open with, registered once from here: the fake
-- server started for the block and reset before each test, a client on it,
-- and a fresh temporary folder per test. Called inside a describe block; the
-- spec's own setup and before_each run after these.
--
--   local fixture = require "helpers.fixture"
--   describe("generate", function()
--     local srv, client, dir
--     fixture.each({ server = {}, client = { api_key = "sk-test", max_retries = 0 }, dir = true },
--       function(f) srv, client, dir = f.srv, f.client, f.dir end)
--
-- opts.server: the options of fake.start (started in setup, reset before
--   each test, stopped in teardown); opts.config: sent with srv:config after
--   each reset; opts.client: the options of gptimage.new, base_url the
--   server's unless given (a new client before each test, closed after);
--   opts.dir: true for a folder from util.tmpdir before each test, removed
--   after. bind(f) gets { srv, client, dir } after setup and after each
--   before_each, so that the spec keeps its own names for them.
local busted = require "busted"
local util = require "helpers.util"

local fixture = {}

function fixture.each(opts, bind)
  local f = {}
  local function hand_over()
    if bind then bind(f) end
  end
  if opts.server then
    busted.setup(function()
      f.srv = require("helpers.server").start(opts.server)
      hand_over()
    end)
    busted.teardown(function()
      if f.srv then f.srv:stop() end
    end)
  end
  busted.before_each(function()
    if f.srv then
      f.srv:reset()
      if opts.config then f.srv:config(opts.config) end
    end
    if opts.dir then f.dir = util.tmpdir() end
    if opts.client then
      local settings = {}
      for key, value in pairs(opts.client) do settings[key] = value end
      settings.base_url = settings.base_url or f.srv.base_url
      f.client = require("gptimage").new(settings)
    end
    hand_over()
  end)
  busted.after_each(function()
    if f.client then
      f.client:close()
      f.client = nil
    end
    if f.dir then
      util.rmtree(f.dir)
      f.dir = nil
    end
  end)
  return f
end

return fixture
