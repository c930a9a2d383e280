# Every spec/*_spec.lua is one ctest test, run by busted under the Lua the
# module was built for, against the module just built and the fake server.
find_program(BUSTED_SCRIPT busted REQUIRED)
find_program(PYTHON3 python3 REQUIRED)

set(GPTIMAGE_TEST_ENV
  # ';' separates list items in CMake: the Lua path separators are escaped
  "LUA_CPATH=${CMAKE_BINARY_DIR}/?.so\\;\\;"
  "LUA_PATH=${CMAKE_SOURCE_DIR}/lua/?.lua\\;${CMAKE_SOURCE_DIR}/lua/?/init.lua\\;${CMAKE_SOURCE_DIR}/spec/?.lua\\;\\;"
  "GPTIMAGE_LUA=${LUA_INTERPRETER}"
  "GPTIMAGE_LUA_VERSION=${GPTIMAGE_LUA_VERSION}"
  "GPTIMAGE_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
  "GPTIMAGE_BUILD_DIR=${CMAKE_BINARY_DIR}"
  "GPTIMAGE_PYTHON=${PYTHON3}"
  "OPENAI_API_KEY="
  "OPENAI_BASE_URL=")
if(GPTIMAGE_SANITIZE)
  # ASAN_RUNTIME and UBSAN_RUNTIME come from CMakeLists.txt
  list(APPEND GPTIMAGE_TEST_ENV
    "LD_PRELOAD=${ASAN_RUNTIME}:${UBSAN_RUNTIME}"
    "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1"
    "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1"
    "GPTIMAGE_SANITIZED=1")
endif()

option(GPTIMAGE_SPECS "Register the busted specs" ON)
option(GPTIMAGE_VALGRIND "Run the core specs under valgrind instead of the whole suite" OFF)
# The specs whose code paths are the C core: what valgrind must pass.
set(GPTIMAGE_CORE_SPECS client generate edit stream jobs faults)

file(GLOB GPTIMAGE_SPECS_FILES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/spec/*_spec.lua)
if(GPTIMAGE_SPECS AND GPTIMAGE_VALGRIND)
  find_program(VALGRIND valgrind REQUIRED)
  foreach(spec ${GPTIMAGE_SPECS_FILES})
    get_filename_component(name ${spec} NAME_WE)
    string(REGEX REPLACE "_spec$" "" short ${name})
    list(FIND GPTIMAGE_CORE_SPECS ${short} core)
    if(core GREATER -1)
      add_test(NAME valgrind_${short}
        COMMAND ${VALGRIND} --quiet --error-exitcode=99 --leak-check=full
          --errors-for-leak-kinds=definite --show-leak-kinds=definite
          --suppressions=${CMAKE_SOURCE_DIR}/spec/valgrind.supp
          ${LUA_INTERPRETER} ${BUSTED_SCRIPT} --output=plainTerminal ${spec}
        WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
      set_tests_properties(valgrind_${short} PROPERTIES
        ENVIRONMENT "${GPTIMAGE_TEST_ENV};GPTIMAGE_VALGRIND=1" TIMEOUT 1200)
    endif()
  endforeach()
elseif(GPTIMAGE_SPECS)
  foreach(spec ${GPTIMAGE_SPECS_FILES})
    get_filename_component(name ${spec} NAME_WE)
    add_test(NAME ${name}
      COMMAND ${LUA_INTERPRETER} ${BUSTED_SCRIPT} --output=plainTerminal ${spec}
      WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
    set_tests_properties(${name} PROPERTIES ENVIRONMENT "${GPTIMAGE_TEST_ENV}" TIMEOUT 600)
  endforeach()
endif()

# Tests that are not busted specs (host programs, fuzzers, conformance) add
# themselves from their own folders.
foreach(extra spec/hosts/tests.cmake spec/alloc/tests.cmake spec/conformance/tests.cmake spec/rockspec/tests.cmake spec/install/tests.cmake spec/build/tests.cmake fuzz/tests.cmake)
  include(${CMAKE_SOURCE_DIR}/${extra} OPTIONAL)
endforeach()
