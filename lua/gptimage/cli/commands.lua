-- gptimage.cli.commands: every command of `gptimage` by name, for the
-- dispatcher (gptimage.cli) and for what describes the command line from
-- outside (shell completion and the man page, gptimage.cli.shell).
--
-- Contract: COMMANDS maps a name ("generate", "batch collect", ...) to its
-- table (usage, description, sections of option specs, notes, examples,
-- run or help); MAIN is the list of top-level commands in help order;
-- BATCH the batch subcommands; specs_of(command) the flat list of a
-- command's option specs. Read-only; nothing runs here.

local commands = {}

local COMMANDS = {}
for _, part in ipairs({ "single", "run", "estimate", "batch", "tools" }) do
  for name, command in pairs(require("gptimage.cli." .. part).commands) do
    COMMANDS[name] = command
  end
end

commands.COMMANDS = COMMANDS
commands.MAIN = { "generate", "edit", "variation", "run", "estimate", "batch", "mask", "frames", "info" }
commands.BATCH = require("gptimage.cli.batch").BATCH_SUBCOMMANDS

function commands.specs_of(command)
  local specs = {}
  for _, section in ipairs(command.sections or {}) do
    for _, spec in ipairs(section[2]) do
      specs[#specs + 1] = spec
    end
  end
  return specs
end

return commands
