-- Writes the files that describe the gptimage command to shells and man,
-- made from the command's own option lists and help (gptimage.cli.shell):
--
--   lua scripts/shell_files.lua OUT_DIR [MODULE_DIR]
--
-- OUT_DIR/gptimage.bash (bash completion), OUT_DIR/_gptimage (zsh) and
-- OUT_DIR/gptimage.1 (the man page). MODULE_DIR holds a built gptimage.so
-- (for the version on the man page). The build runs this; cmake --install
-- puts the files where bash-completion, zsh and man look.
local out_dir, module_dir = arg[1], arg[2]
if not out_dir then
  io.stderr:write("usage: lua scripts/shell_files.lua OUT_DIR [MODULE_DIR]\n")
  os.exit(2)
end
local source = (arg[0]:match("^(.*)/scripts/[^/]*$") or ".")
package.path = source .. "/lua/?.lua;" .. package.path
if module_dir then
  package.cpath = module_dir .. "/?.so;" .. package.cpath
end
local shell = require "gptimage.cli.shell"
local ok, gptimage = pcall(require, "gptimage")

local function write(name, text)
  local path = out_dir .. "/" .. name
  local file = assert(io.open(path, "wb"))
  assert(file:write(text))
  assert(file:close())
end

write("gptimage.bash", shell.BASH)
write("_gptimage", shell.ZSH)
write("gptimage.1", shell.man(ok and gptimage.version or nil))
