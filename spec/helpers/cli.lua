-- The gptimage command (bin/gptimage under the Lua the module was built
-- for) run as a process in a folder: its command line, and a run's exit
-- code, stdout and stderr.
--
--   local cli = require "helpers.cli"
--   cli.command(dir, { "run", "m.json" }, env)   -- a shell command line
--   cli.run(dir, args, env)        -- { code =, stdout =, stderr = }
--   cli.run_json(dir, args, env)   -- with --json added, and .json decoded
--
-- env: NAME = value to set, NAME = false to unset; names that env does not
-- mention come from the spec's own environment.
--
-- A spec of the command against the fake server opens with cli.each, inside
-- its describe block:
--
--   local srv
--   local c = cli.each({ OPENAI_API_KEY = "sk-test", GPTIMAGE_PROGRESS = "plain" },
--     function(f) srv = f.srv end)
--   c.run(args, env)  c.run_json(args, env)  c.path(name)  c.write_json(name, value)
--   c.image_requests()  c.sidecar(name)
local cjson = require "cjson"
local fixture = require "helpers.fixture"
local util = require "helpers.util"

local cli = {}

local LUA = os.getenv("GPTIMAGE_LUA") or "lua5.4"
local BIN = util.command_path()
local q = util.shell_quote
local unpack = table.unpack or unpack -- luacheck: ignore 143

--- The environment of `base` with the entries of `over` on top.
function cli.env(base, over)
  local settings = {}
  for key, value in pairs(base or {}) do settings[key] = value end
  for key, value in pairs(over or {}) do settings[key] = value end
  return settings
end

function cli.command(dir, args, env)
  local parts = { "cd", q(dir), "&&", "env" }
  local names = {}
  for key in pairs(env or {}) do
    names[#names + 1] = key
  end
  table.sort(names)
  for _, key in ipairs(names) do
    if env[key] == false then
      parts[#parts + 1] = "-u " .. key
    end
  end
  for _, key in ipairs(names) do
    if env[key] ~= false then
      parts[#parts + 1] = key .. "=" .. q(env[key])
    end
  end
  parts[#parts + 1] = q(LUA)
  parts[#parts + 1] = q(BIN)
  for _, arg in ipairs(args) do
    parts[#parts + 1] = q(arg)
  end
  return table.concat(parts, " ")
end

function cli.run(dir, args, env)
  local out, err, code = dir .. "/.stdout", dir .. "/.stderr", dir .. "/.code"
  os.execute(cli.command(dir, args, env) .. " >" .. q(out) .. " 2>" .. q(err) .. "; echo $? >" .. q(code))
  local result = { code = tonumber(util.read(code)), stdout = util.read(out) or "", stderr = util.read(err) or "" }
  os.remove(out)
  os.remove(err)
  os.remove(code)
  return result
end

function cli.run_json(dir, args, env)
  local list = { unpack(args) }
  list[#list + 1] = "--json"
  local result = cli.run(dir, list, env)
  local ok, decoded = pcall(cjson.decode, result.stdout)
  assert(ok, "--json output does not parse: " .. result.stdout .. "\nstderr: " .. result.stderr)
  result.json = decoded
  return result
end

--- Registers fixture.each with the fake server and a folder per test, and
-- returns the command bound to them: run and run_json in the folder, with
-- OPENAI_BASE_URL the server's, then `defaults`, then the call's own env on
-- top (false unsets); path(name) in the folder; write_json(name, value);
-- image_requests(records) (the /v1/images/ requests among records, the
-- server's record unless given); sidecar(name) (the record written beside
-- name, decoded; asserts that it exists). bind is fixture.each's (optional).
function cli.each(defaults, bind)
  local f = fixture.each({ server = {}, dir = true }, bind)
  local c = {}

  local function env_with(env)
    return cli.env(cli.env({ OPENAI_BASE_URL = f.srv.base_url }, defaults), env)
  end

  function c.run(args, env)
    return cli.run(f.dir, args, env_with(env))
  end

  function c.run_json(args, env)
    return cli.run_json(f.dir, args, env_with(env))
  end

  function c.path(name)
    return f.dir .. "/" .. name
  end

  function c.write_json(name, value)
    util.write(c.path(name), cjson.encode(value))
  end

  function c.image_requests(records)
    local list = {}
    for _, r in ipairs(records or f.srv:requests()) do
      if r.path:match("^/v1/images/") then
        list[#list + 1] = r
      end
    end
    return list
  end

  function c.sidecar(name)
    local text = util.read(c.path(name .. ".json"))
    assert(text, "no record next to " .. name)
    return cjson.decode(text)
  end

  return c
end

return cli
