-- :checkhealth gptimage — whether the Neovim plugin can work here.
--
-- Contract: check() reports, without sending a request: the module loads
-- under Neovim's LuaJIT (and which file), lua-cjson, libcurl loadable (and
-- the certificate authorities it trusts), an
-- API key present (never printed), the model in use not retired, and the
-- save folder writable. Works with the health API of Neovim 0.7 to 0.11.

local M = {}

local health = vim.health or require "health"
local start = health.start or health.report_start
local ok = health.ok or health.report_ok
local warn = health.warn or health.report_warn
local fail = health.error or health.report_error
local info = health.info or health.report_info

local function first_line(text)
  return (tostring(text):gsub("\n.*", ""))
end

local function check_module()
  local loaded, gptimage = pcall(require, "gptimage")
  if not loaded then
    local reason = first_line(gptimage)
    if reason:find("undefined symbol: lua", 1, true) then
      fail("gptimage.so was built for another Lua, not Neovim's LuaJIT: " .. reason,
        { "build it for LuaJIT: scripts/build.sh luajit (the lazy.nvim build step does this)" })
    else
      fail("cannot load gptimage: " .. reason,
        { "build it for LuaJIT: scripts/build.sh luajit, or install it (see :help gptimage-install)" })
    end
    return nil
  end
  local where = package.searchpath and package.searchpath("gptimage", package.cpath)
  ok(string.format("gptimage %s loads under %s%s", tostring(gptimage.version),
    jit and jit.version or _VERSION, where and (" (" .. where .. ")") or ""))
  return gptimage
end

local function check_cjson()
  local loaded, cjson = pcall(require, "cjson")
  if loaded then
    ok("lua-cjson " .. tostring(cjson._VERSION or ""))
  else
    fail("lua-cjson is missing: " .. first_line(cjson),
      { "Debian/Ubuntu: apt install lua-cjson; or luarocks --lua-version 5.1 install lua-cjson" })
  end
end

-- which certificate authorities a client without ca_file trusts, and
-- whether a new TLS connection parses the whole bundle (src/trust.h)
local function check_trust(gptimage)
  if type(gptimage.trust) ~= "function" then
    return
  end
  local t = gptimage.trust()
  if not t then
    return
  end
  local from = t.source == "environment" and " (SSL_CERT_FILE / SSL_CERT_DIR)" or ""
  if t.uses == "dir" then
    ok(string.format("certificate authorities: the folder %s alone%s, %d certificates, the same as %s",
      t.dir, from, t.dir_certificates or 0, tostring(t.file)))
  elseif t.uses == "none" then
    warn("no certificate authorities found: HTTPS requests will fail",
      { "install ca-certificates, or set SSL_CERT_FILE, or give the client ca_file" })
  else
    info(string.format("certificate authorities: %s%s%s; each new TLS connection parses %s certificates",
      tostring(t.file), t.dir and (" and " .. t.dir) or "", from, tostring(t.file_certificates or "?")))
  end
end

local function check_libcurl(gptimage)
  if type(gptimage.libcurl) ~= "function" then
    return
  end
  local version, detail = gptimage.libcurl()
  if version then
    ok("libcurl " .. version .. (detail and (" with " .. detail) or ""))
    check_trust(gptimage)
  else
    fail("libcurl cannot be loaded: " .. tostring(detail),
      { "Debian/Ubuntu: apt install libcurl4" })
  end
end

local function check_key()
  local key = os.getenv("OPENAI_API_KEY")
  if key and key ~= "" then
    ok("OPENAI_API_KEY is set")
  else
    warn("OPENAI_API_KEY is not set",
      { "export it, or give require('gptimage.nvim').setup{ client = { api_key = ... } }" })
  end
end

-- The entry of the module's API table for a model name, if it lists one.
local function model_entry(gptimage, name)
  local models = gptimage.models
  if type(models) ~= "table" then
    return nil, false
  end
  if type(models[name]) == "table" then
    return models[name], true
  end
  for _, entry in pairs(models) do
    if type(entry) == "table" and entry.name == name then
      return entry, true
    end
  end
  return nil, true
end

local function check_model(gptimage)
  local model = os.getenv("GPTIMAGE_MODEL")
  if model == nil or model == "" then
    model = gptimage.default_model
  end
  if type(model) ~= "string" or model == "" then
    info("model: the module's default")
    return
  end
  local entry, listed = model_entry(gptimage, model)
  if not listed then
    info("model: " .. model)
    return
  end
  if entry == nil then
    warn("model " .. model .. " is not one the module knows (sent as it is)")
    return
  end
  local state = entry.lifecycle or entry.status or entry.state
  local replacement = entry.replacement or entry.replaced_by or entry.successor
  if entry.shutdown == true or state == "shutdown" or state == "retired" then
    fail("model " .. model .. " is shut down" .. (replacement and ("; use " .. replacement) or ""))
  elseif entry.deprecated == true or state == "deprecated" then
    warn("model " .. model .. " is deprecated" .. (replacement and ("; use " .. replacement) or ""))
  else
    ok("model " .. model .. " is current")
  end
end

local function check_folder()
  local config = require "gptimage.nvim.config"
  local folder = config.folder()
  local probe = folder
  while vim.fn.isdirectory(probe) == 0 do
    local parent = vim.fn.fnamemodify(probe, ":h")
    if parent == probe then
      break
    end
    probe = parent
  end
  if vim.fn.filewritable(probe) == 2 then
    ok("images are saved in " .. folder .. (probe ~= folder and " (made on first use)" or ""))
  else
    fail("cannot write to " .. probe .. ", where images would be saved (" .. folder .. ")",
      { "set another folder: require('gptimage.nvim').setup{ dir = ... }" })
  end
end

function M.check()
  start("gptimage")
  local gptimage = check_module()
  check_cjson()
  if gptimage then
    check_libcurl(gptimage)
    check_model(gptimage)
  end
  check_key()
  check_folder()
end

return M
