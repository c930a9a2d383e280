#!/usr/bin/env bash
# One command from a fresh clone to real image files: installs what is
# needed, builds the module for Lua 5.4 and runs examples/generate.lua.
# With OPENAI_API_KEY set it calls the real API; without it, the bundled
# fake server answers on a loopback port (its images are real PNG files).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh core
cmake -S . -B build/lua5.4 -DGPTIMAGE_LUA=lua5.4 -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/lua5.4 -j "$(nproc 2>/dev/null || echo 2)"
export LUA_CPATH="$PWD/build/lua5.4/?.so;;"
export LUA_PATH="$PWD/lua/?.lua;$PWD/lua/?/init.lua;;"

if [ -z "${OPENAI_API_KEY:-}" ]; then
  echo "OPENAI_API_KEY is not set: using the bundled fake server"
  portfile=$(mktemp)
  python3 spec/server/fake_api.py --port 0 --port-file "$portfile" --watch-pid $$ &
  server=$!
  trap 'kill $server 2>/dev/null || true; rm -f "$portfile"' EXIT
  for _ in $(seq 100); do [ -s "$portfile" ] && break; sleep 0.1; done
  [ -s "$portfile" ] || { echo "the fake server did not start" >&2; exit 1; }
  export OPENAI_BASE_URL="http://127.0.0.1:$(cut -d' ' -f1 "$portfile")/v1"
  export OPENAI_API_KEY="sk-fake-quickstart"
fi
lua5.4 examples/generate.lua "$@"
