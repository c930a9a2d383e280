-- Which certificate authorities a client trusts: ca_file and ca_path, the
-- SSL_CERT_FILE / SSL_CERT_DIR environment, and the hashed directory that
-- stands in for a bundle holding the same certificates (src/trust.h), with
-- its way back to the bundle when the directory alone fails.
local gptimage = require "gptimage"
local fake = require "helpers.server"
local util = require "helpers.util"

local LUA = os.getenv("GPTIMAGE_LUA") or "lua5.4"
local SLOW = os.getenv("GPTIMAGE_VALGRIND") == "1" and 10 or 1
local q = util.shell_quote

local function sh(command)
  local out, code = util.run(fake.unsanitized .. command)
  assert(code == 0, command .. "\n" .. out)
  return out
end

-- A self-signed certificate nobody uses, to mix in.
local function other_certificate(dir)
  local path = dir .. "/other.pem"
  sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2"
    .. " -subj /CN=other.invalid -keyout " .. q(dir .. "/other.key") .. " -out " .. q(path))
  return path
end

-- A folder of the given PEM files under their OpenSSL hash names.
local function hashed_dir(dir, name, pems)
  local path = dir .. "/" .. name
  assert(os.execute("mkdir " .. q(path)))
  for index, pem in ipairs(pems) do util.write(path .. "/cert" .. index .. ".pem", util.read(pem)) end
  sh("openssl rehash " .. q(path))
  return path
end

