# The install test (spec/install/install_test.sh): cmake --install into a
# scratch prefix, then the command, the shell completion and the man page
# are used from there. Plain builds only, as the rockspec test.
if(GPTIMAGE_SPECS AND NOT GPTIMAGE_VALGRIND AND NOT GPTIMAGE_SANITIZE)
  add_test(NAME install COMMAND sh ${CMAKE_SOURCE_DIR}/spec/install/install_test.sh)
  set_tests_properties(install PROPERTIES ENVIRONMENT "${GPTIMAGE_TEST_ENV}" TIMEOUT 120)
endif()
