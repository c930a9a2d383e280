#!/usr/bin/env bash
# Builds the libFuzzer harnesses with clang (ASan+UBSan) in build/fuzz-long
# and runs each one for a while over a copy of its seed corpus in fuzz/corpus.
#   scripts/fuzz.sh [SECONDS [HARNESS...]]    default: 300 s each, all harnesses
# The corpus a run grows stays in build/fuzz-long/fuzz-work/<harness>/corpus;
# an input that breaks a harness is kept in .../artifacts and replays with
#   build/fuzz-long/fuzz_<harness> FILE
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-300}
shift || true
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(scanner b64sink sse image gif transfer trust)
case $seconds in ''|*[!0-9]*) echo "usage: $0 [SECONDS [HARNESS...]]" >&2; exit 2;; esac
build=build/fuzz-long
jobs=$(nproc 2>/dev/null || echo 2)

CC=clang cmake -S . -B "$build" -DGPTIMAGE_FUZZ=ON -DGPTIMAGE_SPECS=OFF -DGPTIMAGE_HOST_TESTS=OFF >/dev/null
targets=()
for h in "${harnesses[@]}"; do targets+=("fuzz_$h"); done
cmake --build "$build" -j "$jobs" --target "${targets[@]}"

failed=0
for h in "${harnesses[@]}"; do
  echo "== fuzz_$h for ${seconds}s"
  if ! cmake -DFUZZER="$build/fuzz_$h" -DCORPUS="fuzz/corpus/$h" -DWORK="$build/fuzz-work/$h" \
      -DSECONDS="$seconds" -P fuzz/run.cmake; then
    failed=1
  fi
done
exit $failed
