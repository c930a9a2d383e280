-- gptimage.cli.single: the `generate`, `edit` and `variation` commands.
--
-- One request from flags: checked and estimated before sending (--dry-run
-- and --budget stop there), saved where -o says (or to stdout with -o -, or
-- under a name made from the prompt), with its <output>.json record beside
-- the first image saved.
--
-- Contract: run_single returns an exit code; bad arguments raise usage
-- errors before anything is sent.

local cache = require "gptimage.cache"
local json = require "gptimage.json"
local fs = require "gptimage.fs"
local manifest = require "gptimage.manifest"
local batchapi = require "gptimage.batchapi"
local common = require "gptimage.cli.common"
local options = require "gptimage.cli.args"
local progressbar = require "gptimage.cli.progress"
local errors = require "gptimage.cli.errors"
local planner = require "gptimage.cli.planner"

local single = {}
local EXIT, streams, say = common.EXIT, common.streams, common.say
local usage_error, dollars, plural = common.usage_error, common.dollars, common.plural
local make_client, concat = common.make_client, common.concat
local new_progress, progress_mode = progressbar.new, progressbar.mode
local error_fields, describe_error, error_hint = errors.error_fields, errors.describe_error, errors.error_hint
local image_defaults, hash_fields, estimate_call = planner.image_defaults, planner.hash_fields, planner.estimate_call
local DEFAULT_MODEL = planner.DEFAULT_MODEL
local SINGLE_OPTIONS, OUTPUT_OPTIONS = options.SINGLE_OPTIONS, options.OUTPUT_OPTIONS
local INPUT_OPTIONS, MASK_OPTIONS = options.INPUT_OPTIONS, options.MASK_OPTIONS
local IMAGE_OPTIONS, CLIENT_OPTIONS = options.IMAGE_OPTIONS, options.CLIENT_OPTIONS

local function default_output(prompt, call)
  local stem = manifest.slug(prompt or "variation")
  local extension = manifest.extension(call.output_format)
  local count = call.n or 1
  for attempt = 1, 1000 do
    local name = stem .. (attempt > 1 and ("-" .. attempt) or "") .. "." .. extension
    local probe = require("gptimage").save_path(name, 1, count)
    if not fs.exists(name) and not fs.exists(probe) then
      return name
    end
  end
  return stem .. "." .. extension
end

local wait_with_spinner

-- Runs the request, showing a spinner with the elapsed time meanwhile (a
-- real call takes 10-60 s); returns what the job returns.
wait_with_spinner = function(client, op, call, progress, gptimage)
  local clock = gptimage.os.clock
  local started = clock()
  local job = client:start(op, call)
  local what = (op == "generate" and "generating" or (op == "edit" and "editing" or "making variations"))
    .. (call.model and (" with " .. call.model) or "")
  while not job:done() do
    progress:spin(what, clock() - started)
    job:wait(0.2)
  end
  progress:finish()
  return job:result()
end

