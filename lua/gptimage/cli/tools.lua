-- gptimage.cli.tools: the image tool commands, `mask`, `frames` and `info`,
-- on the module's gptimage.alpha_mask, frames, spritesheet and info.
--
--   gptimage mask bw.png -o alpha.png [--invert] [--size WxH | --like IMAGE]
--   gptimage frames walk.gif --sheet walk.png [--columns 4] [--padding 1]
--   gptimage frames walk.gif [-o frames/walk-{i}.png]
--   gptimage info FILE...
--
-- Contract: sends nothing and needs no API key; returns an exit code (1 when
-- a file could not be read or written). Files are written whole or not at
-- all (the module's own writes, or fs.write_atomic).

local json = require "gptimage.json"
local fs = require "gptimage.fs"
local common = require "gptimage.cli.common"
local args = require "gptimage.cli.args"

local tools = {}
local EXIT, streams, say, usage_error = common.EXIT, common.streams, common.say, common.usage_error

local option, JSON, HELP = args.option, args.JSON_FLAG, args.HELP_FLAG

local function fail(err)
  say(streams.err, "gptimage: " .. tostring(err and err.message or err))
  return EXIT.failed
end

-- "art/bw.png" -> "art/bw" (the extension of the name, not of a folder)
local function stem(path)
  return path:match("^(.*[^/])%.[^./]*$") or path
end

local function one_input(positional, what)
  if #positional ~= 1 then
    usage_error(string.format("give exactly one %s (got %d)", what, #positional))
  end
  return positional[1]
end

local function run_mask(values, positional, gptimage)
  local input = one_input(positional, "black-and-white image")
  if values.size and values.like then
    usage_error("give either --size or --like, not both")
  end
  local opts = { invert = values.invert or nil, like = values.like }
  if values.size then
    if not values.size:match("^%d+x%d+$") then
      usage_error("--size must be WxH, e.g. 1024x1024")
    end
    opts.size = values.size
  end
  local output = values.output or (stem(input) .. "-alpha.png")
  if output ~= "-" then
    opts.save = output
  end
  local ok, res, err = pcall(gptimage.alpha_mask, input, opts)
  if not ok then
    usage_error(tostring(res))
  end
  if not res then
    return fail(err)
  end
  if output == "-" then
    streams.out:write(res)
  elseif values.json then
    say(streams.out, json.encode({ ok = true, path = res }, "  "))
  else
    say(streams.err, "wrote " .. res)
  end
  return EXIT.ok
end

local function run_frames(values, positional, gptimage)
  local input = one_input(positional, "GIF")
  if values.sheet then
    if values.output then
      usage_error("give either --sheet or -o, not both")
    end
    local ok, sheet, err = pcall(gptimage.spritesheet, input, { columns = values.columns,
      padding = values.padding, save = values.sheet })
    if not ok then
      usage_error(tostring(sheet))
    end
    if not sheet then
      return fail(err)
    end
    if values.json then
      say(streams.out, json.encode(sheet, "  "))
    else
      say(streams.err, string.format("wrote %s (%dx%d, %d frames of %dx%d) and %s", sheet.path, sheet.width,
        sheet.height, #sheet.frames, sheet.frame_width, sheet.frame_height, sheet.atlas))
    end
    return EXIT.ok
  end
  if values.columns or values.padding then
    usage_error("--columns and --padding go with --sheet")
  end
  local res, err = gptimage.frames(input)
  if not res then
    return fail(err)
  end
  local template = values.output or (stem(input) .. "-{i}.png")
  local files = {}
  for i, frame in ipairs(res) do
    local path = gptimage.save_path(template, i, #res, "png")
    local written, problem = fs.write_atomic(path, frame.bytes)
    if not written then
      return fail(problem)
    end
    files[i] = { path = path, duration_ms = frame.duration_ms }
  end
  if values.json then
    say(streams.out, json.encode({ width = res.width, height = res.height, frames = files }, "  "))
  else
    say(streams.err, string.format("wrote %d frames of %dx%d: %s ... %s", #files, res.width, res.height,
      files[1].path, files[#files].path))
  end
  return EXIT.ok
end

local function describe(info)
  local parts = { info.format }
  if info.width then
    parts[#parts + 1] = string.format("%dx%d", info.width, info.height)
  end
  parts[#parts + 1] = info.alpha and "alpha" or "no alpha"
  if info.frames > 1 then
    parts[#parts + 1] = string.format("%d frames", info.frames)
  end
  return table.concat(parts, ", ")
end

local function run_info(values, positional, gptimage)
  if #positional == 0 then
    usage_error("give one or more image files")
  end
  local code, list = EXIT.ok, {}
  for i, path in ipairs(positional) do
    local info, err = gptimage.info(path)
    if info then
      info.path = path
      list[i] = info
      if not values.json then
        say(streams.out, path .. ": " .. describe(info))
      end
    else
      code = EXIT.failed
      list[i] = { path = path, error = err.message, kind = err.kind }
      if not values.json then
        say(streams.err, "gptimage: " .. err.message)
      end
    end
  end
  if values.json then
    say(streams.out, json.encode(list, "  "))
  end
  return code
end

tools.commands = {
  mask = {
    usage = "gptimage mask BW_IMAGE [-o ALPHA.png] [--invert] [--size WxH | --like IMAGE]",
    description = "Make the edit mask the API wants from a black-and-white picture (as a model answers or a paint\n"
      .. "program saves): alpha = brightness, so white is kept and black is what an edit may change.",
    sections = { { "Options", {
      option({ "-o", "--output" }, "output", "PATH", "string", "where to write (default BW_IMAGE-alpha.png; - for stdout)"),
      option({ "--invert" }, "invert", nil, "flag", "black is kept, white may change"),
      option({ "--size" }, "size", "WxH", "string", "resize the mask"),
      option({ "--like" }, "like", "IMAGE", "string", "resize the mask to the size of IMAGE"),
      JSON, HELP } } },
    examples = [[
  gptimage mask hero-bw.png -o hero-mask.png --like hero.png
  gptimage edit -i hero.png --mask hero-mask.png "a snowy forest behind the hero"]],
    run = run_mask,
  },
  frames = {
    usage = "gptimage frames GIF [--sheet SHEET.png [--columns N] [--padding N] | -o PATTERN]",
    description = "Split an animated GIF into its frames, every frame whole (disposal and transparency applied),\n"
      .. "or with --sheet lay them out as one sprite sheet with a JSON atlas beside it (frames, rectangles,\n"
      .. "durations; the JSON array format Aseprite writes and game engines read).",
    sections = { { "Options", {
      option({ "--sheet" }, "sheet", "PATH", "string", "write a sprite sheet (and PATH's .json atlas)"),
      option({ "--columns" }, "columns", "N", "integer", "frames a row in the sheet (default: one row)"),
      option({ "--padding" }, "padding", "N", "integer", "transparent pixels around each frame in the sheet"),
      option({ "-o", "--output" }, "output", "PATTERN", "string",
        "where the frames go; {i} is the frame number (default GIF-{i}.png)"),
      JSON, HELP } } },
    examples = [[
  gptimage frames walk.gif --sheet walk.png --columns 4
  gptimage frames walk.gif -o frames/walk-{i}.png]],
    run = run_frames,
  },
  info = {
    usage = "gptimage info FILE...",
    description = "Print the format, size, alpha and frame count of image files (PNG, JPEG, WebP, GIF, SVG)\n"
      .. "from their headers, without decoding them.",
    sections = { { "Options", { JSON, HELP } } },
    examples = [[
  gptimage info sprites/*.png walk.gif]],
    run = run_info,
  },
}

return tools
