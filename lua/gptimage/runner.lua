-- gptimage.runner: runs planned entries on a client. Shared by the command
-- line (`gptimage run`, `batch submit`'s direct entries) and the editor (the
-- Neovim helper's open runs), so it lives beside them rather than in cli/.
--
-- At most `jobs` requests in flight, each entry after the entries that
-- make its inputs, within a budget: an entry starts only while the spend so
-- far plus the estimates of the jobs in flight (and of a submitted batch)
-- and its own stays within it. Each finished entry gets its record written
-- and a line of progress.
--
-- runner.new(...) makes a run that step() advances without ever waiting:
-- each step polls the client once, starts what may start and takes in what
-- has finished (for a host with its own loop, such as an editor's timer);
-- run() and build_direct drive it to the end, waiting on the jobs.
--
-- An open run (context.open) is a host's queue of jobs: entries ({ op,
-- call [, batch_options] [, output] [, deps] [, estimate] }) come one at a time
-- with add(), each starts at once when the limit, its inputs and the budget
-- allow, and each finished one goes to context.finish(entry, res, err)
-- instead of a record and a line of progress; a refusal does not stop it, a
-- caller bug in an entry's options raises from add(), and an idle open run
-- is not over (more entries may come). The Neovim helper drives its jobs so,
-- one step per timer tick.
--
-- Contract: a run ends when every entry is finished, blocked or left
-- unstarted by the budget (then `stopped` is true) or by a refused key (a
-- 401 or 403 stops the run at the first one: counts.refused = { entry, err });
-- the world's failures become failed entries, never errors.

local cache = require "gptimage.cache"
local common = require "gptimage.cli.common"
local errors = require "gptimage.cli.errors"
local planner = require "gptimage.cli.planner"

local runner = {}
local dollars, unpack_list = common.dollars, common.unpack_list
local error_fields, describe_error, error_hint = errors.error_fields, errors.describe_error, errors.error_hint
local WAITING_STATUS, prepare_entry = planner.WAITING_STATUS, planner.prepare_entry

-- The entry's sprite sheet (manifest field `sheet`) of its saved gif:
-- true, or nil and an error table. Written before the record, so that an
-- entry whose sheet failed is not up to date.
local function write_sheet(entry)
  if not entry.sheet then
    return true
  end
  local source = entry.files[1]
  if not source then
    return nil, { kind = "io", message = "the response had no image to make the sprite sheet of" }
  end
  local ok, sheet, problem = pcall(require("gptimage").spritesheet, source,
    { save = entry.sheet, columns = entry.sheet_columns })
  if ok and sheet then
    entry.sheet_path = sheet.path
    return true
  end
  local message = ok and (type(problem) == "table" and problem.message or tostring(problem)) or tostring(sheet)
  return nil, { kind = ok and type(problem) == "table" and problem.kind or "io",
                message = "the image was saved but its sprite sheet was not: " .. message }
end

local function finish_entry(entry, res, err, progress, counts, values)
  if res then
    local files = {}
    for i, image in ipairs(res.images or {}) do
      files[i] = image.path
    end
    entry.files = files
    entry.cost = res.cost
    entry.request_id = res.request_id
    entry.revised_prompt = res.images and res.images[1] and res.images[1].revised_prompt
    local sheet_ok, sheet_err = write_sheet(entry)
    local ok, problem = false, nil
    if sheet_ok then
      ok, problem = cache.write_beside(entry.output, entry.options.output_format, res, {
        request_hash = entry.hash, model = entry.call.model, prompt = entry.call.prompt,
        sheet_columns = entry.sheet and entry.sheet_columns or nil,
      })
    end
    if ok then
      entry.status = "built"
      counts.built = counts.built + 1
      counts.images = counts.images + #files
      progress.done = progress.done + 1
      progress:line(string.format("[%d/%d] built %s (%s)", progress.done, progress.total,
        entry.label, dollars(res.cost or entry.estimate)))
      return
    end
    err = sheet_err or { kind = "io", message = "the image was saved but its record was not: " .. tostring(problem) }
  end
  entry.status = "failed"
  entry.error = error_fields(err)
  entry.hint = error_hint(err, values)
  counts.failed = counts.failed + 1
  progress.failed = progress.failed + 1
  progress.done = progress.done + 1
  progress:always(string.format("[%d/%d] FAILED %s (entry %d): %s", progress.done, progress.total,
    entry.label, entry.index, describe_error(err)))
end

