-- Host test: the repository as a Neovim plugin (plugin/, lua/, doc/) inside
-- a real headless Neovim, against the fake Images API over real HTTP.
--
--   nvim --headless -u NONE -i NONE -n -c "luafile spec/hosts/nvim_plugin_test.lua"
--
-- with GPTIMAGE_SOURCE_DIR and GPTIMAGE_BUILD_DIR set, as ctest does. The
-- repository goes on 'runtimepath' as a plugin manager puts it. Covers
-- :help (helptags), :checkhealth, :GptImage with and without a prompt,
-- completion, the save folder, the one-line messages, progress, the
-- markdown link, the image.nvim preview and the picker. image.nvim and
-- Telescope are not packaged here: small stand-ins in package.preload
-- record how the plugin calls their documented entry points. Prints one
-- line per check and a summary; quits with :qa! (all passed) or :cq.

local harness = dofile(os.getenv("GPTIMAGE_SOURCE_DIR") .. "/spec/hosts/nvim_harness.lua")
local srv, work_dir
local h = harness.new{ title = "nvim plugin test", hang_guard_ms = 90000, cleanup = function()
  pcall(function() require("gptimage.nvim").cancel_all() end)
  srv:stop()
  vim.fn.delete(work_dir, "rf")
end }
if not h then
  return
end
local say, check, protect, every_tick = h.say, h.check, h.protect, h.every_tick
local TICK_MS = h.tick_ms
local source_dir = h.source_dir
-- As lazy.nvim or packer does: the repository is a runtimepath entry.
vim.opt.runtimepath:prepend(source_dir)

local fake = require "helpers.server"
local util = require "helpers.util"

work_dir = vim.fn.resolve(vim.fn.tempname())
vim.fn.mkdir(work_dir .. "/project/assets", "p")
vim.fn.mkdir(work_dir .. "/project/notes", "p")
vim.cmd("cd " .. vim.fn.fnameescape(work_dir .. "/project"))

srv = fake.start{}
vim.env.OPENAI_API_KEY = "sk-test-never-printed-0123456789"

