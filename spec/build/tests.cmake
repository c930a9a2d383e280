# The module-only configure (spec/build/module_only_test.sh): a user's build
# (scripts/build.sh, the Neovim build step) needs none of the test tools.
# Plain builds only, as the install test.
if(GPTIMAGE_SPECS AND NOT GPTIMAGE_VALGRIND AND NOT GPTIMAGE_SANITIZE)
  add_test(NAME module_only_configure COMMAND sh ${CMAKE_SOURCE_DIR}/spec/build/module_only_test.sh)
  set_tests_properties(module_only_configure PROPERTIES ENVIRONMENT "${GPTIMAGE_TEST_ENV}" TIMEOUT 120)
endif()