local function bundle(dir, name, pems)
  local parts = {}
  for _, pem in ipairs(pems) do parts[#parts + 1] = util.read(pem) end
  util.write(dir .. "/" .. name, table.concat(parts, "\n"))
  return dir .. "/" .. name
end

describe("trust", function()
  local srv, dir, other

  setup(function()
    srv = fake.start{ http2 = true }
    dir = util.tmpdir()
    other = other_certificate(dir)
  end)
  teardown(function()
    srv:stop()
    util.rmtree(dir)
  end)
  before_each(function() srv:reset() end)

  local function generate(options)
    options.api_key, options.base_url = "sk-test", srv.base_url
    options.max_retries = options.max_retries or 0
    options.timeout = 60 * SLOW
    local client = gptimage.new(options)
    local res, err = client:generate{ prompt = "a" }
    client:close()
    return res, err
  end

  describe("judges a pair by the certificates it holds", function()
    it("a folder holding exactly the bundle's certificates", function()
      local t = gptimage.trust(bundle(dir, "both.pem", { srv.ca_file, other }),
        hashed_dir(dir, "both", { other, srv.ca_file }))
      assert.equals(2, t.file_certificates)
      assert.equals(2, t.dir_certificates)
      assert.is_true(t.same_certificates)
      assert.equals(dir .. "/both.pem", t.file)
      assert.equals(dir .. "/both", t.dir)
      assert.is_nil(t.uses)
    end)

    it("not the same certificates, however the counts compare", function()
      local t = gptimage.trust(srv.ca_file, hashed_dir(dir, "other", { other }))
      assert.equals(1, t.file_certificates)
      assert.equals(1, t.dir_certificates)
      assert.is_false(t.same_certificates)
      -- one missing from the folder
      t = gptimage.trust(bundle(dir, "two.pem", { srv.ca_file, other }), hashed_dir(dir, "one", { srv.ca_file }))
      assert.equals(2, t.file_certificates)
      assert.equals(1, t.dir_certificates)
      assert.is_false(t.same_certificates)
      -- one more in the folder
      t = gptimage.trust(srv.ca_file, hashed_dir(dir, "more", { srv.ca_file, other }))
      assert.is_false(t.same_certificates)
    end)

    it("a hashed entry holding two certificates trusts both: not the same", function()
      local path = dir .. "/double"
      assert(os.execute("mkdir " .. q(path)))
      util.write(path .. "/00000000.0", util.read(srv.ca_file) .. util.read(other))
      local t = gptimage.trust(bundle(dir, "pair.pem", { srv.ca_file, other }), path)
      assert.equals(1, t.dir_certificates)
      assert.is_false(t.same_certificates)
    end)

    it("counts only hashed names in the folder, and a bundle's duplicates once", function()
      local path = hashed_dir(dir, "extra", { srv.ca_file })
      util.write(path .. "/README", "not a certificate")
      util.write(path .. "/cert.pem.bak", util.read(other))
      local t = gptimage.trust(bundle(dir, "twice.pem", { srv.ca_file, srv.ca_file }), path)
      assert.equals(2, t.file_certificates)
      assert.equals(1, t.dir_certificates)
      assert.is_true(t.same_certificates)
    end)

    it("anything else in the bundle, or nothing to read, is not the same", function()
      local path = hashed_dir(dir, "crl", { srv.ca_file })
      local crl = bundle(dir, "crl.pem", { srv.ca_file })
      util.write(crl, util.read(crl) .. "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n")
      assert.is_false(gptimage.trust(crl, path).same_certificates)
      local t = gptimage.trust(dir .. "/missing.pem", dir .. "/missing")
      assert.is_nil(t.file_certificates)
      assert.is_nil(t.dir_certificates)
      assert.is_false(t.same_certificates)
      util.write(dir .. "/empty.pem", "")
      t = gptimage.trust(dir .. "/empty.pem", hashed_dir(dir, "empty", {}))
      assert.equals(0, t.file_certificates)
      assert.equals(0, t.dir_certificates)
      assert.is_false(t.same_certificates)
      assert.is_false(gptimage.trust(nil, path).same_certificates)
    end)

    it("reports the default pair, and when it loads the folder alone", function()
      local t = assert(gptimage.trust())
      assert.truthy(({ environment = true, libcurl = true, none = true })[t.source])
      assert.truthy(({ dir = true, both = true, file = true, none = true })[t.uses])
      -- OpenSSL's one-time setup was paid here, not in the first TLS poll
      local _, ssl = gptimage.libcurl()
      assert.is_boolean(t.tls_ready)
      assert.is_boolean(t.shared_store)
      assert.is_number(t.shared_connections)
      if ssl and ssl:match("^OpenSSL/[13]%.") then assert.is_true(t.shared_store) end
      if ssl and ssl:match("^OpenSSL/[13]%.") then assert.is_true(t.tls_ready) end
      if t.uses == "dir" then
        assert.is_true(t.same_certificates)
        assert.is_string(t.dir)
        assert.equals(t.file_certificates, t.dir_certificates)
      end
    end)
  end)

  describe("ca_file and ca_path", function()
    it("ca_path alone: a folder that vouches for the server", function()
      local res = assert(generate{ ca_path = hashed_dir(dir, "good", { other, srv.ca_file }) })
      assert.equals(1, #res.images)
    end)

    it("ca_path alone: a folder that does not, and nothing is sent", function()
      local res, err = generate{ ca_path = hashed_dir(dir, "wrong", { other }) }
      assert.is_nil(res)
      assert.equals("network", err.kind)
      assert.same({}, srv:requests())
    end)

    it("ca_file and ca_path together: either may vouch", function()
      assert(generate{ ca_file = other, ca_path = hashed_dir(dir, "either", { srv.ca_file }) })
      assert(generate{ ca_file = srv.ca_file, ca_path = hashed_dir(dir, "either2", { other }) })
      local res, err = generate{ ca_file = other, ca_path = hashed_dir(dir, "neither", { other }) }
      assert.is_nil(res)
      assert.equals("network", err.kind)
    end)

    it("a server they do not vouch for fails at once: the same check would fail again", function()
      local before = srv:h2_stats().tcp_connections
      local client = gptimage.new{ api_key = "sk-test", base_url = srv.base_url, ca_file = other,
                                   max_retries = 2, timeout = 60 * SLOW }
      local res, err = client:generate{ prompt = "a" }
      client:close()
      assert.is_nil(res)
      assert.equals("network", err.kind)
      assert.matches("certificate", err.message)
      -- one attempt, and the connection that asks the front for its stats
      assert.equals(before + 2, srv:h2_stats().tcp_connections)
      assert.same({}, srv:requests())
    end)

    it("a ca_file that cannot be read fails at once, naming it", function()
      local before = srv:h2_stats().tcp_connections
      local res, err = generate{ ca_file = dir .. "/no-such.pem", max_retries = 2 }
      assert.is_nil(res)
      assert.equals("network", err.kind)
      assert.matches("no-such.pem", err.message, 1, true)
      assert.equals(before + 2, srv:h2_stats().tcp_connections)
    end)

    it("are read once per client: its later connections share what was read", function()
      if not gptimage.trust().shared_store then
        pending("libcurl's TLS library is not OpenSSL: each connection loads them")
        return
      end
      -- a folder: libcurl 7.88 would read it again for each connection
      local folder = hashed_dir(dir, "read-once", { srv.ca_file })
      local client = gptimage.new{ api_key = "sk-test", base_url = srv.base_url, ca_path = folder,
                                   max_retries = 0, timeout = 60 * SLOW }
      local before = gptimage.trust().shared_connections
      local sessions = srv:h2_stats().sessions
      assert(client:generate{ prompt = "a" })
      -- the folder now vouches for another server only, and the connection
      -- is gone: the next one is verified by what the client read at first
      sh("rm " .. q(folder) .. "/*")
      util.write(folder .. "/cert1.pem", util.read(other))
      sh("openssl rehash " .. q(folder))
      assert.equals(1, srv:h2_close())
      local res, err = client:generate{ prompt = "b" }
      client:close()
      assert(res, err and err.message)
      assert.equals(sessions + 2, srv:h2_stats().sessions)
      assert.equals(before + 2, gptimage.trust().shared_connections)
      -- a new client reads the folder as it is now
      local refused, why = generate{ ca_path = folder }
      assert.is_nil(refused)
      assert.equals("network", why.kind)
    end)

    it("must be strings", function()
      assert.has_error(function() gptimage.new{ api_key = "k", ca_path = 1 } end)
    end)
  end)

  describe("SSL_CERT_FILE and SSL_CERT_DIR", function()
    -- source in a fresh process (the default pair is judged once per
    -- process) with SSL_CERT_FILE and SSL_CERT_DIR set, its arguments the
    -- time limit and then args: the last line it printed, tabs as spaces
    local function run_child(file, folder, source, args)
      local script = dir .. "/child.lua"
      util.write(script, source)
      local command = { "env", "SSL_CERT_FILE=" .. q(file), "SSL_CERT_DIR=" .. q(folder), q(LUA), q(script),
                        tostring(60 * SLOW) }
      for _, arg in ipairs(args) do
        command[#command + 1] = q(arg)
      end
      local out, code = util.run(table.concat(command, " "))
      assert.equals(0, code, out)
      return (out:gsub("%s+$", ""):match("[^\n]*$"):gsub("\t", " "))
    end

    -- prints source, uses, same_certificates, the outcome of a generation
    -- and uses after it
    local function child(file, folder)
      return run_child(file, folder, [[
        local gptimage = require "gptimage"
        local before = assert(gptimage.trust())
        local client = gptimage.new{ api_key = "sk-test", base_url = arg[2], max_retries = 0,
                                     timeout = tonumber(arg[1]) }
        local res, err = client:generate{ prompt = "a" }
        client:close()
        print(before.source, before.uses, tostring(before.same_certificates),
          res and "ok" or err.kind, gptimage.trust().uses)
      ]], { srv.base_url })
    end

    it("a folder with the bundle's certificates is loaded alone", function()
      assert.equals("environment dir true ok dir",
        child(bundle(dir, "env1.pem", { srv.ca_file, other }), hashed_dir(dir, "env1", { other, srv.ca_file })))
    end)

    it("a folder that differs is loaded with the bundle", function()
      assert.equals("environment both false ok both",
        child(bundle(dir, "env2.pem", { srv.ca_file, other }), hashed_dir(dir, "env2", { srv.ca_file })))
    end)

    it("a folder that looked the same but fails: the bundle takes over for good", function()
      -- the right certificate under a name OpenSSL never looks up
      local path = dir .. "/misnamed"
      assert(os.execute("mkdir " .. q(path)))
      util.write(path .. "/00000000.0", util.read(srv.ca_file))
      assert.equals("environment dir true ok both", child(srv.ca_file, path))
      assert.equals(1, #srv:requests())
    end)

    it("an image download the folder failed goes again at once with the bundle, no retry spent", function()
      local path = dir .. "/misnamed-download"
      assert(os.execute("mkdir " .. q(path)))
      util.write(path .. "/00000000.0", util.read(srv.ca_file))
      -- the API over plain HTTP, the image at the TLS front (the fake names
      -- the host a Forwarded header gives): the download makes the process's
      -- first TLS connection.  Its one retry goes to the image host's 503.
      srv:fault{ action = "status", status = 503, path = "/files/", times = 1 }
      local save = dir .. "/downloaded.png"
      assert.equals("ok both", run_child(srv.ca_file, path, [[
        local gptimage = require "gptimage"
        local client = gptimage.new{ api_key = "sk-test", base_url = arg[2], max_retries = 1,
                                     timeout = tonumber(arg[1]),
                                     headers = { Forwarded = 'proto=https;host="' .. arg[3] .. '"' } }
        local res, err = client:generate{ model = "dall-e-2", prompt = "a", size = "256x256",
                                          response_format = "url", save = arg[4] }
        client:close()
        print(res and "ok" or err.kind .. ": " .. err.message, gptimage.trust().uses)
      ]], { srv.root .. "/v1", srv.h2_root:match("//(.+)$"), save }))
      assert.is_true(util.is_png(util.read(save)))
      local gets = 0
      for _, record in ipairs(srv:requests()) do
        if record.method == "GET" then
          gets = gets + 1
          assert.is_string(record.headers["x-h2-connection"])
        end
      end
      -- the 503, then the image: the try the folder failed sent nothing
      assert.equals(2, gets)
    end)

    it("a server neither vouches for fails, and the folder stays in use", function()
      assert.equals("environment dir true network dir",
        child(other, hashed_dir(dir, "env4", { other })))
      assert.same({}, srv:requests())
    end)
  end)
end)
