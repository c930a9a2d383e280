#!/bin/sh
# The module-only configure: what a user's build runs (scripts/build.sh,
# the Neovim plugin's build step) on a machine without the test tools.
# With GPTIMAGE_TESTS=OFF the configure must succeed without looking for
# what only the tests and fuzzers use (busted, python3, libb64), and must
# register no test. Needs GPTIMAGE_SOURCE_DIR and GPTIMAGE_LUA_VERSION
# (set by ctest).
set -eu
source=${GPTIMAGE_SOURCE_DIR:?} version=${GPTIMAGE_LUA_VERSION:?}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
check() { # name, then a command that must succeed
  name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok - $name"
  else failed=$((failed + 1)); echo "FAIL - $name"; fi
}
absent() { # cache variable name: not in the configured cache at all
  ! grep -q "^$1:" "$work/build/CMakeCache.txt"
}

lua=lua5.4
[ "$version" = 5.1 ] && lua=luajit
configured=0
cmake -S "$source" -B "$work/build" -DGPTIMAGE_LUA=$lua -DGPTIMAGE_TESTS=OFF -DGPTIMAGE_FUZZ=OFF \
  >"$work/configure.log" 2>&1 || { configured=$?; cat "$work/configure.log"; }
check "cmake configures the module alone for $lua" test "$configured" -eq 0
check "libb64 is not looked for (its headers)" absent B64_INCLUDE_DIR
check "libb64 is not looked for (its library)" absent B64_LIBRARY
check "busted is not looked for" absent BUSTED_SCRIPT
check "python3 is not looked for" absent PYTHON3
check "no test is registered" test ! -e "$work/build/CTestTestfile.cmake"

echo "module-only configure: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
