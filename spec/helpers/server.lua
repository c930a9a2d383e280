-- Starts the fake Images API (spec/server/fake_api.py) on a free loopback
-- port for a spec and drives its control API. Standard library, the curl
-- CLI and lua-cjson only, so it runs unchanged on Lua 5.4 and LuaJIT.
--
--   local fake = require "helpers.server"
--   local srv = fake.start{ image_bytes = 3000000, batch_polls = 1 }  -- verbose = true logs to stderr
--   srv.port, srv.root, srv.base_url        -- base_url ends in /v1
--   srv:fault{ action = "status", status = 500, times = 2 }
--   srv:config{ gzip = true }   srv:reset()   srv:stats()
--   srv:requests()   srv:last_request()   srv:image(sha256)   srv:stop()
--
--   local srv = fake.start{ http2 = true }   -- the same fake behind HTTP/2 over TLS
--   srv.base_url, srv.ca_file               -- https://127.0.0.1:PORT/v1 and its test CA
--   srv:h2_stats()                          -- connections and streams the front saw
--   srv:h2_close()                          -- closes the connections that carried API requests

local cjson = require "cjson"
local util = require "helpers.util"

local fake = {}

local Server = {}
Server.__index = Server

local START_TIMEOUT = 10
local STOP_TIMEOUT = 5
local MAX_ARGUMENT_BODY = 65536

local shell_quote, sleep = util.shell_quote, util.sleep

-- os.execute answers differently on Lua 5.1 (a status number) and 5.2+.
local function execute(command)
  local first, _, code = os.execute(command)
  if type(first) == "number" then
    return first == 0, first
  end
  return first == true, code
end

local read_file, write_file = util.read, util.write

local function own_pid()
  local stat = read_file("/proc/self/stat")
  local pid = stat and tonumber(stat:match("^(%d+)"))
  if not pid then
    error("cannot read this process's id from /proc/self/stat", 2)
  end
  return pid
end

-- Gone, or a zombie nobody has reaped yet.
local function process_gone(pid)
  local stat = read_file("/proc/" .. pid .. "/stat")
  if not stat then
    return true
  end
  local state = stat:match("%)%s+(%a)")
  return state == "Z" or state == "X"
end

local function temporary_path()
  local path = os.tmpname()
  os.remove(path)
  return path
end

-- cjson turns JSON null into a truthy sentinel; in records, absent is nil.
local function nulls_to_nil(record)
  for key, value in pairs(record) do
    if value == cjson.null then
      record[key] = nil
    end
  end
  if type(record.parts) == "table" then
    for _, part in ipairs(record.parts) do
      for key, value in pairs(part) do
        if value == cjson.null then
          part[key] = nil
        end
      end
    end
  end
  return record
end

local function script_path()
  local source_dir = os.getenv("GPTIMAGE_SOURCE_DIR")
  if source_dir and source_dir ~= "" then
    return source_dir .. "/spec/server/fake_api.py"
  end
  return "spec/server/fake_api.py"
end

local START_OPTIONS = { image_bytes = true, verbose = true, http2 = true }

-- Under the sanitizer suite LD_PRELOAD carries the ASan runtime for the Lua
-- interpreter that loads gptimage.so; the server and the curl CLI are not our
-- code and must not inherit it (the curl CLI can hang under it).
local UNSANITIZED = os.getenv("LD_PRELOAD") and "env -u LD_PRELOAD -u ASAN_OPTIONS -u UBSAN_OPTIONS " or ""

local function node_command()
  local node = os.getenv("GPTIMAGE_NODE")
  if not node or node == "" then
    node = "node"
  end
  return node
end

local function python_command()
  local python = os.getenv("GPTIMAGE_PYTHON")
  if not python or python == "" then
    python = "python3"
  end
  return python
end

