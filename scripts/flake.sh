#!/usr/bin/env bash
# Runs the Lua 5.4 and LuaJIT suites several times while CPU hogs keep every
# core busy, to find tests that pass only on an idle machine (a wait on a
# count that can be reached early, a race between sleeps, a rate that a
# loaded machine does not keep).  Any failure fails the script.
#   scripts/flake.sh            three rounds, one hog per core
#   scripts/flake.sh ROUNDS     that many rounds
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
cores=$(nproc 2>/dev/null || echo 2)

hogs=()
stop_hogs() {
  local pid
  for pid in "${hogs[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${hogs[@]}"; do wait "$pid" 2>/dev/null || true; done
  hogs=()
}
trap stop_hogs EXIT INT TERM

for _ in $(seq "$cores"); do
  # a busy loop in a shell of its own: no files, no network, only CPU
  bash -c 'while :; do :; done' &
  hogs+=("$!")
done
echo "flake: ${#hogs[@]} CPU hogs running; $rounds rounds"

for round in $(seq "$rounds"); do
  echo "== flake round $round of $rounds"
  if ! scripts/test.sh quick; then
    echo "flake: round $round failed" >&2
    exit 1
  fi
done
echo "flake: $rounds rounds passed under load"
