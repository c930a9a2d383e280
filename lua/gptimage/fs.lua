-- gptimage.fs: files and paths for the Lua parts.
--
-- Reading a whole file, path arithmetic (dirname, basename, join,
-- normalize, absolute), making folders and atomic writes (a temporary file
-- in the same folder renamed over the target: readers never see a partial
-- file). The system calls behind them (the working folder, mkdir -p, the
-- folder listing) are the C module's gptimage.os: nothing is shelled out.
--
-- Contract: path functions are pure and never fail; functions that touch
-- the disk return nil, message on failure and never raise for it.

local fs = {}

-- gptimage.os, loaded when first needed: the path functions work without
-- the C module.
local function system()
  return require("gptimage").os
end

function fs.exists(path)
  local handle = io.open(path, "rb")
  if handle then
    handle:close()
    return true
  end
  return false
end

--- "file", "directory", "fifo", ... (gptimage.os.kind), or nil when there
-- is nothing at path; never opens it.
function fs.kind(path)
  return (system().kind(path))
end

--- The content of a regular file; nil and a message for anything else
-- (missing, a folder, a FIFO that would block the reader, a device).
function fs.read_regular(path)
  local kind = fs.kind(path)
  if kind ~= "file" then
    return nil, string.format("'%s' is %s", path, kind and ("a " .. kind .. ", not a regular file") or "missing")
  end
  return fs.read_file(path)
end

function fs.read_file(path)
  local handle, problem = io.open(path, "rb")
  if not handle then
    return nil, problem
  end
  local content = handle:read("*a")
  handle:close()
  return content
end

function fs.dirname(path)
  local dir = path:match("^(.*)/[^/]*$")
  if dir == nil then
    return "."
  end
  if dir == "" then
    return "/"
  end
  return dir
end

function fs.basename(path)
  return path:match("([^/]*)$")
end

function fs.is_absolute(path)
  return path:sub(1, 1) == "/"
end

--- base/path, unless path is absolute or base is empty or ".".
function fs.join(base, path)
  if fs.is_absolute(path) or base == nil or base == "" or base == "." then
    return path
  end
  if base:sub(-1) == "/" then
    return base .. path
  end
  return base .. "/" .. path
end

--- path without "." segments, doubled slashes or "name/.." pairs, so that
-- two spellings of one file compare equal.
function fs.normalize(path)
  local absolute = fs.is_absolute(path)
  local parts = {}
  for part in path:gmatch("[^/]+") do
    if part == ".." and #parts > 0 and parts[#parts] ~= ".." then
      parts[#parts] = nil
    elseif part ~= "." and not (part == ".." and absolute and #parts == 0) then
      parts[#parts + 1] = part
    end
  end
  local joined = table.concat(parts, "/")
  if absolute then
    return "/" .. joined
  end
  return joined == "" and "." or joined
end

--- The working folder (absolute).
function fs.cwd()
  return system().cwd() or os.getenv("PWD") or "."
end

function fs.absolute(path)
  return fs.join(fs.cwd(), path)
end

--- Creates dir and its parents (mkdir -p); true or nil, message.
function fs.mkdirs(dir)
  if dir == nil or dir == "" or dir == "." or dir == "/" then
    return true
  end
  local probe = io.open(dir .. "/.", "rb")
  if probe then
    probe:close()
    return true
  end
  local ok, problem = system().mkdirs(dir)
  if not ok then
    return nil, problem
  end
  return true
end

local seeded = false
local function temporary_suffix()
  if not seeded then
    math.randomseed(os.time() + math.floor((os.clock() * 1e6) % 1e6))
    seeded = true
  end
  return string.format("%06x%06x", math.random(0, 0xffffff), math.random(0, 0xffffff))
end

--- Writes data to a temporary file in path's folder and renames it over
-- path: readers never see a partial file. true or nil, message.
function fs.write_atomic(path, data)
  local dir = fs.dirname(path)
  local ok, problem = fs.mkdirs(dir)
  if not ok then
    return nil, problem
  end
  local temporary = fs.join(dir, "." .. fs.basename(path) .. ".tmp-" .. temporary_suffix())
  local handle
  handle, problem = io.open(temporary, "wb")
  if not handle then
    return nil, "cannot write '" .. path .. "': " .. tostring(problem)
  end
  local written, write_problem = handle:write(data)
  local closed, close_problem = handle:close()
  if not written or not closed then
    os.remove(temporary)
    return nil, "cannot write '" .. path .. "': " .. tostring(write_problem or close_problem)
  end
  ok, problem = os.rename(temporary, path)
  if not ok then
    os.remove(temporary)
    return nil, "cannot write '" .. path .. "': " .. tostring(problem)
  end
  return true
end


--- The names in folder dir (default "."), sorted; nil, message on failure.
function fs.listdir(dir)
  local names, problem = system().listdir(dir or ".")
  if not names then
    return nil, problem
  end
  table.sort(names)
  return names
end

return fs
