-- Calls go one way: the `#include "..."` graph of src/*.c and src/*.h read
-- as a graph of modules, checked for cycles and against the layer order
-- declared below, so that a call back up (a file including a header of a
-- module above it) fails here, naming the files, instead of growing unseen.
--
-- A module is a .c file and its .h of the same name; a header with no .c
-- (lua_compat.h, client_state.h) is a module of its own.  Two rooms are
-- declared as one module each, because their files share one private set
-- of types and call each other by design, and splitting them further would
-- only move the cycle into function pointers:
--   job:   job.c and the files that make up a job (transfer, result, retry,
--          download, raw, batch, deliver) share the job struct of
--          job_internal.h; a transfer ends in result.c, which may start a
--          url download whose end is again result.c, and delivery runs a
--          batch's bookkeeping, which starts the next child in job.c.
--   image: image.c sniffs and dispatches to the codecs, and each codec
--          takes its pixel buffer and limits from image.c (image.h's types).
-- Inside a room the files may include each other; between modules, only
-- downwards: a module includes modules on layers strictly below its own.
-- The job room shows the layers above it one header, job.h: its other
-- headers carry the private struct, and a file outside the room that
-- includes one fails here too.
local gptimage = require "gptimage"

local ROOMS = {
  job = { "job", "job_internal", "transfer", "result", "retry", "download", "raw", "batch", "deliver" },
  image = { "image", "png_codec", "gif_codec", "jpeg_codec", "webp_codec" },
}

-- room = the one header files outside it may include
local ROOM_FACE = { job = "job.h" }

-- top to bottom
local LAYERS = {
  { "gptimage" },    -- the module table: luaopen_gptimage and the module functions
  { "client" },      -- the Client userdata: configuration and its Lua methods
  { "wait" },        -- what blocks: job:wait and the blocking calls
  { "drive" },       -- the multi handle and one round of work; sleeping until there is more
  { "job" },         -- the jobs: lifecycle, transfer, results, retries, delivery
  { "request", "helpers", "os", "client_state" },
  { "rules", "imgtools" },
  { "options", "cost" },
  { "input", "imgops", "models", "errors", "json", "buffer", "hint", "savepath", "scanner", "sse", "b64sink", "trust" },
  { "image" },
  { "castore" },      -- the OpenSSL libcurl loaded: the trust judge warms it, transfers share its stores
  { "curlapi", "clock", "luabuf", "version", "fnv", "reaper" },
  { "lua_compat" },
}

local function source_dir()
  return (os.getenv("GPTIMAGE_SOURCE_DIR") or ".") .. "/src"
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("a")
  f:close()
  return text
end

-- files[name] = list of the src headers it includes (quoted includes only)
local function read_graph(dir)
  local names = assert(gptimage.os.listdir(dir))
  local files = {}
  for _, name in ipairs(names) do
    if name:match("%.[ch]$") then files[name] = {} end
  end
  for name in pairs(files) do
    for line in read(dir .. "/" .. name):gmatch("[^\n]*") do
      local inc = line:match('^%s*#%s*include%s+"([^"]+)"')
      if inc and files[inc] then table.insert(files[name], inc) end
    end
  end
  return files
end

local function module_of(file)
  local stem = file:gsub("%.[ch]$", "")
  for room, members in pairs(ROOMS) do
    for _, m in ipairs(members) do
      if m == stem then return room end
    end
  end
  return stem
end

local function layer_index()
  local index = {}
  for i, layer in ipairs(LAYERS) do
    for _, m in ipairs(layer) do index[m] = i end
  end
  return index
end

-- edges[from][to] = "a.c includes b.h" (the first such include, for the message)
local function module_edges(files)
  local edges, modules = {}, {}
  local sorted = {}
  for name in pairs(files) do sorted[#sorted + 1] = name end
  table.sort(sorted)
  for _, name in ipairs(sorted) do
    local from = module_of(name)
    modules[from] = true
    edges[from] = edges[from] or {}
    for _, inc in ipairs(files[name]) do
      local to = module_of(inc)
      if to ~= from and not edges[from][to] then edges[from][to] = name .. " includes " .. inc end
    end
  end
  return edges, modules
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

-- every cycle found by a depth-first walk, each as the list of its edges' reasons
local function find_cycles(edges)
  local state, stack, cycles = {}, {}, {}
  local function visit(m)
    state[m] = "open"
    stack[#stack + 1] = m
    for _, to in ipairs(sorted_keys(edges[m] or {})) do
      if state[to] == "open" then
        local path, start = {}, nil
        for i = 1, #stack do
          if stack[i] == to then start = i end
        end
        for i = start, #stack do
          local a, b = stack[i], stack[i + 1] or to
          path[#path + 1] = edges[a][b]
        end
        cycles[#cycles + 1] = table.concat(path, ", ")
      elseif state[to] == nil then
        visit(to)
      end
    end
    stack[#stack] = nil
    state[m] = "closed"
  end
  for _, m in ipairs(sorted_keys(edges)) do
    if state[m] == nil then visit(m) end
  end
  return cycles
end

local function check(files)
  local edges, modules = module_edges(files)
  local problems = {}
  for _, cycle in ipairs(find_cycles(edges)) do
    problems[#problems + 1] = "cycle: " .. cycle
  end
  local index = layer_index()
  for _, m in ipairs(sorted_keys(modules)) do
    if not index[m] then
      problems[#problems + 1] = "module '" .. m .. "' is on no layer: declare it in spec/layers_spec.lua"
    end
  end
  local names = sorted_keys(files)
  for _, name in ipairs(names) do
    for _, inc in ipairs(files[name]) do
      local room = module_of(inc)
      if ROOM_FACE[room] and inc ~= ROOM_FACE[room] and module_of(name) ~= room then
        problems[#problems + 1] = string.format("%s includes %s: outside the %s room, include only %s",
          name, inc, room, ROOM_FACE[room])
      end
    end
  end
  for _, from in ipairs(sorted_keys(edges)) do
    for _, to in ipairs(sorted_keys(edges[from])) do
      if index[from] and index[to] and index[to] <= index[from] then
        problems[#problems + 1] = string.format("%s: '%s' (layer %d) may only include layers below it, not '%s' (layer %d)",
          edges[from][to], from, index[from], to, index[to])
      end
    end
  end
  return problems
end

describe("the include graph of src/", function()
  it("has no cycle between modules and no include that goes up a layer", function()
    local problems = check(read_graph(source_dir()))
    assert(#problems == 0, "\n" .. table.concat(problems, "\n"))
  end)

  it("declares every room member and layer module once", function()
    local seen = {}
    for _, layer in ipairs(LAYERS) do
      for _, m in ipairs(layer) do
        assert(not seen[m], m .. " is on two layers")
        seen[m] = true
      end
    end
    for room in pairs(ROOMS) do assert(seen[room], "room " .. room .. " is on no layer") end
  end)

  -- the checker itself, on small made-up graphs, so that it cannot pass by
  -- reading nothing
  it("finds a cycle and an upward include, naming the files", function()
    local problems = check({
      ["client.c"] = { "client.h", "job.h" },
      ["client.h"] = {},
      ["job.c"] = { "job.h", "client.h" },
      ["job.h"] = {},
    })
    local text = table.concat(problems, "\n")
    assert.matches("cycle: client.c includes job.h, job.c includes client.h", text, 1, true)
    assert.matches("job.c includes client.h: 'job' (layer 5) may only include layers below it, not 'client' (layer 2)",
      text, 1, true)
    assert.equal(2, #problems)
  end)

  it("finds a private header of the job room included from outside it", function()
    local problems = check({
      ["drive.c"] = { "job.h", "job_internal.h" },
      ["job.h"] = {},
      ["job_internal.h"] = { "job.h" },
      ["result.c"] = { "job_internal.h" },
    })
    assert.same({ "drive.c includes job_internal.h: outside the job room, include only job.h" }, problems)
  end)

  it("names a module that is on no layer", function()
    local problems = check({ ["stray.c"] = { "lua_compat.h" }, ["lua_compat.h"] = {} })
    assert.same({ "module 'stray' is on no layer: declare it in spec/layers_spec.lua" }, problems)
  end)

  it("reads the real tree: the rooms and the drive are there", function()
    local files = read_graph(source_dir())
    assert.is_table(files["job_internal.h"])
    assert.is_table(files["client.c"])
    assert.is_table(files["drive.c"])
    assert.is_table(files["wait.c"])
    assert.truthy(#files["job.c"] > 0)
  end)
end)
