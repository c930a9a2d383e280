# Fuzz tests under ctest.
#
# Always (any compiler): fuzz_replay_<harness> runs each harness's
# LLVMFuzzerTestOneInput through fuzz/replay.c over its seed corpus, plus
# cut-short and altered copies of every file, so that the invariants the
# harnesses check are tested by every build.
# With -DGPTIMAGE_FUZZ=ON (clang): fuzz_<harness> runs libFuzzer for a bounded
# time over a copy of the corpus; any crash or sanitizer report fails.
set(GPTIMAGE_FUZZ_HARNESSES scanner b64sink sse image gif transfer trust)
include(${CMAKE_SOURCE_DIR}/fuzz/sources.cmake)
set(GPTIMAGE_FUZZ_SECONDS 20 CACHE STRING "seconds each libFuzzer test runs under ctest")
set(GPTIMAGE_FUZZ_SEED 1 CACHE STRING "libFuzzer seed under ctest, so that the suite is repeatable (0: a new seed each run)")

foreach(harness ${GPTIMAGE_FUZZ_HARNESSES})
  gptimage_fuzz_sources(sources ${harness})
  add_executable(fuzz_replay_${harness} ${CMAKE_SOURCE_DIR}/fuzz/replay.c
    ${CMAKE_SOURCE_DIR}/fuzz/fuzz_${harness}.c ${sources})
  set_target_properties(fuzz_replay_${harness} PROPERTIES C_STANDARD 99 C_EXTENSIONS ON)
  target_include_directories(fuzz_replay_${harness} PRIVATE ${GPTIMAGE_FUZZ_INCLUDES})
  target_compile_options(fuzz_replay_${harness} PRIVATE ${GPTIMAGE_WARNINGS})
  target_compile_definitions(fuzz_replay_${harness} PRIVATE FUZZ_REPLAY=1)
  target_link_libraries(fuzz_replay_${harness} PRIVATE ${GPTIMAGE_FUZZ_LIBS_${harness}})
  if(DEFINED GPTIMAGE_FUZZ_DEFS_${harness})
    target_compile_definitions(fuzz_replay_${harness} PRIVATE ${GPTIMAGE_FUZZ_DEFS_${harness}})
  endif()
  if(GPTIMAGE_SANITIZE)
    target_compile_options(fuzz_replay_${harness} PRIVATE -fsanitize=address,undefined,float-cast-overflow -fno-omit-frame-pointer -fno-sanitize-recover=all)
    target_link_options(fuzz_replay_${harness} PRIVATE -fsanitize=address,undefined,float-cast-overflow)
  endif()
  add_test(NAME fuzz_replay_${harness}
    COMMAND fuzz_replay_${harness} ${CMAKE_SOURCE_DIR}/fuzz/corpus/${harness})
  set_tests_properties(fuzz_replay_${harness} PROPERTIES TIMEOUT 300)

  if(GPTIMAGE_FUZZ)
    add_test(NAME fuzz_${harness}
      COMMAND ${CMAKE_COMMAND}
        -DFUZZER=$<TARGET_FILE:fuzz_${harness}>
        -DCORPUS=${CMAKE_SOURCE_DIR}/fuzz/corpus/${harness}
        -DWORK=${CMAKE_BINARY_DIR}/fuzz-work/${harness}
        -DSECONDS=${GPTIMAGE_FUZZ_SECONDS} -DSEED=${GPTIMAGE_FUZZ_SEED}
        -P ${CMAKE_SOURCE_DIR}/fuzz/run.cmake)
    math(EXPR fuzz_timeout "${GPTIMAGE_FUZZ_SECONDS} * 3 + 120")
    set_tests_properties(fuzz_${harness} PROPERTIES TIMEOUT ${fuzz_timeout})
  endif()
endforeach()