-- An entry planned "sheet": its GIF is current, its sprite sheet is missing
-- or was cut with other columns. Cut again from the GIF on disk (no request,
-- nothing spent) and the record updated with the columns; then it counts as
-- up to date. A failure fails the entry as a failed sheet after a build does.
local function recut_sheet(entry, progress, counts, values)
  local ok, err = write_sheet(entry)
  if ok then
    -- updated where it is: its file names are relative to that folder
    local record, place = cache.find(entry.output, entry.options.output_format)
    local problem
    if record then
      record.sheet_columns = entry.sheet_columns
      ok, problem = cache.write(place, record)
    else
      ok, problem = nil, "it cannot be read"
    end
    if not ok then
      err = { kind = "io", message = "the sprite sheet was cut but the record was not updated: " .. tostring(problem) }
    end
  end
  if not ok then
    finish_entry(entry, nil, err, progress, counts, values)
    return
  end
  entry.status = "skip"
  counts.sheets = (counts.sheets or 0) + 1
  progress.done = progress.done + 1
  progress:line(string.format("[%d/%d] cut the sprite sheet of %s again from its gif (%s, no request)",
    progress.done, progress.total, entry.label, entry.reason))
end

-- A 401 or 403: every other entry would be refused the same way.
local function refused(err)
  return type(err) == "table" and err.kind == "api" and (err.status == 401 or err.status == 403)
end

-- Records the first refusal (counts.refused) and every refused entry as
-- failed without a line of its own: the run ends with one line about it.
local function refuse_entry(entry, err, progress, counts)
  entry.status = "failed"
  entry.error = error_fields(err)
  counts.failed = counts.failed + 1
  progress.failed = progress.failed + 1
  progress.done = progress.done + 1
  counts.refused = counts.refused or { entry = entry, err = err }
end

-- Whether an entry can start: "ready", "wait" (an entry it needs is still
-- to be built) or "blocked" (one was not built), with the blocking entry.
local function readiness(entry)
  for _, dep in ipairs(entry.deps or {}) do
    if WAITING_STATUS[dep.status] then
      return "wait"
    end
    if dep.status ~= "built" and dep.status ~= "skip" then
      return "blocked", dep
    end
  end
  return "ready"
end

-- A run of entries with at most values.jobs in flight, each after the
-- entries that make its inputs. With a budget, an entry starts only while
-- the spend so far plus the estimates of the jobs in flight (and of a
-- submitted batch) and its own stays within it.
--
-- It never waits by itself: step() starts what may start and takes in what
-- has finished, so a host with its own loop (an editor's timer that polls
-- the client) can drive it; run() is the blocking loop of the command.
local Run = {}
Run.__index = Run

