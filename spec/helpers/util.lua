-- Small shared helpers for the specs: temporary folders, reading and
-- writing files, running shell commands, file checks. A spec that needs one
-- of these uses it from here instead of its own copy.
local M = {}

local counter = 0

-- A fresh empty folder under the system temp dir, removed by M.rmtree.
function M.tmpdir()
  counter = counter + 1
  local base = os.getenv("TMPDIR") or "/tmp"
  local p = io.popen("mktemp -d " .. base .. "/gptimage-spec-XXXXXX")
  local dir = p:read("*l")
  p:close()
  assert(dir and dir ~= "", "mktemp failed")
  return dir
end

function M.rmtree(dir)
  if dir and dir:match("gptimage%-spec%-") then os.execute("rm -rf '" .. dir .. "'") end
end

-- The absolute path of the source tree's bin/gptimage command.
function M.command_path()
  local path = (os.getenv("GPTIMAGE_SOURCE_DIR") or ".") .. "/bin/gptimage"
  if path:sub(1, 1) ~= "/" then
    local pipe = io.popen("pwd")
    path = pipe:read("*l") .. "/" .. path
    pipe:close()
  end
  return path
end

function M.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

function M.write(path, data)
  local f = assert(io.open(path, "wb"))
  assert(f:write(data))
  assert(f:close())
end

-- Writes bytes to dir/name and returns that path.
function M.file(dir, name, bytes)
  local path = dir .. "/" .. name
  M.write(path, bytes)
  return path
end

-- A string as one word of a POSIX shell command line.
function M.shell_quote(value)
  return "'" .. tostring(value):gsub("'", "'\\''") .. "'"
end

-- Runs a shell command; returns its output (stdout and stderr together) and
-- its exit code, on any Lua.
function M.run(command)
  local pipe = assert(io.popen(command .. " 2>&1; echo \"__exit=$?\""))
  local out = pipe:read("*a")
  pipe:close()
  local text, code = out:match("^(.-)__exit=(%d+)%s*$")
  return text or out, tonumber(code)
end

function M.sleep(seconds)
  os.execute(string.format("sleep %.3f", seconds))
end

function M.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

-- Every entry of a folder (including hidden ones), sorted.
function M.listdir(dir)
  local out = {}
  local p = io.popen("ls -A '" .. dir .. "' 2>/dev/null")
  for line in p:lines() do out[#out + 1] = line end
  p:close()
  table.sort(out)
  return out
end

function M.is_png(bytes)
  return type(bytes) == "string" and bytes:sub(1, 8) == "\137PNG\r\n\26\n"
end

function M.png_size(bytes)
  local function u32(s, i)
    local a, b, c, d = s:byte(i, i + 3)
    return ((a * 256 + b) * 256 + c) * 256 + d
  end
  return u32(bytes, 17), u32(bytes, 21)
end

local function count_fds()
  local p = io.popen("ls /proc/" .. M.pid() .. "/fd | wc -l")
  local n = tonumber(p:read("*l"))
  p:close()
  return n
end

-- Number of open file descriptors of this process. One listing can count a
-- descriptor that is on its way out (the lister's own pipe, a socket libcurl
-- is closing): never too few, now and then one too many, so the least of a
-- few listings is the count.
function M.open_fds()
  local least = count_fds()
  for _ = 1, 4 do least = math.min(least, count_fds()) end
  return least
end

function M.pid()
  local f = io.open("/proc/self/stat")
  local s = f:read("*l")
  f:close()
  return tonumber(s:match("^(%d+)"))
end

-- Resident memory in KiB (VmRSS) of this process.
function M.rss_kib()
  local f = io.open("/proc/self/status")
  local s = f:read("*a")
  f:close()
  return tonumber(s:match("VmRSS:%s*(%d+)"))
end

return M
