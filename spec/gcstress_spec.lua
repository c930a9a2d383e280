-- The asynchronous paths under garbage-collector stress: jobs start, stream,
-- complete, retry, are cancelled, and clients are dropped while a full
-- collection runs every few dozen VM instructions (or the collector never
-- rests). Whatever the caller lets go of, nothing the transfers still use
-- may be collected, and what is delivered must be intact.
local gptimage = require "gptimage"
local fake = require "helpers.server"
local util = require "helpers.util"

local HOOK_INSTRUCTIONS = 50

-- Two ways to stress the collector:
--   hook:  a full collection every HOOK_INSTRUCTIONS Lua instructions (in
--          the callbacks the module runs, too);
--   eager: the collector never pauses and works hard on every allocation,
--          including those the module makes from C.
local MODES = {
  {
    name = "a full collection every " .. HOOK_INSTRUCTIONS .. " instructions",
    start = function(state)
      if jit then jit.off() jit.flush() end
      state.collections = 0
      debug.sethook(function()
        state.collections = state.collections + 1
        collectgarbage()
      end, "", HOOK_INSTRUCTIONS)
    end,
    -- proof that the stress was real: collections ran during the scenario
    check = function(state)
      assert(state.collections > 0, "only " .. state.collections .. " collections ran under the hook")
    end,
    stop = function()
      debug.sethook()
      if jit then jit.on() end
    end,
  },
  {
    name = "a collector that never pauses",
    start = function()
      collectgarbage("collect")
      collectgarbage("setpause", 0)
      collectgarbage("setstepmul", 1000)
    end,
    stop = function()
      collectgarbage("setpause", 200)
      collectgarbage("setstepmul", _VERSION == "Lua 5.4" and 100 or 200)
    end,
  },
}

local function sleep(seconds)
  os.execute(string.format("sleep %.3f", seconds))
end

