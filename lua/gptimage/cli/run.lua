-- gptimage.cli.run: the `run` and `batch submit` commands.
--
-- Loads a manifest, plans it (gptimage.cli.planner), refuses a plan over
-- the budget, sends the batchable entries through the Batch API when asked
-- and runs the rest (gptimage.runner), then prints the summary (and
-- JSON with --json).
--
-- Contract: run.run_manifest returns an exit code; bad arguments and bad
-- manifests raise usage errors before anything is sent.

local json = require "gptimage.json"
local manifest = require "gptimage.manifest"
local batchapi = require "gptimage.batchapi"
local common = require "gptimage.cli.common"
local options = require "gptimage.cli.args"
local progressbar = require "gptimage.cli.progress"
local errors = require "gptimage.cli.errors"
local planner = require "gptimage.cli.planner"
local runner = require "gptimage.runner"

local run = {}
local EXIT, streams, say = common.EXIT, common.streams, common.say
local usage_error, dollars, plural = common.usage_error, common.dollars, common.plural
local wall_clock, make_client, concat = common.wall_clock, common.make_client, common.concat
local new_progress, progress_mode = progressbar.new, progressbar.mode
local error_fields, describe_error, error_hint = errors.error_fields, errors.describe_error, errors.error_hint
local image_defaults, make_plan, state_path = planner.image_defaults, planner.make_plan, planner.state_path
local entries_json, print_plan, DEFAULT_MODEL = planner.entries_json, planner.print_plan, planner.DEFAULT_MODEL
local build_direct = runner.build_direct
local RUN_OPTIONS, OUTPUT_OPTIONS = options.RUN_OPTIONS, options.OUTPUT_OPTIONS
local IMAGE_OPTIONS, CLIENT_OPTIONS = options.IMAGE_OPTIONS, options.CLIENT_OPTIONS

