-- :GptImage {prompt}  generates an image and saves it under g:gptimage_dir
-- (default: stdpath("data")/gptimage), then reports the path. The editor
-- keeps working meanwhile: gptimage.nvim polls from a vim.loop timer.
--
--   let g:gptimage_dir = '~/pictures/generated'
--   let g:gptimage_options = #{ model: 'gpt-image-1', quality: 'low', size: '1024x1536' }
--   :GptImage a pixel-art lighthouse at dusk
--   :GptImageCancel            cancels every image still being generated
--
-- The client comes from OPENAI_API_KEY / OPENAI_BASE_URL, or from
-- require("gptimage.nvim").setup{ client = { ... } } in your config.

if vim.g.loaded_gptimage then
  return
end
vim.g.loaded_gptimage = true

local function notify(message, level)
  vim.notify("gptimage: " .. message, level or vim.log.levels.INFO)
end

local function folder()
  local dir = vim.g.gptimage_dir
  if type(dir) ~= "string" or dir == "" then
    dir = vim.fn.stdpath("data") .. "/gptimage"
  end
  return (vim.fn.fnamemodify(vim.fn.expand(dir), ":p"):gsub("/$", ""))
end

-- A readable, file-system-safe name from the prompt.
local function slug(prompt)
  local words = prompt:lower():gsub("[^%w]+", "-"):gsub("^-+", ""):gsub("-+$", "")
  words = words:sub(1, 40):gsub("-+$", "")
  return words ~= "" and words or "image"
end

local function generate(command)
  local ok, gi = pcall(require, "gptimage.nvim")
  if not ok then
    notify("cannot load gptimage (see examples/nvim/README.md): " .. tostring(gi), vim.log.levels.ERROR)
    return
  end
  local prompt = command.args
  local options = {}
  for key, value in pairs(type(vim.g.gptimage_options) == "table" and vim.g.gptimage_options or {}) do
    options[key] = value
  end
  options.prompt = prompt
  options.save = string.format("%s/%s-%s.{ext}", folder(), os.date("%Y%m%d-%H%M%S"), slug(prompt))
  local started, err = pcall(gi.generate, options, function(res, failure)
    if not res then
      notify("failed: " .. tostring(failure), vim.log.levels.ERROR)
      return
    end
    local paths = {}
    for _, image in ipairs(res.images) do
      paths[#paths + 1] = image.path
    end
    local cost = res.cost and string.format(" ($%.3f)", res.cost) or ""
    notify("saved " .. table.concat(paths, ", ") .. cost)
  end)
  if not started then
    notify(tostring(err), vim.log.levels.ERROR)
    return
  end
  notify("generating: " .. prompt)
end

vim.api.nvim_create_user_command("GptImage", generate, {
  nargs = "+",
  desc = "Generate an image from a prompt and save it under g:gptimage_dir",
})

vim.api.nvim_create_user_command("GptImageCancel", function()
  local cancelled = require("gptimage.nvim").cancel_all()
  notify(string.format("cancelled %d job(s)", cancelled))
end, { desc = "Cancel the images still being generated" })
