-- Security: TLS verification always on, no redirect carries the key away,
-- the key never shows, files are written safely and named only from the
-- caller's template, whatever the server sends.
local gptimage = require "gptimage"
local fake = require "helpers.server"
local util = require "helpers.util"
local fixture = require "helpers.fixture"

local KEY = "sk-proj-SECRET/key+0123456789abcdefXYZ"

local shell_quote, run, sleep = util.shell_quote, util.run, util.sleep

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function b64encode(data)
  local out = {}
  for i = 1, #data, 3 do
    local a, b, c = data:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local d1 = math.floor(n / 262144) % 64
    local d2 = math.floor(n / 4096) % 64
    local d3 = math.floor(n / 64) % 64
    local d4 = n % 64
    out[#out + 1] = B64:sub(d1 + 1, d1 + 1) .. B64:sub(d2 + 1, d2 + 1)
      .. (b and B64:sub(d3 + 1, d3 + 1) or "=") .. (c and B64:sub(d4 + 1, d4 + 1) or "=")
  end
  return table.concat(out)
end

-- Every string inside a value (keys too), for "the key is nowhere" checks.
local function strings_of(value, out, seen)
  out, seen = out or {}, seen or {}
  if type(value) == "string" then
    out[#out + 1] = value
  elseif type(value) == "table" and not seen[value] then
    seen[value] = true
    for k, v in pairs(value) do
      strings_of(k, out, seen)
      strings_of(v, out, seen)
    end
  end
  return out
end

-- Fails if the key, or any 16-character piece of it, is in one of the strings.
local function assert_no_key(value, what)
  for _, s in ipairs(strings_of(value)) do
    for i = 1, #KEY - 15 do
      local piece = KEY:sub(i, i + 15)
      assert(not s:find(piece, 1, true),
        (what or "value") .. " shows the API key (" .. piece .. ") in: " .. s)
    end
  end
end

-- Self-signed certificates (valid 2000-2100) for a local TLS server: one for
-- 127.0.0.1, one for another name. Test fixtures, not secrets.
local CERT_IP = [[
-----BEGIN CERTIFICATE-----
MIIBazCCARCgAwIBAgIBATAKBggqhkjOPQQDAjAbMRkwFwYDVQQDDBBncHRpbWFn
ZSB0ZXN0IGlwMCAXDTAwMDEwMTAwMDAwMFoYDzIxMDAwMTAxMDAwMDAwWjAbMRkw
FwYDVQQDDBBncHRpbWFnZSB0ZXN0IGlwMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcD
QgAE9aGdag7EhUt5VTDWR+IYCXFRqcdjzDd3/OYCoz/g7mOcwt2U1dYWZiJbk7S5
2u2ef0N1I2ir6f3PcXQxDBf+qqNDMEEwDwYDVR0TAQH/BAUwAwEB/zAPBgNVHREE
CDAGhwR/AAABMB0GA1UdDgQWBBTNoCYzEgv0lunLYbC/lkPP9MtD/TAKBggqhkjO
PQQDAgNJADBGAiEA5K0A+Ux0AFPHqfJfGrFPH72ciCmCzIJ6n5mcJcBJu3MCIQCr
U4mnRtJ8AujhqxCgDXAKT7ZCj2Bs2zUDLbCqJKHiEA==
-----END CERTIFICATE-----
]]
local KEY_IP = [[
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgNMI6DcPrA0HMvVq/
8m3ylTyc1oFZo5a5Lry6ZSO5MpOhRANCAAT1oZ1qDsSFS3lVMNZH4hgJcVGpx2PM
N3f85gKjP+DuY5zC3ZTV1hZmIluTtLna7Z5/Q3UjaKvp/c9xdDEMF/6q
-----END PRIVATE KEY-----
]]
local CERT_NAME = [[
-----BEGIN CERTIFICATE-----
MIIBeTCCASCgAwIBAgIBAjAKBggqhkjOPQQDAjAdMRswGQYDVQQDDBJncHRpbWFn
ZSB0ZXN0IG5hbWUwIBcNMDAwMTAxMDAwMDAwWhgPMjEwMDAxMDEwMDAwMDBaMB0x
GzAZBgNVBAMMEmdwdGltYWdlIHRlc3QgbmFtZTBZMBMGByqGSM49AgEGCCqGSM49
AwEHA0IABHuquNjacqvaY/EQ+u7UqRN7UW+g5I3NKUiM1FboNGdzzMoP+gtXGwnk
xAtBjsT1cF5aoPGgsEcfFul5WYqmwfejTzBNMA8GA1UdEwEB/wQFMAMBAf8wGwYD
VR0RBBQwEoIQZ3B0aW1hZ2UuaW52YWxpZDAdBgNVHQ4EFgQUbX4XRMcSaYv1MqYp
iy5P3bLK/BMwCgYIKoZIzj0EAwIDRwAwRAIgaGxn1cELejN+FavGfHj5JdjltDZ4
jCLApYc5Gc1pf3gCIGBXYmsQ3kNY1v5A4ofRCYNxFGmXkj/BpNiGiR4A1ZX2
-----END CERTIFICATE-----
]]
local KEY_NAME = [[
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgsAde2eHA27GRGg0u
6LmBdSmMLz+V1TMHpqrRf6Twc4ChRANCAAR7qrjY2nKr2mPxEPru1KkTe1FvoOSN
zSlIjNRW6DRnc8zKD/oLVxsJ5MQLQY7E9XBeWqDxoLBHHxbpeVmKpsH3
-----END PRIVATE KEY-----
]]

-- A minimal HTTPS server: answers every request with a fixed body and logs
-- "METHOD PATH AUTHORIZATION" per request; exits when its parent does.
local TLS_SERVER = [[
import http.server, os, ssl, sys, threading, time
cert, key, body_file, log_file, port_file, parent = sys.argv[1:7]
body = open(body_file, "rb").read()

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        with open(log_file, "a") as log:
            log.write("%s %s %s\n" % (self.command, self.path, self.headers.get("Authorization", "")))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST
    def log_message(self, *args):
        pass

class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    def handle_error(self, request, address):
        pass

server = Server(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)

def watch():
    while True:
        try:
            os.kill(int(parent), 0)
        except OSError:
            os._exit(0)
        time.sleep(0.5)
threading.Thread(target=watch, daemon=True).start()

with open(port_file + ".tmp", "w") as f:
    f.write("%d %d\n" % (server.server_address[1], os.getpid()))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
]]

local function start_tls_server(dir, cert, key, body)
  local tag = tostring(math.random(1, 1e9))
  local files = {
    cert = dir .. "/cert-" .. tag .. ".pem", key = dir .. "/key-" .. tag .. ".pem",
    body = dir .. "/body-" .. tag .. ".json", log = dir .. "/log-" .. tag .. ".txt",
    port = dir .. "/port-" .. tag .. ".txt", script = dir .. "/tls-" .. tag .. ".py",
  }
  util.write(files.cert, cert)
  util.write(files.key, key)
  util.write(files.body, body)
  util.write(files.log, "")
  util.write(files.script, TLS_SERVER)
  os.execute(table.concat({ shell_quote(fake.python()), shell_quote(files.script), shell_quote(files.cert),
    shell_quote(files.key), shell_quote(files.body), shell_quote(files.log), shell_quote(files.port),
    tostring(fake.own_pid()), "</dev/null >/dev/null 2>&1 &" }, " "))
  local port, pid
  for _ = 1, 200 do
    local content = util.read(files.port)
    if content then
      port, pid = content:match("^(%d+) (%d+)")
      if port then break end
    end
    sleep(0.05)
  end
  assert(port, "the TLS test server did not start")
  return {
    port = tonumber(port), pid = tonumber(pid), files = files,
    base_url = "https://127.0.0.1:" .. port .. "/v1",
    log = function() return util.read(files.log) end,
    stop = function() os.execute("kill " .. pid .. " 2>/dev/null") end,
  }
end

describe("security", function()
  local srv, other, dir, png, client

  fixture.each({ server = {}, client = { api_key = KEY, max_retries = 0 }, dir = true },
    function(f) srv, client, dir = f.srv, f.client, f.dir end)

  setup(function()
    other = fake.start{}
    local c = gptimage.new{ api_key = "sk-test", base_url = srv.base_url }
    png = assert(c:generate{ prompt = "fixture", size = "1024x1024" }).images[1].bytes
    c:close()
  end)
  teardown(function() other:stop() end)
  before_each(function() other:reset() end)

  describe("TLS", function()
    local answer

    setup(function()
      answer = '{"created": 1700000000, "data": [{"b64_json": "' .. b64encode(png) .. '"}]}'
    end)

    it("has no option that turns verification off", function()
      for _, name in ipairs{ "verify", "ssl_verify", "verify_ssl", "ssl_verifypeer", "insecure",
                             "tls_verify", "ssl_verifyhost", "no_verify", "skip_verify" } do
        local ok, msg = pcall(gptimage.new, { api_key = KEY, [name] = false })
        assert.is_false(ok, name)
        assert.matches("unknown option", msg)
      end
    end)

    it("refuses a server whose certificate no trusted CA signed", function()
      local tls = start_tls_server(dir, CERT_IP, KEY_IP, answer)
      local c = gptimage.new{ api_key = KEY, base_url = tls.base_url, max_retries = 0 }
      local res, err = c:generate{ prompt = "a", save = dir .. "/out/x.png" }
      c:close()
      tls.stop()
      assert.is_nil(res)
      assert.equals("network", err.kind)
      assert.equals("", tls.log()) -- no request reached it: the key was never sent
      assert.is_false(util.exists(dir .. "/out/x.png"))
      assert_no_key(err, "the TLS error")
    end)

    it("trusts the certificate given as ca_file, and only for its own name", function()
      local tls = start_tls_server(dir, CERT_IP, KEY_IP, answer)
      local c = gptimage.new{ api_key = KEY, base_url = tls.base_url, max_retries = 0,
                              ca_file = tls.files.cert }
      local res, err = c:generate{ prompt = "a" }
      c:close()
      tls.stop()
      assert.is_nil(err)
      assert.equals(png, res.images[1].bytes)
      assert.equals("POST /v1/images/generations Bearer " .. KEY .. "\n", tls.log())
    end)

    it("refuses a trusted certificate issued to another host name", function()
      local tls = start_tls_server(dir, CERT_NAME, KEY_NAME, answer)
      local c = gptimage.new{ api_key = KEY, base_url = tls.base_url, max_retries = 0,
                              ca_file = tls.files.cert }
      local res, err = c:generate{ prompt = "a" }
      c:close()
      tls.stop()
      assert.is_nil(res)
      assert.equals("network", err.kind)
      assert.equals("", tls.log())
    end)

    it("an https base_url on a plain-HTTP port fails with a network error", function()
      local c = gptimage.new{ api_key = KEY, base_url = "https://127.0.0.1:" .. srv.port .. "/v1",
                              max_retries = 0 }
      local res, err = c:generate{ prompt = "a" }
      c:close()
      assert.is_nil(res)
      assert.equals("network", err.kind)
      assert.same({}, srv:requests())
    end)
  end)

  describe("redirects", function()
    for _, status in ipairs{ 301, 302, 303, 307, 308 } do
      it("a " .. status .. " to another host is not followed: the other host sees nothing", function()
        srv:fault{ action = "status", status = status,
                   headers = { Location = other.base_url .. "/images/generations" } }
        local res, err = client:generate{ prompt = "a", save = dir .. "/r.png" }
        assert.is_nil(res)
        assert.is_true(err.kind == "api" or err.kind == "http")
        assert.equals(status, err.status)
        assert.equals(1, #srv:requests())
        assert.same({}, other:requests())
        assert.same({}, util.listdir(dir))
      end)
    end

    it("a redirect with an empty body is an http error and not retried", function()
      local c = gptimage.new{ api_key = KEY, base_url = srv.base_url, max_retries = 2 }
      srv:fault{ action = "status", status = 307, body = "", content_type = "text/html",
                 headers = { Location = other.base_url .. "/images/generations" } }
      local res, err = c:generate{ prompt = "a" }
      c:close()
      assert.is_nil(res)
      assert.equals("http", err.kind)
      assert.equals(307, err.status)
      assert.equals(1, #srv:requests())
      assert.same({}, other:requests())
    end)

    it("an image download redirected to another host carries no key", function()
      srv:fault{ action = "status", status = 302, path = "/files/", method = "GET",
                 headers = { Location = other.root .. "/files/elsewhere.png" } }
      local res, err = client:generate{ model = "dall-e-2", prompt = "a", size = "256x256",
                                        response_format = "url", save = dir .. "/u.png" }
      -- the other host has no such file, so the call fails; what matters is
      -- what that host was sent (if the redirect is not followed at all, the
      -- call fails with the 302)
      local seen = other:requests()
      if #seen == 0 then
        assert.is_nil(res)
        assert.equals(302, err.status)
      end
      for _, r in ipairs(seen) do
        assert.is_nil(r.headers["authorization"])
        assert.is_nil(r.headers["api-key"])
        assert_no_key(r.headers, "the redirected download's headers")
      end
      assert.same(res and { "u.png" } or {}, util.listdir(dir))
    end)

    it("an image download redirected to file:// is refused", function()
      util.write(dir .. "/secret.txt", "do not copy me")
      srv:fault{ action = "status", status = 302, path = "/files/", method = "GET",
                 headers = { Location = "file://" .. dir .. "/secret.txt" } }
      local res, err = client:generate{ model = "dall-e-2", prompt = "a", size = "256x256",
                                        response_format = "url", save = dir .. "/out/u.png" }
      assert.is_nil(res)
      assert.is_table(err)
      assert.is_false(util.exists(dir .. "/out/u.png"))
    end)
  end)

  describe("the API key", function()
    local function check_call(opts, what)
      local job = client:start("generate", opts)
      assert_no_key(tostring(job), what .. ": tostring(job)")
      local res, err = job:wait()
      assert.is_nil(res)
      assert.is_table(err)
      assert_no_key(err, what .. ": the error table")
      assert_no_key(tostring(err), what .. ": tostring(err)")
      assert_no_key(tostring(job), what .. ": tostring(job)")
      return err
    end

    it("is not in tostring(client)", function()
      assert_no_key(tostring(client), "tostring(client)")
      local azure = gptimage.new{ api_key = KEY, azure = { endpoint = srv.root, deployment = "d",
                                                           api_version = "2025-04-01-preview" } }
      assert_no_key(tostring(azure), "tostring(azure client)")
      azure:close()
    end)

    it("is not in an API error that echoes it", function()
      srv:fault{ action = "error", status = 401, code = "invalid_api_key",
                 message = "Incorrect API key provided: " .. KEY .. ". You can find your key at ..." }
      local err = check_call({ prompt = "a" }, "echoed in message")
      assert.equals("api", err.kind)
      assert.equals(401, err.status)
    end)

    it("is not in an error whose every field echoes it", function()
      srv:fault{ action = "error", status = 400, code = KEY, type = KEY, param = KEY, message = KEY,
                 headers = { ["x-request-id"] = KEY, ["retry-after"] = KEY } }
      check_call({ prompt = "a" }, "echoed in every field")
    end)

    it("is not in the excerpt of an HTML error page that echoes it", function()
      srv:fault{ action = "status", status = 502, content_type = "text/html",
                 body = "<html><body>Bad gateway for key " .. KEY .. "</body></html>" }
      local err = check_call({ prompt = "a" }, "echoed in HTML")
      assert.equals("http", err.kind)
    end)

    it("is not in the excerpt even where the excerpt cuts it", function()
      for cut = 150, 200, 5 do
        srv:reset()
        srv:fault{ action = "status", status = 502, content_type = "text/plain",
                   body = ("x"):rep(cut) .. KEY .. ("y"):rep(300) }
        check_call({ prompt = "a" }, "cut at " .. cut)
      end
    end)

    it("is not in network, timeout, decode, io or cancelled errors", function()
      srv:fault{ action = "reset", after_bytes = 10 }
      check_call({ prompt = "a" }, "network")
      srv:fault{ action = "delay", delay = 3 }
      check_call({ prompt = "a", timeout = 0.3 }, "timeout")
      srv:fault{ action = "bad_base64" }
      check_call({ prompt = "a" }, "decode")
      util.write(dir .. "/afile", "x")
      check_call({ prompt = "a", save = dir .. "/afile/x.png" }, "io")
      srv:fault{ action = "delay", delay = 2 }
      local job = client:start("generate", { prompt = "a" })
      job:cancel()
      local _, err = job:result()
      assert_no_key(err, "cancelled")
      assert_no_key(tostring(err), "cancelled")
    end)

    it("is not in an Azure error that echoes it", function()
      local azure = gptimage.new{ api_key = KEY, max_retries = 0,
                                  azure = { endpoint = srv.root, deployment = "d", api_version = "2025-04-01-preview" } }
      srv:fault{ action = "error", status = 401, message = "Access denied due to invalid subscription key "
                 .. KEY, code = "401" }
      local res, err = azure:generate{ prompt = "a" }
      azure:close()
      assert.is_nil(res)
      assert_no_key(err, "azure error")
      assert_no_key(tostring(err), "azure tostring(err)")
    end)

    it("is sent only in the Authorization header, never in the URL or body", function()
      assert(client:generate{ prompt = "a" })
      assert(client:edit{ image = png, prompt = "b" })
      for _, r in ipairs(srv:requests()) do
        assert.equals("Bearer " .. KEY, r.headers["authorization"])
        assert_no_key({ r.path, r.query, r.json, r.parts }, "the request line or body")
      end
    end)

    it("is not in the files written", function()
      local res = assert(client:generate{ prompt = "a", n = 2, save = dir .. "/k.png" })
      for _, image in ipairs(res.images) do
        assert_no_key(util.read(image.path), image.path)
        assert_no_key(image.path, "the file name")
      end
      assert_no_key(util.listdir(dir), "the folder")
    end)

    it("is never printed by the module, even when calls fail", function()
      local script = dir .. "/child.lua"
      util.write(script, [[
        local gptimage = require "gptimage"
        local c = gptimage.new{ api_key = arg[2], base_url = arg[1], max_retries = 0 }
        for _ = 1, 3 do c:generate{ prompt = "a" } end
        c:close()
        local bad = gptimage.new{ api_key = arg[2], base_url = "http://127.0.0.1:1/v1", max_retries = 0 }
        bad:generate{ prompt = "a" }
        bad:close()
      ]])
      srv:fault{ { action = "error", status = 401, message = "bad key " .. KEY },
                 { action = "html", status = 502 }, { action = "reset", after_bytes = 5 } }
      local lua = os.getenv("GPTIMAGE_LUA") or "lua5.4"
      local out, code = run(shell_quote(lua) .. " " .. shell_quote(script) .. " " .. shell_quote(srv.base_url)
        .. " " .. shell_quote(KEY))
      assert.equals(0, code, out)
      assert_no_key(out, "the output of a failing script")
    end)
  end)

  describe("files", function()
    it("a symlink at the target path is replaced, not followed", function()
      local victim = dir .. "/elsewhere/victim.png"
      run("mkdir -p " .. shell_quote(dir .. "/elsewhere") .. " " .. shell_quote(dir .. "/out"))
      util.write(victim, "VICTIM")
      run("ln -s " .. shell_quote(victim) .. " " .. shell_quote(dir .. "/out/target.png"))
      local res = assert(client:generate{ prompt = "a", save = dir .. "/out/target.png" })
      assert.equals("VICTIM", util.read(victim))
      local _, is_link = run("test -L " .. shell_quote(dir .. "/out/target.png"))
      assert.is_true(is_link ~= 0, "the target is still a symlink")
      assert.is_true(util.is_png(util.read(res.images[1].path)))
    end)

    it("a dangling symlink at the target path is replaced, its target never created", function()
      run("mkdir -p " .. shell_quote(dir .. "/out"))
      run("ln -s " .. shell_quote(dir .. "/created-through-link.png") .. " " .. shell_quote(dir .. "/out/t.png"))
      assert(client:generate{ prompt = "a", save = dir .. "/out/t.png" })
      assert.is_false(util.exists(dir .. "/created-through-link.png"))
      local _, is_link = run("test -L " .. shell_quote(dir .. "/out/t.png"))
      assert.is_true(is_link ~= 0)
    end)

    it("a failed call leaves a symlink at the target and its target untouched", function()
      util.write(dir .. "/victim", "VICTIM")
      run("ln -s " .. shell_quote(dir .. "/victim") .. " " .. shell_quote(dir .. "/t.png"))
      srv:fault{ action = "reset", after_bytes = 3000 }
      assert.is_nil((client:generate{ prompt = "a", save = dir .. "/t.png" }))
      assert.equals("VICTIM", util.read(dir .. "/victim"))
      assert.same({ "t.png", "victim" }, util.listdir(dir))
    end)

    it("a file a save replaces stays whole for a reader that has it open", function()
      local old = string.rep("OLD IMAGE ", 100000)
      util.write(dir .. "/r.png", old)
      local reader = assert(io.open(dir .. "/r.png", "rb"))
      local head = reader:read(10)
      local res = assert(client:generate{ prompt = "a", save = dir .. "/r.png" })
      local rest = reader:read("a")
      reader:close()
      assert.equals(old, head .. rest)
      assert.is_true(util.is_png(util.read(res.images[1].path)))
    end)

    it("a file a save replaces keeps its content under its other names", function()
      util.write(dir .. "/h.png", "OLD")
      run("ln " .. shell_quote(dir .. "/h.png") .. " " .. shell_quote(dir .. "/other-name.png"))
      assert(client:generate{ prompt = "a", save = dir .. "/h.png" })
      assert.equals("OLD", util.read(dir .. "/other-name.png"))
      assert.is_true(util.is_png(util.read(dir .. "/h.png")))
    end)

    it("a FIFO at the target path is replaced without waiting for a writer", function()
      run("mkfifo " .. shell_quote(dir .. "/f.png"))
      assert(client:generate{ prompt = "a", save = dir .. "/f.png" })
      local _, is_fifo = run("test -p " .. shell_quote(dir .. "/f.png"))
      assert.is_true(is_fifo ~= 0, "the target is still a FIFO")
      assert.is_true(util.is_png(util.read(dir .. "/f.png")))
    end)

    it("saves over files, then an interpreter that exits at once does not crash", function()
      -- the replaced files are freed on threads that may still be starting
      -- when lua.c closes its state and unloads the module (src/reaper.h):
      -- before the module kept itself loaded, about 1 run in 10 crashed here
      local script = dir .. "/exit.lua"
      util.write(script, [[
        local gptimage = require "gptimage"
        local c = gptimage.new{ api_key = "sk-test", base_url = arg[1], max_retries = 0 }
        for i = 1, 3 do assert(c:generate{ prompt = "a", save = arg[2] .. "/e" .. i .. ".png" }) end
      ]])
      local lua = os.getenv("GPTIMAGE_LUA") or "lua5.4"
      for round = 1, 25 do
        local out, code = run(shell_quote(lua) .. " " .. shell_quote(script) .. " " .. shell_quote(srv.base_url)
          .. " " .. shell_quote(dir) .. " 2>&1")
        assert.equals(0, code, "round " .. round .. ": " .. out)
      end
      assert.is_true(util.is_png(util.read(dir .. "/e3.png")))
    end)

    it("the final file belongs to the caller with the mode of any new file", function()
      util.write(dir .. "/plain.bin", "x") -- made by io.open: 0666 minus the umask
      assert(client:generate{ prompt = "a", save = dir .. "/m.png" })
      local expected = run("stat -c '%a %u' " .. shell_quote(dir .. "/plain.bin"))
      local got = run("stat -c '%a %u' " .. shell_quote(dir .. "/m.png"))
      assert.equals(expected, got)
    end)

    it("the temporary file is hidden in the target's own folder while the image arrives", function()
      srv:fault{ action = "drip", chunk = 128, interval = 0.05 }
      local job = client:start("generate", { prompt = "a", save = dir .. "/t.png" })
      local part
      for _ = 1, 400 do
        job:wait(0.01)
        for _, name in ipairs(util.listdir(dir)) do
          if name ~= "t.png" then part = name end
        end
        if part or job:done() then break end
      end
      assert.is_string(part, "no temporary file seen while the body dripped in")
      assert.matches("^%.t%.png%..+%.part$", part)
      local _, is_link = run("test -L " .. shell_quote(dir .. "/" .. part))
      assert.is_true(is_link ~= 0)
      job:cancel()
      assert.same({}, util.listdir(dir))
    end)
  end)

  describe("names from server data", function()
    local function evil_name()
      return "gptimage-evil-" .. tostring(math.random(1, 1e9)) .. ".png"
    end

    it("revised_prompt, url, output_format and other fields never shape a path", function()
      local evil = evil_name()
      local parent = dir:match("^(.*)/[^/]+$")
      local body = '{"created": 1700000000, "output_format": "../../' .. evil .. '", "data": [{"b64_json": "'
        .. b64encode(png) .. '", "revised_prompt": "../../' .. evil .. '", "url": "../../' .. evil
        .. '", "filename": "' .. parent .. "/" .. evil .. '", "path": "../' .. evil .. '"}]}'
      srv:fault{ action = "status", status = 200, body = body, content_type = "application/json" }
      local res = assert(client:generate{ prompt = "a", save = dir .. "/sub/x.{ext}" })
      assert.equals(dir .. "/sub/x.png", res.images[1].path)
      assert.equals("../../" .. evil, res.images[1].revised_prompt)
      assert.same({ "sub" }, util.listdir(dir))
      assert.same({ "x.png" }, util.listdir(dir .. "/sub"))
      assert.is_false(util.exists(dir .. "/../" .. evil))
      assert.is_false(util.exists(dir .. "/../../" .. evil))
      assert.is_false(util.exists(parent .. "/" .. evil))
    end)

    it("an SSE event's fields never shape a path", function()
      local evil = evil_name()
      local event = '{"type": "image_generation.completed", "b64_json": "' .. b64encode(png)
        .. '", "output_format": "../' .. evil .. '", "size": "../' .. evil .. '", "created_at": 1700000000}'
      srv:fault{ action = "status", status = 200, content_type = "text/event-stream",
                 body = "event: image_generation.completed\ndata: " .. event .. "\n\n" }
      local res = assert(client:generate{ prompt = "a", stream = true, save = dir .. "/s-{i}.{ext}" })
      assert.equals(dir .. "/s-1.png", res.images[1].path)
      assert.same({ "s-1.png" }, util.listdir(dir))
      assert.is_false(util.exists(dir .. "/../" .. evil))
    end)

    it("more images than asked for never write past the template's names", function()
      local data = {}
      for i = 1, 3 do data[i] = '{"b64_json": "' .. b64encode(png) .. '"}' end
      srv:fault{ action = "status", status = 200, content_type = "application/json",
                 body = '{"created": 1700000000, "data": [' .. table.concat(data, ", ") .. "]}" }
      local res = client:generate{ prompt = "a", save = dir .. "/one.png" }
      -- one image was asked for: whatever happens, only that name may exist
      for _, name in ipairs(util.listdir(dir)) do
        assert.equals("one.png", name)
      end
      if res then assert.equals(dir .. "/one.png", res.images[1].path) end
    end)

    it("a url with ../ is fetched from its host but saved under the template's name", function()
      local evil = evil_name()
      srv:fault{ action = "status", status = 200, content_type = "application/json",
                 body = '{"created": 1700000000, "data": [{"url": "' .. srv.root .. '/files/../../' .. evil .. '"}]}' }
      local res, err = client:generate{ model = "dall-e-2", prompt = "a", size = "256x256",
                                        response_format = "url", save = dir .. "/u.png" }
      assert.is_nil(res) -- the fake serves no such file
      assert.is_table(err)
      assert.same({}, util.listdir(dir))
      assert.is_false(util.exists(dir .. "/../" .. evil))
    end)

    it("a url that is not http(s) is never opened", function()
      util.write(dir .. "/secret.txt", "do not copy me")
      srv:fault{ action = "status", status = 200, content_type = "application/json",
                 body = '{"created": 1700000000, "data": [{"url": "file://' .. dir .. '/secret.txt"}]}' }
      local res, err = client:generate{ model = "dall-e-2", prompt = "a", size = "256x256",
                                        response_format = "url", save = dir .. "/out/u.png" }
      assert.is_nil(res)
      assert.is_table(err)
      assert.is_false(util.exists(dir .. "/out/u.png"))
      -- the save folder is made when the job starts (its paths are probed
      -- before the API is paid); no file is left in it
      assert.same({}, util.listdir(dir .. "/out"))
      assert.equals("do not copy me", util.read(dir .. "/secret.txt"))
    end)
  end)
end)