local function run_manifest(values, positional, gptimage)
  local path = positional[1]
  if not path then
    usage_error("run needs a manifest: gptimage run MANIFEST (see gptimage run --help)")
  end
  if #positional > 1 then
    usage_error("run takes one manifest, not " .. #positional .. " arguments (quote the values that contain spaces)")
  end
  if values.jobs and values.jobs < 1 then
    usage_error("-j must be at least 1")
  end
  if values.budget and values.budget < 0 then
    usage_error("--budget must be a positive number of dollars")
  end
  local m, problem = manifest.load(path, { defaults = image_defaults(values), output_dir = values.output,
    allow_outside_output_dir = values.allow_outside_output_dir })
  if not m then
    usage_error(problem)
  end
  local progress = new_progress(progress_mode(values), 0)
  local started = wall_clock()
  local plan = make_plan(m, values, gptimage)
  -- an entry with no known estimate cannot be kept within a budget
  local over_budget = values.budget and (plan.estimate > values.budget + 1e-9 or plan.unknown > 0)

  if values.dry_run then
    if values.json then
      say(streams.out, json.encode({ manifest = m.path, dry_run = true, estimate = plan.estimate,
        budget = values.budget, over_budget = over_budget or false, unknown_prices = plan.unknown,
        entries = entries_json(m) }, "  "))
    else
      say(streams.out, print_plan(m, plan, values))
    end
    return over_budget and EXIT.budget or EXIT.ok
  end
  if over_budget and plan.unknown > 0 then
    say(streams.err, string.format("gptimage: %s no known estimate (no published token table and no records "
      .. "of the model yet): nothing was sent. Give --assume-cost USD (dollars per image) to run within --budget.",
      plural(plan.unknown, "entry has", "entries have")))
    return EXIT.budget
  elseif over_budget then
    say(streams.err, string.format("gptimage: the estimate for %s is %s, over the budget of %s: nothing was sent. "
      .. "Raise --budget, remove entries, or lower quality/size (see --dry-run for each entry's cost).",
      plural(#plan.todo, "entry", "entries"), dollars(plan.estimate), dollars(values.budget)))
    if values.json then
      say(streams.out, json.encode({ manifest = m.path, ok = false, exit_code = EXIT.budget,
        estimate = plan.estimate, budget = values.budget, entries = entries_json(m) }, "  "))
    end
    return EXIT.budget
  end

  local counts = { built = 0, images = 0, failed = 0, not_started = 0, submitted = 0, spent = 0, committed = 0,
                   waiting = 0, late_skipped = 0, sheets = 0 }
  local batches = json.array()
  local direct = {}
  local client
  if #plan.todo > 0 then
    client = make_client(values, gptimage)
  end
  if values.batch then
    local list, chosen = {}, {}
    for _, entry in ipairs(plan.todo) do
      if entry.batchable then
        local item = { save = entry.output, custom_id = entry.custom_id, request_hash = entry.hash }
        for key, value in pairs(entry.call) do
          if key ~= "timeout" and key ~= "max_retries" then
            item[key] = value
          end
        end
        list[#list + 1] = item
        chosen[#chosen + 1] = entry
      else
        direct[#direct + 1] = entry
      end
    end
    for first = 1, #list, batchapi.MAX_LINES do
      local chunk, entries = {}, {}
      for i = first, math.min(#list, first + batchapi.MAX_LINES - 1) do
        chunk[#chunk + 1] = list[i]
        entries[#entries + 1] = chosen[i]
      end
      local submitted, batch, err = pcall(batchapi.submit, client, chunk,
                                          { state = state_path(m.path), model = DEFAULT_MODEL })
      if not submitted then
        usage_error(tostring(batch))
      end
      if not batch then
        for _, entry in ipairs(entries) do
          entry.status = "failed"
          entry.error = error_fields(err)
          counts.failed = counts.failed + 1
        end
        progress:always("gptimage: the batch could not be submitted: " .. describe_error(err))
      else
        for _, entry in ipairs(entries) do
          entry.status = "submitted"
          entry.batch_id = batch.id
        end
        counts.submitted = counts.submitted + #entries
        for _, entry in ipairs(entries) do
          counts.committed = counts.committed + (entry.estimate or 0)
        end
        batches[#batches + 1] = { id = batch.id, requests = #entries, status = batch.status }
        if not values.json then
          say(streams.out, batch.id)
        end
        progress:always(string.format("submitted batch %s with %s (state in %s); "
          .. "collect it with: gptimage batch collect %s",
          batch.id, plural(#entries, "request"), state_path(m.path), batch.id))
      end
    end
    if #direct > 0 then
      progress:always(string.format("%s run directly: the Batch API takes no local input images and no "
        .. "streaming", plural(#direct, "entry", "entries")))
    end
  else
    direct = plan.todo
  end

  progress.total = #direct
  if plan.skipped > 0 or plan.pending > 0 then
    progress:line(string.format("%d up to date%s", plan.skipped,
      plan.pending > 0 and string.format(", %d waiting in a batch", plan.pending) or ""))
  end
  if #direct > 0 then
    progress:draw()
  end
  local stopped = false
  if #direct > 0 then
    local ok, result = pcall(build_direct, client, direct, values, progress, counts,
                             { committed = counts.committed, pending = plan.pending_map })
    if not ok then
      if tostring(result):match("interrupted!$") then
        -- what the run had done when it was interrupted, then on to main's exit 130
        progress:finish()
        say(streams.err, string.format("%s interrupted after %.1f s: %s built, cost %s",
          m.path, wall_clock() - started, plural(counts.images, "image"), dollars(progress.cost)))
      end
      error(result, 0)
    end
    stopped = result
  end
  progress:finish()

  local seconds = wall_clock() - started
  local code = EXIT.ok
  if counts.refused then
    code = EXIT.usage
  elseif stopped then
    code = EXIT.budget
  elseif counts.failed > 0 then
    code = EXIT.failed
  end
  local skipped = plan.skipped + counts.late_skipped
  local summary = string.format("%s in %.1f s: %s built, %d up to date%s, %d failed%s%s%s, cost %s",
    m.path, seconds, plural(counts.images, "image"), skipped,
    counts.sheets > 0 and string.format(", %s cut again from %s gif", plural(counts.sheets, "sprite sheet"),
      counts.sheets > 1 and "their" or "its") or "",
    counts.failed,
    counts.submitted > 0 and string.format(", %d submitted to the Batch API (estimated %s)", counts.submitted,
      dollars(counts.committed)) or "",
    counts.waiting > 0 and string.format(", %d waiting for a batch's images", counts.waiting) or "",
    counts.not_started > 0 and string.format(", %d not started", counts.not_started) or "",
    dollars(counts.spent))
  say(streams.err, summary)
  local failed_lines = {}
  for _, entry in ipairs(m.entries) do
    if entry.status == "failed" then
      failed_lines[#failed_lines + 1] = string.format("  %s (entry %d): %s%s", entry.label, entry.index,
        describe_error(entry.error), entry.hint and ("\n    " .. entry.hint) or "")
    end
  end
  if counts.refused then
    -- one line: every other entry would have been refused the same way
    local err = counts.refused.err
    say(streams.err, string.format("gptimage: stopped at the first refusal (%s, entry %d): %s; %s",
      describe_error(err), counts.refused.entry.index, error_hint(err, values) or "check the API key",
      "the other entries were not started"))
  elseif #failed_lines > 0 then
    say(streams.err, "failed (run again to retry only these):\n" .. table.concat(failed_lines, "\n"))
  end
  if stopped then
    local names = {}
    for _, entry in ipairs(m.entries) do
      if entry.status == "not_started" then
        names[#names + 1] = "  " .. entry.label
      end
    end
    say(streams.err, string.format("the budget of %s was reached after spending %s; not started:\n%s\n"
      .. "run again with a larger --budget to build them", dollars(values.budget), dollars(counts.spent),
      table.concat(names, "\n")))
  end
  if values.json then
    say(streams.out, json.encode({
      manifest = m.path, ok = code == EXIT.ok, exit_code = code, batches = batches,
      summary = { entries = #m.entries, built = counts.built, images = counts.images,
                  skipped = skipped, sheets = counts.sheets, pending = plan.pending, failed = counts.failed,
                  not_started = counts.not_started, submitted = counts.submitted, waiting = counts.waiting,
                  cost = counts.spent, estimate = plan.estimate, seconds = seconds,
                  budget_reached = stopped },
      entries = entries_json(m),
    }, "  "))
  end
  return code
end

run.run_manifest = run_manifest

run.commands = {
  run = {
    usage = "gptimage run MANIFEST [-j N] [--force] [--dry-run] [--budget USD] [--batch] [--json] [options]",
    description = "Build every entry of a manifest, a few at a time, skipping entries that are up to date.\n"
      .. "Progress goes to stderr (a bar on a terminal, a line per entry otherwise), then a summary of\n"
      .. "images, failures, time and cost. The image options below are defaults for every entry: the\n"
      .. "manifest's defaults give way to them, an entry's own values win over both.\n\n"
      .. "With --budget, the whole plan is estimated first (gptimage estimate's token table) and refused\n"
      .. "if over; during the run no entry starts unless the spend so far (actual costs) plus the estimates\n"
      .. "of the requests in flight and its own stays within the budget.\n\n"
      .. "With --batch, generate entries go to the Batch API as one batch (its id is printed on stdout and\n"
      .. "recorded in MANIFEST.batches.json); collect them with gptimage batch collect ID. Entries with input\n"
      .. "images (edits, variations) still run directly: the Batch API takes edits only with images given\n"
      .. "as URLs or file ids, not local files. Entries waiting in a batch are not sent again by a later run.",
    sections = { { "Options", concat(RUN_OPTIONS, OUTPUT_OPTIONS) }, { "Entry defaults", IMAGE_OPTIONS },
                 { "Connection", CLIENT_OPTIONS } },
    notes = options.MANIFEST_HELP,
    examples = [[
  gptimage run sprites.json -j 8
  gptimage run sprites.json --dry-run
  gptimage run sprites.lua --budget 2.50 --quality low
  gptimage run tiles.json --batch && gptimage batch collect batch_abc123 --wait]],
    run = run_manifest,
  },
  ["batch submit"] = {
    usage = "gptimage batch submit MANIFEST [options]",
    description = "The same as gptimage run --batch MANIFEST.",
    sections = { { "Options", concat(RUN_OPTIONS, OUTPUT_OPTIONS) }, { "Entry defaults", IMAGE_OPTIONS },
                 { "Connection", CLIENT_OPTIONS } },
    run = function(values, positional, gptimage)
      values.batch = true
      return run_manifest(values, positional, gptimage)
    end,
  },
}

return run
