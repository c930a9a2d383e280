-- gptimage.cli: the `gptimage` command.
--
-- Subcommands: generate, edit, variation (one request, every option of the
-- Lua API as a flag), run (a manifest of entries, concurrent, skipping what
-- is up to date, with a budget), estimate, batch (submit, status, collect,
-- cancel through the OpenAI Batch API) and help. Progress goes to stderr
-- (a bar on a terminal, plain lines otherwise); results go to stdout, as
-- JSON with --json. cli.main(argv) returns the exit code and never raises.
--
-- This file finds the command and hands it its parsed options; the parts
-- live in lua/gptimage/cli/:
--   gptimage.cli.common    exit codes, streams, usage errors, the client
--   gptimage.cli.args      option lists, the parser, help text
--   gptimage.cli.progress  the progress bar or lines on stderr
--   gptimage.cli.errors    error descriptions and hints
--   gptimage.cli.planner   manifest entries -> calls, dependencies, cache, estimates
--   gptimage.cli.single    generate, edit, variation
--   gptimage.cli.run       run, batch submit
--   gptimage.cli.estimate  estimate
--   gptimage.cli.batch     batch status, collect, cancel
--   gptimage.cli.commands  every command by name (the registry)
--   gptimage.cli.shell     bash and zsh completion, the man page
-- The run commands hand planned entries to gptimage.runner
-- (lua/gptimage/runner.lua, shared with the Neovim helper), which runs them
-- with a concurrency limit and a budget.
-- Calls go one way: this file -> commands -> runner -> planner -> the rest.

local manifest = require "gptimage.manifest"
local common = require "gptimage.cli.common"
local options = require "gptimage.cli.args"
local progressbar = require "gptimage.cli.progress"

local cli = {}

cli.EXIT = common.EXIT
cli.parse = options.parse
cli.progress_mode = progressbar.mode
cli.new_progress = progressbar.new

local EXIT, streams, say = common.EXIT, common.streams, common.say
local usage_error, concat, load_gptimage = common.usage_error, common.concat, common.load_gptimage
local USAGE_MARK, MAIN_HELP = common.USAGE_MARK, options.MAIN_HELP

-- Every command by name ("batch collect" for subcommands): usage,
-- description, sections of options, notes, examples, run (or help).
local registry = require "gptimage.cli.commands"
local COMMANDS, BATCH_SUBCOMMANDS = registry.COMMANDS, registry.BATCH
local specs_of = registry.specs_of

local function command_help(name)
  local command = COMMANDS[name]
  if command.help then
    return command.help
  end
  return options.help_text(command)
end

local MAIN_COMMANDS = registry.MAIN

local function find_command(name)
  if COMMANDS[name] then
    return name
  end
  local hint = manifest.suggest(name, concat(MAIN_COMMANDS, { "help" }))
  usage_error(string.format("unknown command '%s'%s; see gptimage --help", name,
    hint and (" (did you mean '" .. hint .. "'?)") or ""))
end

local function dispatch(argv)
  local args = {}
  for i = 1, #argv do
    args[i] = argv[i]
  end
  local first = args[1]
  if first == nil then
    streams.err:write(MAIN_HELP)
    return EXIT.usage
  end
  if first == "-h" or first == "--help" then
    streams.out:write(MAIN_HELP)
    return EXIT.ok
  end
  if first == "__complete" or first == "completion" or (first == "help" and args[2] == "--man") then
    -- what describes the command line to shells and man (gptimage.cli.shell)
    return require("gptimage.cli.shell").main(args, streams)
  end
  if first == "--version" or first == "version" then
    local gptimage = load_gptimage()
    say(streams.out, "gptimage " .. tostring(gptimage.version))
    return EXIT.ok
  end
  if first == "help" then
    local topic = args[2]
    if topic == nil then
      streams.out:write(MAIN_HELP)
      return EXIT.ok
    end
    local name = find_command(topic)
    if name == "batch" and args[3] then
      name = find_command("batch " .. args[3])
    end
    streams.out:write(command_help(name))
    return EXIT.ok
  end
  local name = find_command(first)
  table.remove(args, 1)
  if name == "batch" then
    local sub = args[1]
    if sub == nil or sub == "-h" or sub == "--help" then
      local stream = sub and streams.out or streams.err
      stream:write(COMMANDS.batch.help)
      return sub and EXIT.ok or EXIT.usage
    end
    if not COMMANDS["batch " .. sub] then
      local hint = manifest.suggest(sub, BATCH_SUBCOMMANDS)
      usage_error(string.format("unknown batch command '%s'%s; use submit, status, collect or cancel",
        sub, hint and (" (did you mean '" .. hint .. "'?)") or ""))
    end
    name = "batch " .. sub
    table.remove(args, 1)
  end
  local command = COMMANDS[name]
  for _, arg in ipairs(args) do
    if arg == "--" then
      break
    end
    if arg == "-h" or arg == "--help" then
      streams.out:write(command_help(name))
      return EXIT.ok
    end
  end
  local values, positional = cli.parse(args, specs_of(command), name)
  local gptimage = load_gptimage()
  return command.run(values, positional, gptimage)
end

--- Runs the command line `argv` (a list of strings, as `arg`); returns the
-- exit code. Never raises.
function cli.main(argv)
  local code
  local ok, problem = xpcall(function()
    code = dispatch(argv or {})
  end, function(message)
    if type(message) == "string" and (message:sub(1, #USAGE_MARK) == USAGE_MARK or message:match("interrupted!$")) then
      return message
    end
    return debug.traceback(tostring(message), 2)
  end)
  if ok then
    return code
  end
  problem = tostring(problem)
  if problem:sub(1, #USAGE_MARK) == USAGE_MARK then
    say(streams.err, "gptimage: " .. problem:sub(#USAGE_MARK + 1))
    return EXIT.usage
  end
  if problem:match("interrupted!$") then
    say(streams.err, "\ngptimage: interrupted; finished images are kept, run again to continue")
    return EXIT.interrupted
  end
  say(streams.err, "gptimage: internal error (please report it): " .. problem)
  return EXIT.internal
end

-- For specs that drive the CLI in-process.
function cli.set_streams(out, err)
  streams.out, streams.err = out or io.stdout, err or io.stderr
end

return cli
