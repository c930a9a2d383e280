#!/usr/bin/env bash
# Installs what gptimage needs to build and test, on Debian or Ubuntu.
# Safe to run again: apt-get skips what is there, npm ci reuses its cache.
set -euo pipefail
cd "$(dirname "$0")/.."

# scripts/deps.sh core: what building and running needs; no argument: also
# everything the tests, fuzzers and benchmarks use (libb64 is only the fuzz
# harness's reference decoder; a build without the test tools leaves the
# tests out, see GPTIMAGE_TESTS in CMakeLists.txt).
packages=(
  build-essential cmake pkg-config ca-certificates
  lua5.4 liblua5.4-dev luajit libluajit-5.1-dev
  lua-cjson lua-cjson-dev libcurl4-openssl-dev python3
  libspng-dev libgif-dev libjpeg-dev libwebp-dev zlib1g-dev
)
if [ "${1:-all}" != core ]; then
  packages+=(
    git curl lua-busted luarocks libb64-dev
    neovim love xvfb xauth zsh bash-completion man-db groff-base
    clang libclang-rt-14-dev valgrind util-linux time
    python3-pil
  )
  # a Node.js that is already there (it may bundle its own npm) is kept
  command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  echo "installing: ${missing[*]}"
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi

# The official SDK, pinned, for the conformance test and the benchmarks.
if [ "${1:-all}" != core ] && command -v npm >/dev/null 2>&1 && [ -f spec/conformance/package-lock.json ]; then
  if [ ! -d spec/conformance/node_modules ] || [ spec/conformance/package-lock.json -nt spec/conformance/node_modules ]; then
    npm ci --prefix spec/conformance --no-audit --no-fund
  fi
fi
