# Runs one libFuzzer binary for a bounded time over a scratch copy of its
# seed corpus (the fuzzer adds to the corpus it is given; the repository's
# stays as it is). Crash files go to WORK/artifacts.
#   cmake -DFUZZER=... -DCORPUS=... -DWORK=... -DSECONDS=20 -P run.cmake
foreach(var FUZZER CORPUS WORK SECONDS)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run.cmake needs -D${var}=...")
  endif()
endforeach()

# SEED (optional, not 0): the same mutations in the same order on every run,
# so that the suite under ctest gives the same answer each time; the longer
# runs of scripts/fuzz.sh leave it out and explore afresh.
set(seed_arg)
if(DEFINED SEED AND NOT SEED STREQUAL "" AND NOT SEED STREQUAL "0")
  set(seed_arg -seed=${SEED})
endif()

file(REMOVE_RECURSE ${WORK}/corpus)
file(MAKE_DIRECTORY ${WORK}/corpus ${WORK}/artifacts)
file(GLOB seeds ${CORPUS}/*)
file(COPY ${seeds} DESTINATION ${WORK}/corpus)

execute_process(
  COMMAND ${FUZZER} ${WORK}/corpus ${seed_arg}
    -max_total_time=${SECONDS} -runs=50000000 -max_len=16384 -timeout=10 -rss_limit_mb=2048
    -print_final_stats=1 -artifact_prefix=${WORK}/artifacts/
  RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "${FUZZER} failed (${result}); the input that broke it is in ${WORK}/artifacts")
endif()
