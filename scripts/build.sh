#!/usr/bin/env bash
# Builds gptimage.so: build/lua5.4 (Lua 5.4) and build/luajit (LuaJIT, for
# Neovim and LOVE).  Extra arguments go to cmake's configure step.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
for lua in lua5.4 luajit; do
  cmake -S . -B "build/$lua" -DGPTIMAGE_LUA="$lua" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "build/$lua" -j "$jobs"
done
