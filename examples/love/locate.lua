-- Finds gptimage for the example game: the source tree's LuaJIT build
-- first (LÖVE runs LuaJIT), then whatever package.cpath has (LUA_CPATH, an
-- installed module). A LUA_CPATH that points at the Lua 5.4 build must not
-- win over the LuaJIT one: that module cannot load into LuaJIT.
--
--   local gl, problem = require("locate")(love.filesystem.getSource())
--
-- `from` is a folder inside the source tree (nil: search no tree). Returns
-- the gptimage.love module, or nil and one line that says what was found
-- and what to do.

local BUILD = "cmake -S . -B build/luajit -DGPTIMAGE_LUA=luajit && cmake --build build/luajit"

local function exists(path)
  local file = io.open(path, "rb")
  if file then
    file:close()
  end
  return file ~= nil
end

-- The source tree holding `from`: the nearest folder up with lua/gptimage/love.lua.
local function source_tree(from)
  local dir = from and from:gsub("/+$", "")
  for _ = 1, 4 do
    if dir == nil or dir == "" then
      return nil
    end
    if exists(dir .. "/lua/gptimage/love.lua") then
      return dir
    end
    dir = dir:match("^(.*)/[^/]*$")
  end
  return nil
end

return function(from)
  local repo = source_tree(from)
  if repo then
    -- first, even when LUA_CPATH names it after another Lua's build
    local built = repo .. "/build/luajit/?.so"
    local start = package.cpath:find(built, 1, true)
    if start ~= 1 then
      local rest = package.cpath
      if start then
        rest = rest:sub(1, start - 1) .. rest:sub(start + #built + 1)
      end
      package.cpath = built .. ";" .. rest
    end
    if not package.path:find(repo .. "/lua/?.lua", 1, true) then
      package.path = repo .. "/lua/?.lua;" .. package.path
    end
  end
  -- The compiled module first: its own error says more than the Lua part's.
  local ok, module = pcall(require, "gptimage")
  if ok then
    ok, module = pcall(require, "gptimage.love")
  end
  if ok then
    return module
  end
  local reason = tostring(module):gsub("\n.*", "")
  local where = package.searchpath and package.searchpath("gptimage", package.cpath)
  local full = tostring(module)
  if full:find("undefined symbol: lua", 1, true) then
    return nil, string.format("%s was built for another Lua (Lua 5.4?), not LÖVE's LuaJIT. "
      .. "Build the LuaJIT one: %s", where or "gptimage.so", BUILD)
  end
  if where == nil then
    return nil, "gptimage.so (for LuaJIT) not found. Build it: " .. BUILD .. ", or set LUA_CPATH."
  end
  return nil, "cannot load gptimage: " .. reason
end
