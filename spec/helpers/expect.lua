-- What specs check about a call that must raise: that it raises, with a
-- string, and the message.
--
--   local expect = require "helpers.expect"
--   local msg = expect.raised(gptimage.new, { api_key = 1 })  -- without "file:line: "
--   local whole = expect.raises(f, ...)                       -- the message as raised

-- a required module sees the plain Lua assert: the spec assertions by name
local assert = require "luassert"

local expect = {}

--- f(...) must raise a string; returns it as raised.
function expect.raises(f, ...)
  local ok, msg = pcall(f, ...)
  assert.is_false(ok, "expected the call to raise")
  assert.is_string(msg, "a raised error must be a string, not a " .. type(msg))
  return msg
end

--- f(...) must raise a string; returns it without the "file:line: " of the
-- code that raised it.
function expect.raised(f, ...)
  return (expect.raises(f, ...):gsub("^[^\n]-:%d+: ", ""))
end

return expect
