#!/bin/sh
# Runs every benchmark in one go: gptimage against the curl CLI and the
# official openai-node SDK, all fetching the same images from the fake
# server. Prints the table and writes bench/results.md. See bench/bench.py.
#
#   bench/run.sh [--module-dir BUILD_DIR] [--lua lua5.4] [--repeat 3] [--quick]
#   bench/run.sh --callgrind      # instruction profile of the saved-image job
#   bench/run.sh --hosts          # only the LÖVE frames and Neovim ticks
#
# The module is taken from $GPTIMAGE_BUILD_DIR, else build/lua5.4 (what the
# README and scripts/build.sh make), else build/, unless given.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec "${PYTHON:-python3}" "$here/bench.py" "$@"
