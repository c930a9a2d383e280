-- gptimage.cli.estimate: the `estimate` command.
--
-- What a request would cost (the module's estimate: output tokens plus the
-- prompt's text tokens), or with a manifest the plan of `run --dry-run`.
--
-- Contract: sends nothing; returns an exit code.

local json = require "gptimage.json"
local fs = require "gptimage.fs"
local common = require "gptimage.cli.common"
local options = require "gptimage.cli.args"
local planner = require "gptimage.cli.planner"
local run = require "gptimage.cli.run"

local estimate = {}
local EXIT, streams, say = common.EXIT, common.streams, common.say
local usage_error, dollars, concat = common.usage_error, common.dollars, common.concat
local image_defaults, DEFAULT_MODEL = planner.image_defaults, planner.DEFAULT_MODEL
local run_manifest = run.run_manifest
local ESTIMATE_OPTIONS, OUTPUT_OPTIONS = options.ESTIMATE_OPTIONS, options.OUTPUT_OPTIONS
local IMAGE_OPTIONS = options.IMAGE_OPTIONS

local function run_estimate(values, positional, gptimage)
  local first = positional[1]
  if first and #positional == 1 and not values.prompt and (first:match("%.json$") or first:match("%.lua$")) then
    if not fs.exists(first) then
      usage_error(string.format("no manifest %s (to estimate a prompt that ends in %s, give it with --prompt)",
        first, first:match("%.%w+$")))
    end
    values.dry_run = true
    return run_manifest(values, positional, gptimage)
  end
  local prompt = values.prompt or (#positional > 0 and table.concat(positional, " ") or nil)
  local call = image_defaults(values)
  call.model = call.model or DEFAULT_MODEL
  call.prompt = prompt
  planner.learn({ values.output and fs.join(values.output, "x") or "./x" })
  local ok, amount, details = pcall(gptimage.estimate, { model = call.model, quality = call.quality,
    size = call.size, n = call.n, prompt = prompt, output_tokens = planner.observed_tokens(call) })
  if ok and amount == nil and values.assume_cost then
    amount, details = values.assume_cost * (call.n or 1), { assumed = values.assume_cost }
  end
  if not ok then
    usage_error(tostring(amount):gsub("^estimate: ", "cannot estimate: "))
  end
  if values.json then
    say(streams.out, json.encode({ model = call.model, quality = call.quality, size = call.size,
      n = call.n or 1, estimate = amount, details = details }, "  "))
  elseif amount == nil then
    say(streams.out, string.format("unknown: %s (give --assume-cost USD per image)",
      details and details.unknown or ("no known price for " .. call.model)))
  else
    local parts = {}
    if details and details.output_tokens then
      parts[#parts + 1] = string.format("%d output tokens", details.output_tokens)
    end
    if details and details.text_tokens and details.text_tokens > 0 then
      parts[#parts + 1] = string.format("%d text tokens", details.text_tokens)
    end
    say(streams.out, string.format("%s%s", dollars(amount),
      #parts > 0 and (" (" .. table.concat(parts, " + ") .. ")") or ""))
    -- what was assumed for what the command line left out
    local n = details and details.n or call.n or 1
    say(streams.out, string.format("for %d image%s: %s, quality %s, size %s%s", n, n == 1 and "" or "s",
      details and details.model or call.model, details and details.quality or call.quality or "(the model's)",
      details and details.size or call.size or "1024x1024",
      (call.quality and call.size) and "" or " (set --quality and --size to change)"))
  end
  return EXIT.ok
end

estimate.commands = {
  estimate = {
    usage = "gptimage estimate [options] [PROMPT]   or   gptimage estimate MANIFEST [options]",
    description = "Print what a request would cost: output tokens from the model's published table (only\n"
      .. "gpt-image-1 has one) or from the records (<output>.json) of earlier images of the same model,\n"
      .. "quality and size in this folder, at the model's price per million tokens (2.x: $5 text in, $30\n"
      .. "image out), plus the prompt's text tokens; dall-e models by their per-image price. With neither\n"
      .. "a table nor records the estimate is unknown (--assume-cost gives a figure per image). Input\n"
      .. "image tokens of edits are not counted. With a manifest: the plan of gptimage run --dry-run.",
    sections = { { "Options", concat(ESTIMATE_OPTIONS, { OUTPUT_OPTIONS[1], OUTPUT_OPTIONS[4] }) },
                 { "Image options", IMAGE_OPTIONS } },
    examples = [[
  gptimage estimate --quality high --size 1536x1024 -n 4 "a castle"
  gptimage estimate sprites.json]],
    run = run_estimate,
  },
}

return estimate
