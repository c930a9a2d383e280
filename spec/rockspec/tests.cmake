# The rockspec test: luarocks make into a scratch tree, then the installed
# module and command are used (spec/rockspec/rockspec_test.sh). Plain builds
# only: the rock is built by luarocks, not with this build's sanitizers.
if(GPTIMAGE_SPECS AND NOT GPTIMAGE_VALGRIND AND NOT GPTIMAGE_SANITIZE)
  find_program(LUAROCKS luarocks)
  if(LUAROCKS)
    add_test(NAME rockspec COMMAND sh ${CMAKE_SOURCE_DIR}/spec/rockspec/rockspec_test.sh)
    set_tests_properties(rockspec PROPERTIES ENVIRONMENT "${GPTIMAGE_TEST_ENV}" TIMEOUT 300)
  else()
    message(STATUS "rockspec test not registered: luarocks was not found")
  endif()
endif()
