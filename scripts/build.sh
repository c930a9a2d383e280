#!/usr/bin/env bash
# Builds gptimage.so: build/lua5.4 (Lua 5.4) and build/luajit (LuaJIT, for
# Neovim and LOVE).  A first argument of lua5.4 or luajit builds that one
# only (the Neovim plugin's build step: scripts/build.sh luajit).  Other
# arguments go to cmake's configure step.  Needs only what the module
# needs: without the test tools (busted, python3, libb64) the tests are
# left out (GPTIMAGE_TESTS=AUTO).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
luas=(lua5.4 luajit)
if [ $# -gt 0 ] && { [ "$1" = lua5.4 ] || [ "$1" = luajit ]; }; then
  luas=("$1")
  shift
fi
for lua in "${luas[@]}"; do
  cmake -S . -B "build/$lua" -DGPTIMAGE_LUA="$lua" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "build/$lua" -j "$jobs"
done
