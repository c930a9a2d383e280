#!/bin/sh
# The rockspec builds with `luarocks make` and what it installs works: a copy
# of the source tree is built into a scratch tree (luarocks leaves objects
# beside the sources, so never in the checkout itself), then the installed
# module saves an image from the fake server and the installed command
# answers --help.
set -eu
src=${GPTIMAGE_SOURCE_DIR:?}
lua=${GPTIMAGE_LUA:?}
version=${GPTIMAGE_LUA_VERSION:?}
python=${GPTIMAGE_PYTHON:-python3}
work=$(mktemp -d)
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# every C source and Lua module of the tree is in the rockspec
for file in $(cd "$src" && find src -name '*.c' && find lua -name '*.lua'); do
  grep -q "\"$file\"" "$src/rockspec/gptimage-scm-1.rockspec" || {
    echo "rockspec/gptimage-scm-1.rockspec does not list $file" >&2; exit 1; }
done

mkdir "$work/src" "$work/tree"
(cd "$src" && tar cf - rockspec src lua bin) | (cd "$work/src" && tar xf -)
# as the README says, with no variables: the rockspec finds the headers
(cd "$work/src" && luarocks --lua-version "$version" --tree "$work/tree" make --deps-mode=none \
  rockspec/gptimage-scm-1.rockspec)

"$python" "$src/spec/server/fake_api.py" --port 0 --port-file "$work/port" --watch-pid $$ &
server=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
[ -s "$work/port" ] || { echo "the fake server did not start" >&2; exit 1; }
port=$(cut -d' ' -f1 "$work/port")

export LUA_CPATH="$work/tree/lib/lua/$version/?.so;;"
export LUA_PATH="$work/tree/share/lua/$version/?.lua;;"
export OPENAI_API_KEY=sk-rockspec OPENAI_BASE_URL="http://127.0.0.1:$port/v1"
"$lua" -e '
  local gptimage = require "gptimage"
  assert(package.searchpath("gptimage", package.cpath):find("'"$work"'", 1, true), "gptimage.so not from the rock")
  local res = assert(gptimage.generate{ prompt = "from the rock", save = "'"$work"'/out/rock.png" })
  local f = assert(io.open(res.images[1].path, "rb"))
  assert(f:read(8) == "\137PNG\r\n\26\n", "not a PNG")
  f:close()
  print("saved " .. res.images[1].path)'
# the command under the interpreter of this build (luarocks' own wrapper
# uses whichever interpreter its configuration names for this Lua version)
"$lua" "$work/tree/lib/luarocks/rocks-$version/gptimage/scm-1/bin/gptimage" --help | grep -q "^usage: gptimage"
echo "rockspec: built, installed and used"
