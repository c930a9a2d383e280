# The conformance test: the official openai-node SDK (pinned in package.json)
# and gptimage run the same scenarios against the fake server; see
# conformance_test.lua. Registered only where node and npm are found and the
# SDK is installed (npm ci --prefix spec/conformance); re-run cmake after
# installing it.
if(GPTIMAGE_SPECS AND NOT GPTIMAGE_VALGRIND)
  find_program(NODE_EXECUTABLE node)
  find_program(NPM_EXECUTABLE npm)
  set(GPTIMAGE_CONFORMANCE_DIR ${CMAKE_SOURCE_DIR}/spec/conformance)
  # CI must prove conformance: there, a missing SDK is an error, not a skip.
  if(DEFINED ENV{CI} AND NOT "$ENV{CI}" STREQUAL "" AND NOT "$ENV{CI}" STREQUAL "false")
    set(conformance_missing FATAL_ERROR)
  else()
    set(conformance_missing STATUS)
  endif()
  if(NOT NODE_EXECUTABLE OR NOT NPM_EXECUTABLE)
    message(${conformance_missing} "conformance test not registered: node and npm were not found")
  elseif(NOT EXISTS ${GPTIMAGE_CONFORMANCE_DIR}/node_modules/openai/package.json)
    message(${conformance_missing} "conformance test not registered: the openai SDK is not installed "
                   "(run: npm ci --prefix spec/conformance, then cmake again)")
  else()
    add_test(NAME conformance
      COMMAND ${LUA_INTERPRETER} ${GPTIMAGE_CONFORMANCE_DIR}/conformance_test.lua
      WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
    set_tests_properties(conformance PROPERTIES
      ENVIRONMENT "${GPTIMAGE_TEST_ENV};GPTIMAGE_NODE=${NODE_EXECUTABLE}" TIMEOUT 300)
  endif()
endif()
