-- gptimage.cli.batch: the `batch status`, `batch collect` and `batch
-- cancel` commands (`batch submit` is `run --batch`, in gptimage.cli.run).
--
-- Each is one call of gptimage.batchapi for one batch id, reported on
-- stderr (progress, summary) and stdout (the result, JSON with --json).
-- collect finds the state file a `run --batch` wrote, so that images land
-- where their manifest entries said.
--
-- Contract: every run function returns an exit code; bad arguments raise
-- usage errors.

local json = require "gptimage.json"
local fs = require "gptimage.fs"
local batchapi = require "gptimage.batchapi"
local common = require "gptimage.cli.common"
local options = require "gptimage.cli.args"
local progressbar = require "gptimage.cli.progress"
local errors = require "gptimage.cli.errors"
local planner = require "gptimage.cli.planner"

local batch_commands = {}
local EXIT, streams, say = common.EXIT, common.streams, common.say
local usage_error, dollars, concat = common.usage_error, common.dollars, common.concat
local make_client = common.make_client
local new_progress, progress_mode = progressbar.new, progressbar.mode
local error_fields, describe_error = errors.error_fields, errors.describe_error
local state_path = planner.state_path
local COLLECT_OPTIONS, OUTPUT_OPTIONS = options.COLLECT_OPTIONS, options.OUTPUT_OPTIONS
local CLIENT_OPTIONS = options.CLIENT_OPTIONS

local function batch_counts(batch)
  local counts = batch.request_counts or {}
  return counts.total or 0, counts.completed or 0, counts.failed or 0
end

-- `gptimage batch WHAT BATCH_ID`: batchapi[what] for that one batch. The
-- batch, or nil once the failure is reported (exit EXIT.failed).
local function call_on_batch(what, values, positional, gptimage)
  local id = positional[1]
  if not id or #positional > 1 then
    usage_error("usage: gptimage batch " .. what .. " BATCH_ID")
  end
  local client = make_client(values, gptimage)
  local ok, batch, err = pcall(batchapi[what], client, id)
  if not ok then
    usage_error(tostring(batch))
  end
  if not batch then
    say(streams.err, "gptimage: batch " .. what .. " failed: " .. describe_error(err))
  end
  return batch
end

