-- gptimage.cli.shell: the command line described for shells and for man,
-- from the same option lists and help text the command itself uses
-- (gptimage.cli.commands, gptimage.cli.args), and the model and option
-- values from the module's API table (gptimage.completion).
--
--   gptimage completion bash|zsh      prints the completion script
--   gptimage __complete CWORD WORD... what the scripts call on each Tab:
--                                     prints "words" or "files", then one
--                                     candidate a line
--   gptimage help --man               prints the man page (roff)
--
-- Contract: candidates(words, cword) is pure (no I/O) and returns kind,
-- list; the texts are returned as strings; main(args, streams) writes one
-- of them and returns an exit code. Nothing here sends a request.

local registry = require "gptimage.cli.commands"
local args_help = require "gptimage.cli.args"
local common = require "gptimage.cli.common"

local shell = {}

local COMMANDS, MAIN, BATCH, specs_of = registry.COMMANDS, registry.MAIN, registry.BATCH, registry.specs_of

local function filter(list, prefix)
  local out = {}
  for _, word in ipairs(list) do
    if word:sub(1, #prefix) == prefix then
      out[#out + 1] = word
    end
  end
  return out
end

local find_spec = args_help.find_option

-- The module's API table, when the module loads (completion works without it).
local function api_values(key)
  local ok, completion = pcall(require, "gptimage.completion")
  if not ok then
    return {}
  end
  return completion.values(key)
end

local FILE_ARGS = { PATH = true, FILE = true, DIR = true }
-- Commands whose arguments are files (manifests), not a prompt.
local FILE_COMMANDS = { run = true, estimate = true, ["batch submit"] = true, mask = true, frames = true, info = true }

--- kind ("words" or "files") and the candidates for word cword (0-based,
-- as bash's COMP_CWORD) of words (words[1] is the command's own name).
function shell.candidates(words, cword)
  local current = words[cword + 1] or ""
  if cword <= 1 then
    local top = { "help", "--help", "--version", "completion" }
    for i = #MAIN, 1, -1 do
      table.insert(top, 1, MAIN[i])
    end
    return "words", filter(top, current)
  end
  local name = words[2]
  if name == "help" then
    if cword == 2 then
      return "words", filter(MAIN, current)
    end
    return "words", words[3] == "batch" and cword == 3 and filter(BATCH, current) or {}
  end
  if name == "completion" then
    return "words", cword == 2 and filter({ "bash", "zsh" }, current) or {}
  end
  local first_arg = 3
  if name == "batch" then
    if cword == 2 then
      return "words", filter(BATCH, current)
    end
    name = "batch " .. tostring(words[3])
    first_arg = 4
  end
  local command = COMMANDS[name]
  if command == nil or command.sections == nil then
    return "words", {}
  end
  local specs = specs_of(command)
  local previous = words[cword]
  local spec = cword >= first_arg and previous and previous:sub(1, 1) == "-" and find_spec(specs, previous)
  if spec and spec.arg then
    local values = spec.choices or api_values(spec.key)
    if #values > 0 then
      return "words", filter(values, current)
    end
    return FILE_ARGS[spec.arg] and "files" or "words", {}
  end
  if current:sub(1, 1) == "-" then
    local names = {}
    for _, one in ipairs(specs) do
      for _, option in ipairs(one.names) do
        names[#names + 1] = option
      end
    end
    if not find_spec(specs, "--help") then
      names[#names + 1] = "--help"
    end
    return "words", filter(names, current)
  end
  return FILE_COMMANDS[name] and "files" or "words", {}
end

shell.BASH = [==[
# bash completion for gptimage (made by `gptimage completion bash`)
_gptimage() {
  local cur=${COMP_WORDS[COMP_CWORD]} out kind
  out=$(command gptimage __complete "$COMP_CWORD" "${COMP_WORDS[@]}" 2>/dev/null) || return 0
  kind=${out%%$'\n'*}
  if [ "$kind" = files ]; then
    compopt -o default 2>/dev/null
    COMPREPLY=()
    return 0
  fi
  local IFS=$'\n'
  COMPREPLY=($(compgen -W "${out#"$kind"}" -- "$cur"))
}
complete -F _gptimage gptimage
]==]

shell.ZSH = [==[
#compdef gptimage
# zsh completion for gptimage (made by `gptimage completion zsh`)
_gptimage() {
  local -a reply
  reply=("${(@f)$(command gptimage __complete $((CURRENT - 1)) "${words[@]}" 2>/dev/null)}")
  if [[ ${reply[1]} == files ]]; then
    _files
  elif (( ${#reply} > 1 )); then
    compadd -- "${(@)reply[2,-1]}"
  fi
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  _gptimage "$@"
else
  compdef _gptimage gptimage
fi
]==]

-- roff: a line of text as man shows it literally.
local function roff(text)
  text = text:gsub("\\", "\\e")
  text = text:gsub("\n([.'])", "\n\\&%1")
  if text:match("^[.']") then
    text = "\\&" .. text
  end
  return text
end

local function option_name(spec)
  local names = {}
  for _, name in ipairs(spec.names) do
    names[#names + 1] = "\\fB" .. name:gsub("%-", "\\-") .. "\\fR"
  end
  return table.concat(names, ", ") .. (spec.arg and (" \\fI" .. spec.arg .. "\\fR") or "")
end

local function preformatted(out, text)
  out[#out + 1] = ".PP\n.nf\n" .. roff(text) .. "\n.fi"
end

local function command_page(out, name)
  local command = COMMANDS[name]
  out[#out + 1] = ".SS " .. roff(name)
  if command.help then
    preformatted(out, command.help)
    return
  end
  out[#out + 1] = ".B " .. roff(command.usage)
  out[#out + 1] = ".PP\n" .. roff(command.description)
  for _, section in ipairs(command.sections) do
    out[#out + 1] = ".PP\n" .. roff(section[1]) .. ":"
    for _, spec in ipairs(section[2]) do
      out[#out + 1] = ".TP\n" .. option_name(spec) .. "\n" .. roff(spec.help)
    end
  end
  if command.notes then
    preformatted(out, command.notes)
  end
  if command.examples then
    out[#out + 1] = ".PP\nExamples:"
    preformatted(out, command.examples)
  end
end

--- The man page, gptimage(1), from the help text.
function shell.man(version)
  local main = args_help.MAIN_HELP
  local description = main:match("\n\n(.-)\n\nCommands:")
  local environment = main:match("Environment:\n(.-)\n\n")
  local out = {
    '.TH GPTIMAGE 1 "" "gptimage ' .. roff(version or "") .. '" "User Commands"',
    ".SH NAME\ngptimage \\- generate, edit and vary images with the OpenAI Images API",
    ".SH SYNOPSIS\n.B gptimage\n.I COMMAND\n[options] [arguments]",
    ".SH DESCRIPTION\n" .. roff(description or ""),
    ".PP\nEvery command takes \\fB\\-\\-help\\fR; \\fBgptimage help\\fR \\fICOMMAND\\fR prints "
      .. "what this page says of it.",
    ".SH COMMANDS",
  }
  for _, name in ipairs(MAIN) do
    if name == "batch" then
      for _, sub in ipairs(BATCH) do
        command_page(out, "batch " .. sub)
      end
    else
      command_page(out, name)
    end
  end
  out[#out + 1] = ".SH MANIFESTS"
  preformatted(out, args_help.MANIFEST_HELP)
  if environment then
    out[#out + 1] = ".SH ENVIRONMENT"
    preformatted(out, environment)
  end
  out[#out + 1] = ".SH EXIT STATUS"
  preformatted(out, (common.EXIT_CODES_HELP:gsub("^Exit codes:\n", "")))
  out[#out + 1] = ".SH SEE ALSO\nThe README of gptimage; in Neovim, :help gptimage."
  return table.concat(out, "\n") .. "\n"
end

function shell.main(args, streams)
  local what = args[1]
  if what == "__complete" then
    local cword = tonumber(args[2])
    if cword == nil then
      return common.EXIT.usage
    end
    local words = {}
    for i = 3, #args do
      words[#words + 1] = args[i]
    end
    local kind, list = shell.candidates(words, cword)
    streams.out:write(kind, "\n")
    for _, word in ipairs(list) do
      streams.out:write(word, "\n")
    end
    return common.EXIT.ok
  elseif what == "completion" then
    local script = ({ bash = shell.BASH, zsh = shell.ZSH })[args[2] or ""]
    if script == nil then
      common.usage_error("completion takes bash or zsh: eval \"$(gptimage completion bash)\"")
    end
    streams.out:write(script)
    return common.EXIT.ok
  end
  local ok, gptimage = pcall(require, "gptimage")
  streams.out:write(shell.man(ok and gptimage.version or nil))
  return common.EXIT.ok
end

return shell
