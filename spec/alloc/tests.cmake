# The module under a Lua allocator that fails large blocks: what the module
# holds in C when Lua raises must still be freed.  Lua 5.4 only (LuaJIT on
# 64-bit takes no custom allocator); not under the sanitizers, whose heap
# mallinfo2 does not see.
if(GPTIMAGE_LUA STREQUAL "lua5.4" AND NOT GPTIMAGE_SANITIZE AND NOT GPTIMAGE_VALGRIND)
  add_executable(alloc_test ${CMAKE_SOURCE_DIR}/spec/alloc/alloc_test.c)
  target_include_directories(alloc_test PRIVATE ${LUA_INCLUDE_DIRS})
  target_link_libraries(alloc_test PRIVATE ${LUA_LINK_LIBRARIES})
  add_dependencies(alloc_test gptimage)
  add_test(NAME alloc_b64decode COMMAND alloc_test)
  set_tests_properties(alloc_b64decode PROPERTIES ENVIRONMENT "${GPTIMAGE_TEST_ENV}" TIMEOUT 120)
endif()