-- A copy of s that is a distinct string object (not the caller's).
local function fresh(s)
  return table.concat{ s:sub(1, 1), s:sub(2) }
end

describe("gc stress", function()
  local srv, dir, png, png_sha, png_path, mask, mask_sha

  setup(function()
    srv = fake.start{}
    local c = gptimage.new{ api_key = "sk-test", base_url = srv.base_url }
    png = assert(c:generate{ prompt = "fixture" }).images[1].bytes
    png_sha = srv:last_request().images[1]
    mask = assert(c:generate{ prompt = "mask", background = "transparent" }).images[1].bytes
    mask_sha = srv:last_request().images[1]
    c:close()
  end)
  teardown(function() srv:stop() end)

  for _, mode in ipairs(MODES) do
    describe("with " .. mode.name, function()
      local stressed = false

      -- Runs f under stress; the stress always ends, even if f fails.
      local function stress(f)
        local state = {}
        mode.start(state)
        stressed = true
        local ok, err = pcall(f)
        mode.stop()
        stressed = false
        if not ok then error(err, 0) end
        if mode.check then mode.check(state) end
      end

      -- Polls until cond() holds (bounded), sleeping a little between polls.
      local function drive(client, cond)
        for _ = 1, 3000 do
          if cond() then return end
          client:poll()
          if cond() then return end
          sleep(0.005)
        end
        error("gave up waiting")
      end

      before_each(function()
        srv:reset()
        png_path = nil
        dir = util.tmpdir()
        png_path = dir .. "/input.png"
        util.write(png_path, png)
      end)
      after_each(function()
        if stressed then mode.stop() end
        collectgarbage()
        util.rmtree(dir)
      end)

      it("jobs whose options and handles were dropped complete intact", function()
        local client = gptimage.new{ api_key = "sk-test", base_url = srv.base_url, max_retries = 0 }
        local got, calls, finished = {}, {}, 0
        stress(function()
          for i = 1, 6 do
            client:start("generate", { prompt = fresh("dropped job " .. i),
              on_done = function(res, err)
                calls[i] = (calls[i] or 0) + 1
                if calls[i] == 1 then finished = finished + 1 end
                got[i] = { bytes = res and res.images[1].bytes, err = err and tostring(err) }
              end })
          end
          -- counted, not #got: jobs end in any order and got has holes meanwhile
          drive(client, function() return finished == 6 end)
        end)
        client:close()
        local by_prompt = {}
        for _, r in ipairs(srv:requests()) do by_prompt[r.json.prompt] = r end
        for i = 1, 6 do
          assert.equals(1, calls[i])
          assert.is_nil(got[i].err)
          local record = by_prompt["dropped job " .. i]
          assert.is_table(record)
          assert.equals(srv:image(record.images[1]), got[i].bytes)
        end
      end)

      it("streamed partial images and the final image arrive intact", function()
        local client = gptimage.new{ api_key = "sk-test", base_url = srv.base_url, max_retries = 0 }
        local partials, finals = {}, {}
        stress(function()
          for i = 1, 3 do
            partials[i] = {}
            client:start("generate", { prompt = "stream " .. i, stream = true, partial_images = 2,
              on_partial = function(image, index)
                partials[i][#partials[i] + 1] = { bytes = image.bytes, index = index }
              end,
              on_done = function(res, err) finals[i] = res and res.images[1].bytes or tostring(err) end })
          end
          drive(client, function() return finals[1] and finals[2] and finals[3] end)
        end)
        client:close()
        local by_prompt = {}
        for _, r in ipairs(srv:requests()) do by_prompt[r.json.prompt] = r end
        for i = 1, 3 do
          local record = by_prompt["stream " .. i]
          assert.equals(2, #partials[i])
          for k, p in ipairs(partials[i]) do
            assert.equals(k - 1, p.index)
            assert.equals(srv:image(record.partial_images[k]), p.bytes)
          end
          assert.equals(srv:image(record.images[1]), finals[i])
        end
      end)

      it("uploads from strings and io files the caller dropped at once are sent whole", function()
        local client = gptimage.new{ api_key = "sk-test", base_url = srv.base_url, max_retries = 0 }
        local results = {}
        stress(function()
          client:start("edit", { image = fresh(png), prompt = fresh("from a string"),
                                 on_done = function(res, err) results[1] = res or err end })
          client:start("edit", { image = assert(io.open(png_path, "rb")), prompt = "from an io file",
                                 on_done = function(res, err) results[2] = res or err end })
          client:start("edit", { image = { data = fresh(png), filename = fresh("named.png") },
                                 mask = fresh(mask), prompt = "from a table",
                                 on_done = function(res, err) results[3] = res or err end })
          client:start("edit", { image = { png_path, fresh(png) }, prompt = "from a list",
                                 on_done = function(res, err) results[4] = res or err end })
          drive(client, function() return results[1] and results[2] and results[3] and results[4] end)
        end)
        client:close()
        for i = 1, 4 do
          assert.is_table(results[i].images, tostring(results[i]))
        end
        local records = srv:requests()
        assert.equals(4, #records)
        for _, r in ipairs(records) do
          for _, part in ipairs(r.parts) do
            if part.name == "mask" then
              assert.equals(#mask, part.size)
              assert.equals(mask_sha, part.sha256)
            elseif part.filename then
              assert.equals(#png, part.size)
              assert.equals(png_sha, part.sha256)
            end
          end
        end
      end)

      it("cancelled jobs end once, the others complete, no file is left", function()
        local client = gptimage.new{ api_key = "sk-test", base_url = srv.base_url, max_retries = 0 }
        srv:fault{ action = "drip", chunk = 512, interval = 0.02, times = 6 }
        local calls, outcome = {}, {}
        local jobs = {}
        stress(function()
          for i = 1, 6 do
            jobs[i] = client:start("generate", { prompt = "c" .. i, save = dir .. "/c" .. i .. ".png",
              on_done = function(res, err)
                calls[i] = (calls[i] or 0) + 1
                outcome[i] = res and "ok" or err.kind
              end })
          end
          for _ = 1, 5 do
            client:poll()
            sleep(0.02)
          end
          for i = 1, 6, 2 do jobs[i]:cancel() end
          jobs = nil -- the rest run on with no reference from the caller
          drive(client, function()
            for i = 1, 6 do if not outcome[i] then return false end end
            return true
          end)
        end)
        client:close()
        for i = 1, 6 do
          assert.equals(1, calls[i])
          if i % 2 == 1 then
            assert.equals("cancelled", outcome[i])
            assert.is_false(util.exists(dir .. "/c" .. i .. ".png"))
          else
            assert.equals("ok", outcome[i])
            assert.is_true(util.is_png(util.read(dir .. "/c" .. i .. ".png")))
          end
        end
        for _, name in ipairs(util.listdir(dir)) do
          assert.is_nil(name:match("%.part$"), name)
        end
      end)

      it("retries wait and complete with nothing of the caller's kept", function()
        local client = gptimage.new{ api_key = "sk-test", base_url = srv.base_url, max_retries = 2 }
        srv:fault{ action = "status", status = 500, times = 2 }
        local result
        stress(function()
          client:start("generate", { prompt = fresh("retry me"),
                                     on_done = function(res, err) result = res or err end })
          drive(client, function() return result ~= nil end)
        end)
        client:close()
        assert.is_table(result.images)
        assert.equals(3, #srv:requests())
      end)

      it("a batch runs to its end with its list dropped", function()
        local client = gptimage.new{ api_key = "sk-test", base_url = srv.base_url, max_retries = 0 }
        srv:fault{ action = "error", status = 400, times = 1 }
        local progress, final = {}, nil
        stress(function()
          local list = {}
          for i = 1, 10 do list[i] = { prompt = fresh("batch " .. i), save = dir .. "/b" .. i .. ".png" } end
          client:start("batch", list, { concurrency = 3,
            on_progress = function(done, total, index) progress[#progress + 1] = index end,
            on_done = function(results) final = results end })
          list = nil
          drive(client, function() return final ~= nil end)
        end)
        client:close()
        assert.equals(10, #final)
        assert.equals(10, #progress)
        local failed = 0
        for i = 1, 10 do
          if final[i].err then
            failed = failed + 1
            assert.equals("api", final[i].err.kind)
          else
            assert.equals(dir .. "/b" .. i .. ".png", final[i].res.images[1].path)
          end
        end
        assert.equals(1, failed)
      end)

      it("a callback error surfaces intact from poll", function()
        local client = gptimage.new{ api_key = "sk-test", base_url = srv.base_url, max_retries = 0 }
        local ok, msg
        stress(function()
          client:start("generate", { prompt = "a", on_done = function()
            error("callback failed: " .. ("x"):rep(3) .. tostring(42))
          end })
          for _ = 1, 3000 do
            ok, msg = pcall(client.poll, client)
            if not ok then break end
            sleep(0.005)
          end
        end)
        client:close()
        assert.is_false(ok)
        assert.matches("callback failed: xxx42", tostring(msg))
      end)

      it("clients dropped with jobs in flight are collected cleanly", function()
        srv:fault{ action = "drip", chunk = 256, interval = 0.02, times = -1 }
        stress(function()
          for round = 1, 6 do
            local c = gptimage.new{ api_key = "sk-test", base_url = srv.base_url, max_retries = 1 }
            for i = 1, 3 do
              c:start("generate", { prompt = "round " .. round, save = dir .. "/r" .. round .. "-" .. i .. ".png",
                                    on_done = function() end })
            end
            c:poll()
            sleep(0.01)
            c:poll()
          end
          collectgarbage()
          collectgarbage()
        end)
        srv:reset()
        collectgarbage()
        collectgarbage()
        -- every job was cancelled by its client's collection: no file, no temporary file
        assert.same({ "input.png" }, util.listdir(dir))
      end)

      it("a kept job keeps its dropped client alive and completes", function()
        local job
        local result
        stress(function()
          do
            local c = gptimage.new{ api_key = "sk-test", base_url = srv.base_url, max_retries = 0 }
            job = c:start("generate", { prompt = "orphan" })
          end
          collectgarbage()
          local res, err = job:wait()
          result = res or err
        end)
        assert.is_table(result.images)
        assert.is_true(util.is_png(result.images[1].bytes))
      end)

      it("a job in retry wait, dropped with its client, is collected cleanly", function()
        srv:fault{ action = "status", status = 500, times = -1 }
        stress(function()
          for _ = 1, 4 do
            local c = gptimage.new{ api_key = "sk-test", base_url = srv.base_url, max_retries = 5 }
            c:start("generate", { prompt = "retrying", save = dir .. "/retry.png" })
            for _ = 1, 20 do
              c:poll()
              sleep(0.01)
            end
          end
          collectgarbage()
        end)
        collectgarbage()
        assert.same({ "input.png" }, util.listdir(dir))
      end)
    end)
  end
end)
