#!/usr/bin/env bash
# Shows how the Images API has moved since this module last caught up: reads
# the image types (models, request fields, enums, response fields, stream
# events) of the newest `openai` on npm, of the version pinned for the
# conformance test (spec/conformance/package.json) and of the module's own
# API table (gptimage.models, gptimage.options), and prints what is new or
# gone. For maintainers before a release (it needs the network); never CI.
#   scripts/api-drift.sh [--module-dir DIR]   (default: build/lua5.4)
set -euo pipefail
cd "$(dirname "$0")/.."
module_dir=build/lua5.4
if [ "${1:-}" = "--module-dir" ] && [ -n "${2:-}" ]; then module_dir=$2; fi

work=$(mktemp -d "${TMPDIR:-/tmp}/gptimage-drift-XXXXXX")
trap 'rm -rf "$work"' EXIT

pinned=$(node -p "require('./spec/conformance/package.json').dependencies.openai")
newest=$(npm view openai version)
echo "openai pinned for conformance: $pinned; newest on npm: $newest"

read_types() { # version -> $work/<version>.json
  (cd "$work" && npm pack "openai@$1" --silent >/dev/null)
  mkdir -p "$work/$1"
  tar xzf "$work/openai-$1.tgz" -C "$work/$1"
  node scripts/api-types.mjs read "$work/$1/package/src/resources/images.ts" > "$work/$1.json"
}
read_types "$pinned"
[ "$newest" = "$pinned" ] || read_types "$newest"

# The module's table as { models, options: { name: [values] } }.
module_json=
if [ -f "$module_dir/gptimage.so" ]; then
  module_json=$work/module.json
  LUA_CPATH="$module_dir/?.so;${LUA_CPATH:-;;}" LUA_PATH="lua/?.lua;lua/?/init.lua;${LUA_PATH:-;;}" \
    lua5.4 - > "$module_json" <<'LUA'
local gptimage = require "gptimage"
local cjson = require "cjson"
-- Reads a field that may be missing (a module without an API table).
local function field(name)
  local ok, value = pcall(function() return gptimage[name] end)
  return ok and type(value) == "table" and value or nil
end
local function names(t)
  local out = {}
  for key, entry in pairs(t or {}) do
    local name = type(key) == "string" and key
      or type(entry) == "table" and (entry.id or entry.name) or entry
    if type(name) == "string" then out[#out + 1] = name end
  end
  table.sort(out)
  return out
end
local function values(entry)
  local out = {}
  if type(entry) == "table" then
    for _, list in ipairs{ entry.enum or false, entry.values or false, entry.choices or false } do
      for _, value in pairs(list or {}) do
        if type(value) == "string" then out[#out + 1] = value end
      end
    end
  end
  table.sort(out)
  return out
end
local models, options = field("models"), field("options")
local table_of_options = {}
for _, name in ipairs(names(options)) do
  local entry = options[name]
  if entry == nil then
    for _, candidate in pairs(options) do
      if type(candidate) == "table" and candidate.name == name then entry = candidate end
    end
  end
  table_of_options[name] = values(entry)
end
-- Empty Lua tables encode as {}: the reader takes both {} and [] as empty.
io.write(cjson.encode{ present = models ~= nil and options ~= nil, models = names(models),
                       options = table_of_options }, "\n")
LUA
else
  echo "(no $module_dir/gptimage.so: build first to compare with the module's API table)"
fi

echo
echo "== pinned $pinned -> newest $newest"
node scripts/api-types.mjs compare "$work/$pinned.json" "$work/$newest.json"
if [ -n "$module_json" ]; then
  echo
  echo "== newest $newest <-> the module's API table (gptimage.models, gptimage.options)"
  node scripts/api-types.mjs module "$work/$newest.json" "$module_json"
fi