local function run_batch_status(values, positional, gptimage)
  local batch = call_on_batch("status", values, positional, gptimage)
  if not batch then
    return EXIT.failed
  end
  if values.json then
    say(streams.out, json.encode(batch, "  "))
    return EXIT.ok
  end
  local total, completed, failed = batch_counts(batch)
  local lines = {
    string.format("%s: %s", batch.id, batch.status),
    string.format("  requests: %d total, %d completed, %d failed", total, completed, failed),
  }
  if batch.created_at then
    lines[#lines + 1] = "  created: " .. os.date("!%Y-%m-%d %H:%M:%S UTC", batch.created_at)
  end
  if batch.output_file_id then
    lines[#lines + 1] = "  output file: " .. batch.output_file_id
  end
  if batch.error_file_id then
    lines[#lines + 1] = "  error file: " .. batch.error_file_id
  end
  if batch.status == "completed" or batch.status == "expired" or batch.status == "cancelled" then
    lines[#lines + 1] = "  collect it with: gptimage batch collect " .. batch.id
  end
  say(streams.out, table.concat(lines, "\n"))
  return EXIT.ok
end

local function state_candidates(values)
  if values.state then
    return { values.state }
  end
  if values.manifest then
    return { state_path(values.manifest) }
  end
  local candidates = {}
  for _, name in ipairs(fs.listdir(".") or {}) do
    if name:match("%.batches%.json$") then
      candidates[#candidates + 1] = name
    end
  end
  return candidates
end

local function run_batch_collect(values, positional, gptimage)
  local id = positional[1]
  if not id or #positional > 1 then
    usage_error("usage: gptimage batch collect BATCH_ID [-o DIR] [--wait]")
  end
  if values.state and values.manifest then
    usage_error("give --state or --manifest, not both")
  end
  local path, record = batchapi.find_state(id, state_candidates(values))
  if (values.state or values.manifest) and not path then
    usage_error(string.format("%s does not record batch %s", values.state or state_path(values.manifest), id))
  end
  local outputs = {}
  if values.output and record then
    for _, entry in ipairs(record.entries or {}) do
      outputs[entry.custom_id] = fs.join(values.output, batchapi.safe_name(entry.custom_id))
    end
  end
  if not record and not values.output then
    say(streams.err, "gptimage: no state file records " .. id .. " (looked for *.batches.json here); "
      .. "images are written here, named by custom_id (use --manifest, --state or -o DIR to choose)")
  end
  local client = make_client(values, gptimage)
  local progress = new_progress(progress_mode(values), 0)
  local wait
  if values.wait then
    wait = values.max_wait or true
  end
  local ok, results, batch = pcall(batchapi.collect, client, id, {
    state = path, outputs = outputs, dir = values.output or ".", wait = wait,
    interval = values.interval, sidecars = not values.no_sidecar,
    on_status = function(b)
      local total, completed, failed = batch_counts(b)
      progress.total = total
      if values.wait and b.status ~= "completed" and b.status ~= "failed" and b.status ~= "expired"
         and b.status ~= "cancelled" then
        progress:line(string.format("%s: %s (%d/%d done)", id, b.status, completed + failed, total))
      end
    end,
    on_result = function(result)
      progress.done = progress.done + 1
      if result.res then
        progress.cost = progress.cost + (result.res.cost or 0)
        progress:line(string.format("[%d/%d] wrote %s", progress.done, progress.total, result.output))
      else
        progress.failed = progress.failed + 1
        progress:always(string.format("[%d/%d] FAILED %s: %s", progress.done, progress.total,
          tostring(result.custom_id or "?"), describe_error(result.err)))
      end
      progress:draw()
    end,
  })
  if not ok then
    usage_error(tostring(results))
  end
  local err = batch
  if not results then
    if type(err) == "table" and err.pending then
      say(streams.err, "gptimage: " .. tostring(err.message) .. " (or add --wait)")
      if values.json then
        say(streams.out, json.encode({ ok = false, exit_code = EXIT.pending, batch = err.batch }, "  "))
      end
      return EXIT.pending
    end
    say(streams.err, "gptimage: batch collect failed: " .. describe_error(err))
    if values.json then
      say(streams.out, json.encode({ ok = false, exit_code = EXIT.failed, error = error_fields(err) }, "  "))
    end
    return EXIT.failed
  end
  progress:finish()
  local written, failed, cost = 0, 0, 0
  local list = json.array()
  for i, result in ipairs(results) do
    local item = { custom_id = result.custom_id, output = result.output }
    if result.res then
      written = written + 1
      cost = cost + (result.res.cost or 0)
      item.status = "written"
      item.cost = result.res.cost
      item.request_id = result.res.request_id
      item.files = json.array()
      for j, image in ipairs(result.res.images) do
        item.files[j] = image.path
      end
    else
      failed = failed + 1
      item.status = "failed"
      item.error = error_fields(result.err)
    end
    list[i] = item
  end
  say(streams.err, string.format("batch %s (%s): %d written, %d failed, cost %s at the batch price",
    id, batch.status, written, failed, dollars(cost)))
  for _, result in ipairs(results) do
    if result.err then
      say(streams.err, string.format("  failed: %s: %s", tostring(result.custom_id or "?"), describe_error(result.err)))
    end
  end
  local code = failed > 0 and EXIT.failed or EXIT.ok
  if values.json then
    say(streams.out, json.encode({ ok = code == EXIT.ok, exit_code = code, batch = batch, results = list,
      summary = { written = written, failed = failed, cost = cost } }, "  "))
  end
  return code
end

local function run_batch_cancel(values, positional, gptimage)
  local batch = call_on_batch("cancel", values, positional, gptimage)
  if not batch then
    return EXIT.failed
  end
  if values.json then
    say(streams.out, json.encode(batch, "  "))
  else
    say(streams.out, string.format("%s: %s", tostring(batch.id), tostring(batch.status)))
  end
  return EXIT.ok
end

batch_commands.BATCH_SUBCOMMANDS = { "submit", "status", "collect", "cancel" }

batch_commands.commands = {
  batch = {
    usage = "gptimage batch submit|status|collect|cancel ...",
    sections = {},
    run = nil,
  },
  ["batch status"] = {
    usage = "gptimage batch status BATCH_ID [--json]",
    description = "Print a batch's status and request counts (--json: the whole batch object).",
    sections = { { "Options", { OUTPUT_OPTIONS[1], OUTPUT_OPTIONS[4] } }, { "Connection", CLIENT_OPTIONS } },
    run = run_batch_status,
  },
  ["batch collect"] = {
    usage = "gptimage batch collect BATCH_ID [-o DIR] [--wait] [--manifest FILE | --state FILE] [--json]",
    description = "Download a finished batch's output and write each image (atomically) where its manifest entry\n"
      .. "said, with its <output>.json record, so that a later run skips it. Per-request errors are listed\n"
      .. "and make the exit code 1. The state file is MANIFEST.batches.json (found with --manifest or\n"
      .. "--state, or in the current folder); without one, images are named by their custom_id.\n"
      .. "A batch still running exits with 4, unless --wait polls until it is finished.",
    sections = { { "Options", concat(COLLECT_OPTIONS, OUTPUT_OPTIONS) }, { "Connection", CLIENT_OPTIONS } },
    run = run_batch_collect,
  },
  ["batch cancel"] = {
    usage = "gptimage batch cancel BATCH_ID",
    description = "Ask the API to cancel a batch; requests already done can still be collected.",
    sections = { { "Options", { OUTPUT_OPTIONS[1], OUTPUT_OPTIONS[4] } }, { "Connection", CLIENT_OPTIONS } },
    run = run_batch_cancel,
  },
}

batch_commands.commands.batch.help = [[
usage: gptimage batch COMMAND ...

The OpenAI Batch API: requests are answered within 24 hours at half the price.

Commands:
  submit MANIFEST       send the manifest's generate entries as one batch (= run --batch)
  status BATCH_ID       the batch's status and request counts
  collect BATCH_ID      write the finished batch's images and records (--wait to poll)
  cancel BATCH_ID       cancel a batch

Run gptimage batch COMMAND --help for each command's options.
Edits and variations cannot go through the Batch API from local files (it takes
edit images only as URLs or file ids); run --batch sends those directly.

]] .. common.EXIT_CODES_HELP .. "\n"

return batch_commands