local function run_single(op, values, positional, gptimage)
  local prompt = values.prompt
  if #positional > 0 then
    if prompt then
      usage_error("give the prompt once: either -p TEXT or as the argument")
    end
    prompt = table.concat(positional, " ")
  end
  if op ~= "variation" and (prompt == nil or prompt == "") then
    usage_error(string.format("%s needs a prompt: gptimage %s \"a pixel-art sword\"%s", op, op,
      op == "edit" and " -i input.png" or ""))
  end
  local call = image_defaults(values)
  call.prompt = prompt
  call.model = call.model or DEFAULT_MODEL
  if op == "variation" and prompt and call.model == "dall-e-2" then
    usage_error("a dall-e-2 variation takes no prompt (other models make a variation as an edit, and take one)")
  end
  if op ~= "generate" then
    local images = values.image or {}
    if #images == 0 then
      usage_error(op .. " needs an input image: -i PATH" .. (op == "edit" and " (repeat -i for several)" or ""))
    end
    if op == "variation" and #images > 1 then
      usage_error("variation takes one input image")
    end
    call.image = #images == 1 and images[1] or images
    call.mask = values.mask
    call.markup = values.markup
  elseif values.image then
    usage_error("generate takes no input images; use gptimage edit -i PATH")
  end
  if call.partial_images then
    call.stream = true
  end
  for _, key in ipairs({ "timeout", "max_retries" }) do
    call[key] = values[key]
  end
  local to_stdout = values.output == "-"
  if to_stdout and (call.n or 1) > 1 then
    usage_error("-o - writes one image to stdout; use -o FILE with -n")
  end
  if to_stdout and values.json then
    usage_error("-o - and --json both want stdout; use -o FILE with --json")
  end
  local ok, problem = batchapi.validate(op, call)
  if not ok then
    usage_error(problem)
  end
  local output = values.output or default_output(prompt, call)
  planner.learn({ to_stdout and "./-" or output })
  local estimate = estimate_call(gptimage, call, values.assume_cost)
  if values.dry_run then
    local plan = { command = op, output = output, request = {}, estimate = estimate, budget = values.budget }
    for key, value in pairs(call) do
      if key ~= "image" and key ~= "mask" and key ~= "markup" then
        plan.request[key] = value
      end
    end
    plan.inputs = json.array(type(call.image) == "table" and call.image or { call.image })
    plan.mask = call.mask
    plan.markup = call.markup
    if values.json then
      say(streams.out, json.encode(plan, "  "))
    else
      say(streams.out, string.format("%s %s -> %s: estimated %s", op, call.model, output, dollars(estimate)))
    end
    if values.budget and estimate and estimate > values.budget then
      return EXIT.budget
    end
    return EXIT.ok
  end
  if values.budget and not estimate then
    say(streams.err, string.format("gptimage: no estimate is known for %s (no published token table and no "
      .. "records of it yet): nothing was sent; give --assume-cost USD (dollars per image) to run within "
      .. "--budget", call.model))
    return EXIT.budget
  end
  if values.budget and estimate and estimate > values.budget + 1e-9 then
    say(streams.err, string.format("gptimage: the estimate %s is over the budget of %s: nothing was sent",
      dollars(estimate), dollars(values.budget)))
    return EXIT.budget
  end
  local client = make_client(values, gptimage)
  local mode = progress_mode(values)
  local progress = new_progress(mode, 1)
  if call.stream then
    call.on_partial = function(image, index)
      progress:line(string.format("partial image %d received (%d bytes)", (index or 0) + 1, #(image.bytes or "")))
    end
  end
  if not to_stdout then
    call.save = output
  end
  local hash = cache.request_hash(hash_fields({ op = op }, call),
    type(call.image) == "table" and call.image or (call.image and { call.image } or nil), call.mask, call.markup)
  local res, err = wait_with_spinner(client, op, call, progress, gptimage)
  if not res then
    local hint = error_hint(err, values)
    say(streams.err, "gptimage: " .. op .. " failed: " .. describe_error(err) .. (hint and ("\n  " .. hint) or ""))
    if values.json then
      say(streams.out, json.encode({ ok = false, exit_code = EXIT.failed, error = error_fields(err) }, "  "))
    end
    return EXIT.failed
  end
  if to_stdout then
    local image = res.images and res.images[1]
    if not image or not image.bytes then
      say(streams.err, "gptimage: the answer holds a URL, not the image bytes; use -o FILE to download it")
      return EXIT.failed
    end
    streams.out:write(image.bytes)
    return EXIT.ok
  end
  local files = json.array()
  for i, image in ipairs(res.images or {}) do
    files[i] = image.path
  end
  if not values.no_sidecar then
    -- beside a file that was saved, not under the template: "{i}" and
    -- "{ext}" resolved as for image 1 (the name itself for a plain -o;
    -- numbered images of -n are listed in that one record)
    local saved = res.images or {}
    local beside = #saved == 1 and saved[1].path or cache.beside(output, call.output_format)
    local written, write_problem = cache.write(beside, cache.record(beside, res, {
      request_hash = hash, model = call.model, prompt = prompt,
    }))
    if not written then
      say(streams.err, "gptimage: warning: " .. tostring(write_problem))
    end
  end
  if values.json then
    local revised = json.array()
    for i, image in ipairs(res.images or {}) do
      revised[i] = image.revised_prompt or require("cjson").null
    end
    say(streams.out, json.encode({ ok = true, exit_code = EXIT.ok, files = files, cost = res.cost,
      estimate = estimate, usage = res.usage, request_id = res.request_id, created = res.created,
      model = res.model or call.model, revised_prompts = revised, size = res.size,
      quality = res.quality, output_format = res.output_format }, "  "))
  else
    for _, path in ipairs(files) do
      say(streams.out, path)
    end
    if mode ~= "none" then
      say(streams.err, string.format("saved %s (%s)", plural(#files, "image"), dollars(res.cost)))
    end
  end
  return EXIT.ok
end

single.run_single = run_single

single.commands = {
  generate = {
    usage = "gptimage generate [options] PROMPT",
    description = "Generate images from a text prompt and save them; the saved paths are printed on stdout,\n"
      .. "and a record <output>.json is written next to the image.",
    sections = { { "Options", concat(SINGLE_OPTIONS, OUTPUT_OPTIONS) }, { "Image options", IMAGE_OPTIONS },
                 { "Connection", CLIENT_OPTIONS } },
    examples = [[
  gptimage generate "a pixel-art sword, transparent background" --background transparent -o sword.png
  gptimage generate -n 4 --quality low --size 1024x1536 -o card.png "a tarot card, the tower"
  gptimage generate --output-format gif --frame-count 6 --size 512x512 "a coin spinning" -o coin.gif
  gptimage generate --output-format svg "a flat shield icon" -o shield.svg
  gptimage generate --model gpt-image-2.6-sunburst --quality high "a lighthouse at dawn" -o - > lighthouse.png]],
    run = function(values, positional, gptimage) return run_single("generate", values, positional, gptimage) end,
  },
  edit = {
    usage = "gptimage edit -i IMAGE [-i IMAGE...] [--mask MASK | --markup MARKUP] [options] PROMPT",
    description = "Change images with a prompt: one or more input images (up to 16 for GPT models, one square\n"
      .. "PNG for dall-e-2) and an optional mask whose transparent pixels mark where the image may change,\n"
      .. "or a markup layer drawn over the first image to show what to change (2.5 and newer).",
    sections = { { "Options", concat(INPUT_OPTIONS, MASK_OPTIONS, SINGLE_OPTIONS, OUTPUT_OPTIONS) },
                 { "Image options", IMAGE_OPTIONS }, { "Connection", CLIENT_OPTIONS } },
    examples = [[
  gptimage edit -i sword.png "make the blade glow blue" -o sword-blue.png
  gptimage edit -i room.png --mask window.png "a stained-glass window" --input-fidelity high -o room2.png
  gptimage edit -i a.png -i b.png -i c.png "a gift basket with these items" -o basket.png
  gptimage edit -i hero.png --markup arrows.png "move the sword where the arrow points" -o hero2.png]],
    run = function(values, positional, gptimage) return run_single("edit", values, positional, gptimage) end,
  },
  variation = {
    usage = "gptimage variation -i IMAGE [options] [PROMPT]",
    description = "Variations of an image: an edit with a prompt that keeps the subject and style and varies\n"
      .. "the details (or your own PROMPT). With --model dall-e-2: the legacy variations endpoint\n"
      .. "(a square PNG under 4 MB, no prompt).",
    sections = { { "Options", concat(INPUT_OPTIONS, SINGLE_OPTIONS, OUTPUT_OPTIONS) },
                 { "Image options", IMAGE_OPTIONS }, { "Connection", CLIENT_OPTIONS } },
    examples = [[
  gptimage variation -i icon.png -n 3 -o icon-variant.png
  gptimage variation -i icon.png "the same icon in autumn colours" -o icon-autumn.png]],
    run = function(values, positional, gptimage) return run_single("variation", values, positional, gptimage) end,
  },
}

return single
