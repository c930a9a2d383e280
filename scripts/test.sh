#!/usr/bin/env bash
# Installs the dependencies, builds gptimage for Lua 5.4 and LuaJIT, and runs
# every test under ctest: the specs on both builds (plus the Neovim and LOVE
# host tests on LuaJIT; both once more on libcurl 8 when the system's is 7,
# LuaJIT's in the full run only), the whole suite again under ASan+UBSan, the core
# specs under valgrind, and the fuzzers for a short while.
#   scripts/test.sh            everything
#   scripts/test.sh quick      Lua 5.4 and LuaJIT suites only
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-all}
jobs=$(nproc 2>/dev/null || echo 2)

scripts/deps.sh

run_suite() { # name, cmake args...
  local name=$1; shift
  echo "== $name"
  # the tests are required here: a missing tool fails the run instead of
  # leaving the suite empty
  cmake -S . -B "build/$name" -DGPTIMAGE_TESTS=ON "$@" >/dev/null
  cmake --build "build/$name" -j "$jobs"
  (cd "build/$name" && ctest --output-on-failure -j "$jobs")
}

# a build's suite again on libcurl 8 where the system has an older one
# (scripts/libcurl8.sh); a spec checks which libcurl answered
curl8=$(scripts/libcurl8.sh build/libcurl8)
on_libcurl8() { # name
  [ -n "$curl8" ] || return 0
  echo "== $1 on libcurl 8"
  (cd "build/$1" && LD_LIBRARY_PATH="$curl8${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" GPTIMAGE_EXPECT_LIBCURL=8. \
    ctest --output-on-failure -j "$jobs")
}

run_suite lua5.4 -DGPTIMAGE_LUA=lua5.4
on_libcurl8 lua5.4
run_suite luajit -DGPTIMAGE_LUA=luajit
if [ "$mode" = all ]; then
  # with the Neovim and LOVE hosts
  on_libcurl8 luajit
  # linked to libcurl at build time: the whole suite on that variant too, and
  # curl's compile-time option type checks (see src/curlapi.h)
  run_suite asan -DGPTIMAGE_LUA=lua5.4 -DGPTIMAGE_SANITIZE=ON -DGPTIMAGE_HOST_TESTS=OFF -DGPTIMAGE_LAZY_LIBCURL=OFF
  run_suite valgrind -DGPTIMAGE_LUA=lua5.4 -DGPTIMAGE_VALGRIND=ON -DGPTIMAGE_HOST_TESTS=OFF
  CC=clang run_suite fuzz -DGPTIMAGE_LUA=lua5.4 -DGPTIMAGE_FUZZ=ON -DGPTIMAGE_SPECS=OFF -DGPTIMAGE_HOST_TESTS=OFF
fi