--- A run of `todo` (planned entries) on client. context: committed (dollars
-- already promised, e.g. to a batch), pending (planner's batch map).
function runner.new(client, todo, values, progress, counts, context)
  return setmetatable({
    client = client, values = values, progress = progress, counts = counts, context = context,
    limit = values.jobs or 4, budget = values.budget,
    queue = { unpack_list(todo) }, inflight = {},
    spent = 0, reserved = context.committed or 0,
    stopped = false, finished = false,
    open = context.open and true or false, on_finish = context.finish, cut = false,
  }, Run)
end

-- An entry that cannot be built: failed, through the host's finish in an
-- open run.
function Run:fail(entry, err)
  if self.on_finish then
    entry.status = "failed"
    return self.on_finish(entry, nil, err)
  end
  return finish_entry(entry, nil, err, self.progress, self.counts, self.values)
end

-- Starts every entry that may start now.
function Run:start_ready()
  local queue, inflight, values = self.queue, self.inflight, self.values
  local progress, counts = self.progress, self.counts
  local i = 1
  while not self.stopped and not counts.refused and #inflight < self.limit and i <= #queue do
    local entry = queue[i]
    local state, blocker = readiness(entry)
    if state == "wait" then
      i = i + 1
    elseif state == "blocked" then
      table.remove(queue, i)
      if blocker.status == "submitted" or blocker.status == "pending" then
        entry.status = "waiting"
        entry.batch_id = blocker.batch_id
        counts.waiting = counts.waiting + 1
        progress:line(string.format("%s waits for %s from batch %s", entry.label, blocker.label,
          tostring(blocker.batch_id)))
      else
        self:fail(entry, { kind = "input", message = string.format("its input %s was not built (entry %d %s)",
          blocker.label, blocker.index, blocker.status == "not_started" and "was not started" or "failed") })
      end
    else
      local startable = true
      if entry.status == "deferred" then
        local ok, problem = prepare_entry(entry, values, self.context.pending)
        if not ok then
          table.remove(queue, i)
          startable = false
          self:fail(entry, { kind = "usage", message = problem })
        elseif entry.status ~= "build" and entry.status ~= "sheet" then
          table.remove(queue, i)
          startable = false
          counts.late_skipped = counts.late_skipped + 1
          progress.done = progress.done + 1
          progress:line(string.format("[%d/%d] up to date %s", progress.done, progress.total, entry.label))
        end
      end
      if startable and entry.status == "sheet" then
        table.remove(queue, i)
        recut_sheet(entry, progress, counts, values)
      elseif startable then
        local guess = entry.estimate or 0
        local budget = self.budget
        if budget and (self.spent >= budget or self.spent + self.reserved + guess > budget + 1e-9) then
          if #inflight == 0 then
            self.stopped = true
          end
          break
        end
        table.remove(queue, i)
        local call = {}
        for key, value in pairs(entry.call) do
          call[key] = value
        end
        if entry.output ~= nil then
          call.save = entry.output
        end
        -- entry.batch_options: a batch's own (client:start("batch", list, batch_options))
        local ok, job = pcall(self.client.start, self.client, entry.op, call, entry.batch_options)
        if ok then
          entry.status = "running"
          inflight[#inflight + 1] = { entry = entry, job = job, guess = guess }
          self.reserved = self.reserved + guess
        elseif self.open then
          entry.status = "failed"
          error(job, 0)   -- the host's caller gave options the module refuses
        else
          self:fail(entry, { kind = "usage", message = tostring(job) })
        end
      end
    end
  end
end

-- Takes in the jobs that have finished (never waits). The run's lists are
-- settled before any entry is finished, so that a host's finish that
-- raises leaves the run consistent.
function Run:collect()
  local running, ended = {}, {}
  for _, slot in ipairs(self.inflight) do
    if slot.job:done() then
      ended[#ended + 1] = slot
    else
      running[#running + 1] = slot
    end
  end
  self.inflight = running
  for _, slot in ipairs(ended) do
    local res, err = slot.job:result()
    self.reserved = self.reserved - slot.guess
    if res then
      local cost = res.cost or slot.entry.estimate or 0
      self.spent = self.spent + cost
      self.progress.cost = self.progress.cost + cost
    end
    if self.on_finish then
      slot.entry.status = res and "built" or "failed"
      self.on_finish(slot.entry, res, err)
    elseif not res and refused(err) then
      refuse_entry(slot.entry, err, self.progress, self.counts)
    else
      finish_entry(slot.entry, res, err, self.progress, self.counts, self.values)
    end
  end
  if self.counts.refused then
    -- what is still in flight would be refused too: cancel it, start nothing
    for _, slot in ipairs(self.inflight) do
      slot.job:cancel()
      self.queue[#self.queue + 1] = slot.entry
      self.reserved = self.reserved - slot.guess
    end
    self.inflight = {}
  end
end

-- Marks what never started and totals the spend; once.
function Run:finish()
  if self.finished then
    return
  end
  self.finished = true
  for _, entry in ipairs(self.queue) do
    entry.status = "not_started"
    self.counts.not_started = self.counts.not_started + 1
  end
  self.counts.spent = self.spent
end

--- One round without waiting: polls the client once (self.cut is then
-- its second answer: data was left waiting for the next poll), starts what
-- may start and takes in what finished. True once the run is over (then
-- counts.spent is set and self.stopped says whether the budget stopped it);
-- an open run answers true while it is idle and goes on when add() gives it
-- more. An error raised by poll (a callback's) comes out of step; the next
-- step goes on.
function Run:step()
  if self.finished then
    return true
  end
  self:start_ready()
  if #self.inflight == 0 then
    self.cut = false
    if not self.open then
      self:finish()
    end
    return true
  end
  local _, cut = self.client:poll()
  self.cut = cut and true or false
  self:collect()
  self.progress:draw()
  return false
end

--- Adds an entry to an open run and starts it when it may: returns its job,
-- or nil while it waits (for a slot, an input or the budget).
function Run:add(entry)
  if not self.open then
    error("gptimage.runner: add() is for an open run (context.open)", 2)
  end
  self.queue[#self.queue + 1] = entry
  self:start_ready()
  for _, slot in ipairs(self.inflight) do
    if slot.entry == entry then
      return slot.job
    end
  end
end

--- Entries waiting or in flight.
function Run:pending()
  return #self.queue + #self.inflight
end

--- The jobs in flight.
function Run:jobs()
  local jobs = {}
  for i, slot in ipairs(self.inflight) do
    jobs[i] = slot.job
  end
  return jobs
end

--- Runs to the end, waiting on the jobs; returns whether the budget stopped it.
function Run:run()
  while true do
    self:start_ready()
    if #self.inflight == 0 then
      break
    end
    self.inflight[1].job:wait(0.25)
    self:collect()
    self.progress:draw()
  end
  self:finish()
  return self.stopped
end

--- The command's blocking run (see runner.new); true when the budget stopped it.
function runner.build_direct(client, todo, values, progress, counts, context)
  return runner.new(client, todo, values, progress, counts, context):run()
end

return runner
