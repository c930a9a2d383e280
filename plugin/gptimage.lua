-- The gptimage Neovim plugin: the repository is the plugin (plugin/, lua/,
-- doc/), so a plugin manager can point at it. This file only defines the
-- commands; their work is in lua/gptimage/nvim/command.lua, loaded on first
-- use, so that startup costs nothing. See :help gptimage.
--
-- The compiled module comes from build/luajit/ of this repository when its
-- build step made one there (scripts/build.sh luajit), else from
-- package.cpath (an installed gptimage.so).

if vim.g.loaded_gptimage then
  return
end
vim.g.loaded_gptimage = true

local source = debug.getinfo(1, "S").source
local root = source:sub(1, 1) == "@" and vim.fn.fnamemodify(source:sub(2), ":p:h:h") or nil
if root then
  local built = root .. "/build/luajit/gptimage.so"
  if vim.fn.filereadable(built) == 1 and not package.cpath:find(built:gsub("gptimage%.so$", "?.so"), 1, true) then
    package.cpath = root .. "/build/luajit/?.so;" .. package.cpath
  end
end

local function command()
  local ok, module = pcall(require, "gptimage.nvim.command")
  if not ok then
    vim.notify("gptimage: cannot load the module (see :checkhealth gptimage): "
      .. tostring(module):gsub("\n.*", ""), vim.log.levels.ERROR)
    return nil
  end
  return module
end

vim.api.nvim_create_user_command("GptImage", function(cmd)
  local module = command()
  if module then
    module.run(cmd.args)
  end
end, {
  nargs = "*",
  complete = function(arglead)
    local module = command()
    return module and module.complete(arglead) or {}
  end,
  desc = "Generate an image from a prompt (no prompt: ask for one) and save it",
})

vim.api.nvim_create_user_command("GptImageCancel", function()
  local module = command()
  if module then
    module.cancel()
  end
end, { nargs = 0, desc = "Cancel the images still being generated" })

vim.api.nvim_create_user_command("GptImagePick", function()
  local module = command()
  if module then
    require("gptimage.nvim.gallery").pick()
  end
end, { nargs = 0, desc = "Pick a generated image: preview it, or link it in markdown" })