--- Start a fake server. `opts.image_bytes` makes PNG answers random noise of
-- about that many bytes; any other field is sent to srv:config once it runs.
function fake.start(opts)
  opts = opts or {}
  local python = python_command()
  local script = script_path()
  if not read_file(script) then
    error("fake server script not found at " .. script
      .. " (run from the source tree or set GPTIMAGE_SOURCE_DIR)", 2)
  end
  local port_file = temporary_path()
  local log_file = port_file .. ".log"
  local command = {
    UNSANITIZED .. shell_quote(python), shell_quote(script), "--port 0",
    "--port-file", shell_quote(port_file),
    "--watch-pid", tostring(own_pid()),
  }
  if opts.image_bytes then
    command[#command + 1] = "--image-bytes " .. string.format("%d", opts.image_bytes)
  end
  if opts.verbose then
    command[#command + 1] = "--verbose"
  end
  local command_line = table.concat(command, " ")
  if opts.verbose then
    execute(command_line .. " </dev/null >/dev/null &")
  else
    execute(command_line .. " </dev/null >" .. shell_quote(log_file) .. " 2>&1 &")
  end

  local port, pid
  local waited = 0
  while waited < START_TIMEOUT do
    local content = read_file(port_file)
    if content then
      port, pid = content:match("^(%d+) (%d+)\n")
      if port then
        break
      end
    end
    -- Until it listens, the server prints nothing: any output is a failure.
    local log = read_file(log_file) or ""
    if log ~= "" and not opts.verbose then
      sleep(0.2)
      content = read_file(port_file)
      port, pid = (content or ""):match("^(%d+) (%d+)\n")
      break
    end
    sleep(0.05)
    waited = waited + 0.05
  end
  if not port then
    local log = read_file(log_file) or ""
    os.remove(log_file)
    error(string.format("fake API server failed to start (waited up to %d s)\ncommand: %s\noutput: %s",
      START_TIMEOUT, command_line, log), 2)
  end
  os.remove(port_file)
  -- The server keeps writing to the unlinked log; nothing is left behind
  -- even if this process ends without stop().
  os.remove(log_file)

  local server = setmetatable({
    port = tonumber(port),
    pid = tonumber(pid),
    root = "http://127.0.0.1:" .. port,
  }, Server)
  server.base_url = server.root .. "/v1"
  server.azure_endpoint = server.root

  if opts.http2 then
    local ok, err = pcall(server.start_http2, server)
    if not ok then
      server:stop()
      error(err, 2)
    end
  end

  local config = {}
  local has_config = false
  for key, value in pairs(opts) do
    if not START_OPTIONS[key] then
      config[key] = value
      has_config = true
    end
  end
  if has_config then
    server:config(config)
  end
  return server
end

-- Waits for a `PORT PID` port file; returns both, or nil after `limit` s.
local function wait_port_file(path, limit)
  local waited = 0
  while waited < limit do
    local port, pid = (read_file(path) or ""):match("^(%d+) (%d+)\n")
    if port then
      return tonumber(port), tonumber(pid)
    end
    sleep(0.05)
    waited = waited + 0.05
  end
end

--- Put the HTTP/2-over-TLS front (spec/server/h2_front.mjs) before this
-- server: a certificate for 127.0.0.1 made now by openssl, then base_url
-- and azure_endpoint point at the front; control calls still go to root.
function Server:start_http2()
  local dir = temporary_path()
  assert(execute("mkdir -m 700 " .. shell_quote(dir)))
  self.h2_dir = dir
  self.ca_file = dir .. "/cert.pem"
  local key = dir .. "/key.pem"
  local made = execute(UNSANITIZED .. "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1"
    .. " -nodes -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1"
    .. " -keyout " .. shell_quote(key) .. " -out " .. shell_quote(self.ca_file)
    .. " >" .. shell_quote(dir .. "/openssl.log") .. " 2>&1")
  if not made then
    error("openssl could not make a test certificate: " .. (read_file(dir .. "/openssl.log") or ""))
  end
  local script = script_path():gsub("fake_api%.py$", "h2_front.mjs")
  local port_file = dir .. "/port"
  local log_file = dir .. "/front.log"
  local command = table.concat({
    UNSANITIZED .. shell_quote(node_command()), shell_quote(script),
    "--upstream", shell_quote(self.root), "--cert", shell_quote(self.ca_file), "--key", shell_quote(key),
    "--port-file", shell_quote(port_file), "--watch-pid", tostring(own_pid()),
  }, " ")
  execute(command .. " </dev/null >" .. shell_quote(log_file) .. " 2>&1 &")
  local port, pid = wait_port_file(port_file, START_TIMEOUT)
  if not port then
    error(string.format("the HTTP/2 front failed to start\ncommand: %s\noutput: %s", command,
      read_file(log_file) or ""))
  end
  self.h2_pid = pid
  self.h2_root = "https://127.0.0.1:" .. port
  self.base_url = self.h2_root .. "/v1"
  self.azure_endpoint = self.h2_root
end

-- GET /__h2/NAME on the front, its JSON answer decoded
local function h2_call(self, name)
  if not self.h2_root then
    error("this fake server has no HTTP/2 front (start it with http2 = true)", 3)
  end
  local pipe = assert(io.popen(UNSANITIZED .. "curl -sS --max-time 60 --cacert " .. shell_quote(self.ca_file)
    .. " " .. shell_quote(self.h2_root .. "/__h2/" .. name) .. " 2>&1", "r"))
  local output = pipe:read("*a")
  pipe:close()
  local ok, value = pcall(cjson.decode, output)
  if not ok then
    error("HTTP/2 front " .. name .. " failed: " .. output, 3)
  end
  return value
end

--- What the HTTP/2 front saw: sessions (connections that carried API
-- requests), open_sessions, tcp_connections (every one accepted),
-- tls_connections, streams, max_open_streams, reset_by_client,
-- reset_by_front.
function Server:h2_stats()
  return h2_call(self, "stats")
end

--- Closes the HTTP/2 connections that carried API requests (GOAWAY), so
-- that a client's next request opens a new one. Returns how many.
function Server:h2_close()
  return h2_call(self, "close").closed
end

--- Raw control call: method, name under /__control/, optional Lua value as
-- the JSON body. Returns the decoded answer; raises on any failure.
function Server:control(method, name, body)
  if self.stopped then
    error("the fake server was stopped", 2)
  end
  local body_file
  local command = { UNSANITIZED .. "curl -sS --max-time 60 -X", method,
                    "-H 'Content-Type: application/json'", "-w '\\n%{http_code}'" }
  if body ~= nil then
    local json = cjson.encode(body)
    if #json > MAX_ARGUMENT_BODY then
      body_file = temporary_path()
      write_file(body_file, json)
      command[#command + 1] = "--data-binary @" .. shell_quote(body_file)
    else
      command[#command + 1] = "--data-binary " .. shell_quote(json)
    end
  end
  command[#command + 1] = shell_quote(self.root .. "/__control/" .. name)
  local pipe = assert(io.popen(table.concat(command, " ") .. " 2>&1", "r"))
  local output = pipe:read("*a")
  pipe:close()
  if body_file then
    os.remove(body_file)
  end
  local text, status = output:match("^(.*)\n(%d%d%d)$")
  if status ~= "200" then
    error(string.format("fake server control %s %s failed: %s", method, name, output), 3)
  end
  return cjson.decode(text)
end

--- Queue one fault, or a list of faults (FIFO).
function Server:fault(fault)
  if type(fault) ~= "table" then
    error("fault expects a table", 2)
  end
  return self:control("POST", "fault", fault)
end

function Server:faults()
  return self:control("GET", "faults")
end

--- Merge settings into the server's configuration; returns the new config.
function Server:config(settings)
  return self:control("POST", "config", settings or {})
end

--- Forget faults, records, files and batches; back to the start config.
function Server:reset()
  return self:control("POST", "reset")
end

function Server:stats()
  return self:control("GET", "stats")
end

--- Every recorded API request, oldest first.
function Server:requests()
  local records = self:control("GET", "requests")
  for _, record in ipairs(records) do
    nulls_to_nil(record)
  end
  return records
end

function Server:last_request()
  local records = self:requests()
  return records[#records]
end

--- Wait (at most `seconds`, default 10) until `count` API requests were
-- recorded; returns the records, or nil and the records so far.
function Server:wait_requests(count, seconds)
  local limit = seconds or 10
  local waited = 0
  while true do
    local records = self:requests()
    if #records >= count then
      return records
    end
    if waited >= limit then
      return nil, records
    end
    sleep(0.05)
    waited = waited + 0.05
  end
end

--- The bytes of an image the server has served, by its sha256.
function Server:image(sha256)
  local path = temporary_path()
  local ok = execute(UNSANITIZED .. "curl -sS -f --max-time 60 -o " .. shell_quote(path) .. " "
    .. shell_quote(self.root .. "/__control/blob/" .. sha256))
  local data = read_file(path)
  os.remove(path)
  if not ok or not data then
    return nil, "no image with sha256 " .. tostring(sha256)
  end
  return data
end

--- Stop the server and wait until it is gone. Harmless when repeated.
function Server:stop()
  if self.stopped then
    return
  end
  self.stopped = true
  if self.h2_pid then
    execute("kill " .. self.h2_pid .. " 2>/dev/null")
  end
  if self.h2_dir then
    execute("rm -rf " .. shell_quote(self.h2_dir))
  end
  execute("kill " .. self.pid .. " 2>/dev/null")
  local waited = 0
  while not process_gone(self.pid) and waited < STOP_TIMEOUT do
    sleep(0.05)
    waited = waited + 0.05
  end
  if not process_gone(self.pid) then
    execute("kill -9 " .. self.pid .. " 2>/dev/null")
  end
end

--- The plain fields of a multipart request record: name -> value.
function fake.form(record)
  local fields = {}
  for _, part in ipairs(record.parts or {}) do
    if part.value ~= nil then fields[part.name] = part.value end
  end
  return fields
end

--- The parts of a multipart request record with this name, in order.
function fake.parts_named(record, name)
  local out = {}
  for _, part in ipairs(record.parts or {}) do
    if part.name == name then out[#out + 1] = part end
  end
  return out
end

--- The first part of a multipart request record with this name, or nil.
function fake.part(record, name)
  return fake.parts_named(record, name)[1]
end

fake.process_gone = process_gone
fake.own_pid = own_pid
fake.python = python_command
--- Prefix for shell commands that run tools which are not ours (see UNSANITIZED).
fake.unsanitized = UNSANITIZED
fake.script_path = script_path
fake.shell_quote = shell_quote

return fake