local builtin_notify = vim.notify
local notices = {}
local notify_ids = 0
local function capture_notify(message, level, opts)
  notify_ids = notify_ids + 1
  notices[#notices + 1] = { message = tostring(message), level = level, opts = opts, id = notify_ids }
  say(string.format("# notify(%s): %s", tostring(level), (tostring(message):gsub("\n", "\\n"))))
  return notify_ids
end
vim.notify = capture_notify

local function notices_since(first, pattern)
  local out = {}
  for i = first, #notices do
    if pattern == nil or notices[i].message:find(pattern) then
      out[#out + 1] = notices[i]
    end
  end
  return out
end

-- Waits (at most 10 s) for a notice after `first` matching pattern.
local function wait_notice(first, pattern, found)
  every_tick(protect(function(ticks)
    local hits = notices_since(first, pattern)
    if #hits > 0 or ticks * TICK_MS >= 10000 then
      found(hits[1])
      return true
    end
  end))
end

local function buffer_text(buf)
  return table.concat(vim.api.nvim_buf_get_lines(buf or 0, 0, -1, false), "\n")
end

local cases = {}

local gi = require "gptimage.nvim"
local function setup(extra)
  local opts = { client = { base_url = srv.base_url, max_retries = 0 }, interval = 20,
                 dir = work_dir .. "/saved", options = { quality = "low", size = "1024x1024" },
                 progress = false, preview = false, markdown_link = true, progress_interval = 100 }
  for key, value in pairs(extra or {}) do
    opts[key] = value
  end
  gi.setup(opts)
end

cases[#cases + 1] = { name = "the plugin loads from the repository", run = function(done)
  vim.cmd("runtime! plugin/gptimage.lua")
  for _, name in ipairs({ "GptImage", "GptImageCancel", "GptImagePick" }) do
    check(vim.fn.exists(":" .. name) == 2, ":" .. name .. " is defined")
  end
  setup()
  done()
end }

cases[#cases + 1] = { name = ":help gptimage", run = function(done)
  local doc = work_dir .. "/rtp/doc"
  vim.fn.mkdir(doc, "p")
  util.write(doc .. "/gptimage.txt", assert(util.read(source_dir .. "/doc/gptimage.txt")))
  local ok, err = pcall(vim.cmd, "helptags " .. vim.fn.fnameescape(doc))
  check(ok, "helptags accepts doc/gptimage.txt (no duplicate tags)", err)
  vim.opt.runtimepath:append(work_dir .. "/rtp")
  for _, tag in ipairs({ "gptimage", ":GptImage", ":GptImageCancel", "gptimage-install",
                         "gptimage-setup", "gptimage-lua", "gptimage-errors", "gptimage.setup()",
                         ":GptImagePick", "gptimage-health" }) do
    local found = pcall(vim.cmd, "help " .. tag)
    check(found and vim.bo.filetype == "help", ":help " .. tag .. " opens the help")
    if found then
      vim.cmd("helpclose")
    end
  end
  local text = util.read(source_dir .. "/doc/gptimage.txt")
  check(text:match("vim:[^\n]*ft=help"), "the help file has its modeline")
  check(not text:find("\t"), "the help file has no tabs")
  done()
end }

cases[#cases + 1] = { name = ":checkhealth gptimage", run = function(done)
  vim.cmd("checkhealth gptimage")
  local report = buffer_text()
  vim.cmd("bwipeout!")
  say("#   " .. report:gsub("\n", "\n#   "))
  check(report:find("OK:? [^\n]*gptimage [%d.]+ loads under LuaJIT"), "reports the module loaded under LuaJIT")
  check(report:find("OK:? [^\n]*lua%-cjson"), "reports lua-cjson")
  check(report:find("OK:? [^\n]*libcurl %d"), "reports libcurl")
  check(report:find("certificate authorities: ", 1, true), "reports the certificate authorities")
  check(report:find("OK:? [^\n]*OPENAI_API_KEY is set"), "reports the API key as present")
  check(not report:find(vim.env.OPENAI_API_KEY, 1, true) and not report:find("0123456789", 1, true),
    "never prints the key")
  check(report:find("OK:? [^\n]*images are saved in " .. vim.pesc(work_dir .. "/saved")), "reports the save folder")
  check(not report:find("ERROR"), "no error in the report")
  done()
end }

cases[#cases + 1] = { name = ":GptImage without a prompt asks with vim.ui.input", run = function(done)
  local asked
  local ui_input = vim.ui.input
  vim.ui.input = function(opts, on_confirm)
    asked = opts.prompt
    on_confirm("a blue bird on a wire size=1024x1536")
  end
  local first = #notices + 1
  vim.cmd("GptImage")
  vim.ui.input = ui_input
  check(asked ~= nil, "vim.ui.input was asked", asked)
  wait_notice(first, "saved", protect(function(notice)
    check(notice ~= nil and notice.level == vim.log.levels.INFO, "the save is reported at INFO")
    local path = notice and notice.message:match("saved (%S+%.png)")
    path = path and vim.fn.fnamemodify(path, ":p")
    check(path and path:sub(1, #work_dir + 7) == work_dir .. "/saved/", "saved in the configured folder", path)
    local w, h = util.png_size(util.read(path or "") or "")
    check(w == 1024 and h == 1536, "the typed size= reached the request", tostring(w) .. "x" .. tostring(h))
    check(srv:last_request().json.prompt == "a blue bird on a wire", "the answer is the prompt",
      srv:last_request().json.prompt)
    done()
  end))
end }

cases[#cases + 1] = { name = "command completion comes from the API table", run = function(done)
  local gptimage = require "gptimage"
  local real_options, real_models = gptimage.options, gptimage.models
  if type(real_options) ~= "table" then
    -- before the module has its table, the same derivation is shown on one
    gptimage.options = { size = { type = "string", enum = { "1024x1024", "1536x1024" } },
                         quality = { type = "string", enum = { "low", "high" } } }
    gptimage.models = { ["gpt-image-x"] = {}, ["old-model"] = { lifecycle = "shutdown" } }
  end
  local options = vim.fn.getcompletion("GptImage a cat qual", "cmdline")
  check(vim.tbl_contains(options, "quality="), "option names complete", vim.inspect(options))
  local sizes = vim.fn.getcompletion("GptImage size=1024", "cmdline")
  check(#sizes > 0 and vim.tbl_contains(sizes, "size=1024x1024"), "option values complete", vim.inspect(sizes))
  local models = vim.fn.getcompletion("GptImage model=", "cmdline")
  local listed = require("gptimage.completion").models()
  check(#models > 0 and #models == #listed, "model names complete from gptimage.models", vim.inspect(models))
  if real_options == nil then
    check(not vim.tbl_contains(models, "model=old-model"), "shut-down models are not offered")
  end
  gptimage.options, gptimage.models = real_options, real_models
  done()
end }

cases[#cases + 1] = { name = "the default save folder is the project's assets/", run = function(done)
  require("gptimage.nvim.config").set({ dir = "" })
  check(require("gptimage.nvim.config").folder() == work_dir .. "/project/assets",
    "assets/ of the working folder", require("gptimage.nvim.config").folder())
  local first = #notices + 1
  vim.cmd("GptImage a tiny house")
  wait_notice(first, "saved", protect(function(notice)
    local saved = vim.fn.glob(work_dir .. "/project/assets/*tiny-house*.png", true, true)
    check(notice and #saved == 1, "the image is in assets/", vim.inspect(saved))
    setup()
    done()
  end))
end }

cases[#cases + 1] = { name = "messages are one line with one prefix", run = function(done)
  local first = #notices + 1
  vim.cmd("GptImage a cat qualty=low")
  local typo = notices_since(first)[1]
  check(typo and typo.level == vim.log.levels.ERROR, "a misspelt option is an error")
  check(typo and typo.message:find("qualty") and not typo.message:find("%.lua:%d"),
    "the message names the option, with no internal file path", typo and typo.message)
  srv:fault{ action = "status", status = 401 }
  first = #notices + 1
  vim.cmd("GptImage a refused cat")
  wait_notice(first, "failed", protect(function(notice)
    check(notice and notice.level == vim.log.levels.ERROR, "a 401 is an ERROR")
    check(notice and not notice.message:find("\n"), "on one line", notice and notice.message)
    local _, prefixes = (notice and notice.message or ""):gsub("gptimage", "")
    check(prefixes == 1, "with one prefix", notice and notice.message)
    check(notice and notice.message:find("401") and notice.message:find("OPENAI_API_KEY"),
      "saying what to check", notice and notice.message)
    srv:fault{ action = "delay", delay = 5 }
    first = #notices + 1
    local before = #srv:requests()
    vim.cmd("GptImage never finished")
    every_tick(protect(function(ticks)
      if #srv:requests() > before or ticks > 250 then
        vim.cmd("GptImageCancel")
        wait_notice(first, "cancel", protect(function(cancel)
          local all = notices_since(first, "cancel")
          check(cancel and cancel.level == vim.log.levels.INFO, "a cancel is INFO",
            cancel and cancel.level)
          check(#all == 1 and not all[1].message:find("error") and not all[1].message:find("\n"),
            "one line, no error", cancel and cancel.message)
          -- Neovim's own vim.notify echoes: a long line is cut to fit.
          vim.notify = builtin_notify
          vim.o.columns = 60
          require("gptimage.nvim.message").error(string.rep("a long message ", 20))
          local echoed = vim.split(vim.fn.execute("messages"), "\n")
          local last = echoed[#echoed]
          vim.notify = capture_notify
          check(vim.fn.strdisplaywidth(last) < 60 and last:find("^gptimage: a long"),
            "echoed within the command line's width", last)
          vim.o.columns = 80
          done()
        end))
        return true
      end
    end))
  end))
end }

cases[#cases + 1] = { name = "progress updates one notification, then the result replaces it", run = function(done)
  setup{ progress = true }
  local status = require "gptimage.nvim.progress"
  srv:fault{ action = "delay", delay = 1 }
  local first = #notices + 1
  vim.cmd("GptImage a slow sunrise")
  check(status.status():find("^gptimage %d+s$"), "the statusline component shows the job", status.status())
  wait_notice(first, "saved", protect(function(saved)
    local updates = notices_since(first, "generating .*%d+s$")
    check(#updates >= 2, "progress was updated while the job ran", #updates)
    local chained = #updates >= 2
    for i = 2, #updates do
      chained = chained and updates[i].opts and updates[i].opts.replace == updates[i - 1].id
    end
    check(chained, "each update replaces the one before")
    check(saved and saved.opts and saved.opts.replace == updates[#updates].id,
      "the result replaces the progress notification")
    check(status.status() == "", "the statusline component is empty once done", status.status())
    setup{ progress = false }
    done()
  end))
end }

cases[#cases + 1] = { name = "a markdown buffer gets a link, image.nvim a preview", run = function(done)
  local rendered = {}
  package.loaded["image"] = nil
  package.preload["image"] = function()
    return { from_file = function(path, opts)
      local record = { path = path, opts = opts }
      rendered[#rendered + 1] = record
      return { render = function() record.rendered = true end }
    end }
  end
  setup{ preview = true, dir = work_dir .. "/project/assets" }
  vim.cmd("filetype on")   -- as any user configuration has it
  vim.cmd("edit! " .. vim.fn.fnameescape(work_dir .. "/project/notes/page.md"))
  check(vim.bo.filetype == "markdown", "the buffer is markdown")
  vim.api.nvim_buf_set_lines(0, 0, -1, false, { "# Notes", "Here: " })
  vim.api.nvim_win_set_cursor(0, { 2, 5 })
  local first = #notices + 1
  vim.cmd("GptImage a red kite")
  wait_notice(first, "saved", protect(function()
    local line = vim.api.nvim_buf_get_lines(0, 1, 2, false)[1]
    check(line:match("^Here: !%[a red kite%]%(%.%./assets/[^)]*red%-kite%.png%)$"),
      "the link is inserted after the cursor, relative to the file", line)
    check(#rendered == 1 and rendered[1].rendered and rendered[1].path:find("red%-kite%.png$"),
      "image.nvim rendered the saved image", vim.inspect(rendered))
    check(rendered[1] and vim.api.nvim_win_is_valid(rendered[1].opts.window),
      "into a window of its own")
    pcall(vim.api.nvim_win_close, rendered[1] and rendered[1].opts.window or -1, true)
    package.preload["image"] = nil
    package.loaded["image"] = nil
    setup{ preview = false }
    vim.api.nvim_buf_set_lines(0, 0, -1, false, { "" })
    done()
  end))
end }

cases[#cases + 1] = { name = "the picker lists the generated images and links the chosen one", run = function(done)
  local listed
  local ui_select = vim.ui.select
  vim.ui.select = function(items, opts, on_choice)
    listed = { items = items, first = opts.format_item(items[1]) }
    on_choice(items[#items])
  end
  vim.cmd("GptImagePick")
  vim.ui.select = ui_select
  local images = require("gptimage.nvim.gallery").images()
  check(listed and #listed.items == #images and #images >= 2, "every image of the folder is offered",
    listed and #listed.items)
  check(listed and not listed.first:find("/"), "shown by file name", listed and listed.first)
  local line = vim.api.nvim_buf_get_lines(0, 0, 1, false)[1]
  check(line:match("^!%[[^%]]+%]%(%.%./%.%./saved/[^)]*%.png%)$"), "the chosen image is linked", line)

  -- With Telescope installed, the picker is Telescope's.
  local picked
  local stand_in = {
    ["telescope.pickers"] = { new = function(_, spec)
      return { find = function() picked = spec end }
    end },
    ["telescope.finders"] = { new_table = function(t) return t end },
    ["telescope.config"] = { values = { generic_sorter = function() return {} end } },
    ["telescope.actions"] = { close = function() end,
                              select_default = { replace = function(self, fn) self.fn = fn end } },
    ["telescope.actions.state"] = { get_selected_entry = function() return picked.chosen end },
  }
  for name, module in pairs(stand_in) do
    package.loaded[name] = module
  end
  vim.api.nvim_buf_set_lines(0, 0, -1, false, { "" })
  vim.cmd("GptImagePick")
  check(picked and #picked.finder.results == #images, "Telescope gets the images")
  if picked then
    picked.attach_mappings(1)
    picked.chosen = picked.finder.entry_maker(picked.finder.results[1])
    stand_in["telescope.actions"].select_default.fn()
    line = vim.api.nvim_buf_get_lines(0, 0, 1, false)[1]
    check(line:match("^!%[[^%]]+%]%(%.%./%.%./saved/[^)]*%.png%)$"), "choosing in Telescope links the image", line)
  end
  for name in pairs(stand_in) do
    package.loaded[name] = nil
  end
  done()
end }

h.run(cases, string.format("# Neovim %d.%d.%d, %s", vim.version().major, vim.version().minor,
  vim.version().patch, jit and jit.version or _VERSION))
