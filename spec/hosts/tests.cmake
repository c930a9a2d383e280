# Host tests: the module driven from inside real Neovim and LÖVE, which both
# embed LuaJIT, so they run only for a LuaJIT build. Each host counts its own
# timer ticks or frames while the fake server holds an answer back.
if(NOT GPTIMAGE_HOST_TESTS)
  message(STATUS "gptimage: host tests off (GPTIMAGE_HOST_TESTS)")
elseif(NOT GPTIMAGE_LUA STREQUAL "luajit")
  message(STATUS "gptimage: Neovim and LOVE host tests need -DGPTIMAGE_LUA=luajit; not registered")
else()
  find_program(NVIM_PROGRAM nvim)
  find_program(LOVE_PROGRAM love)
  find_program(XVFB_RUN_PROGRAM xvfb-run)
  # CI must prove the hosts: there, a missing one is an error, not a skip.
  if(DEFINED ENV{CI} AND NOT "$ENV{CI}" STREQUAL "" AND NOT "$ENV{CI}" STREQUAL "false")
    set(host_missing FATAL_ERROR)
  else()
    set(host_missing STATUS)
  endif()

  if(NVIM_PROGRAM)
    # A script that fails to load must end Neovim too, not leave it waiting.
    set(nvim_run_test
      "lua local ok, err = pcall(dofile, os.getenv('GPTIMAGE_SOURCE_DIR') .. '/spec/hosts/nvim_test.lua') if not ok then io.stderr:write(tostring(err), '\\n') vim.cmd('cquit!') end")
    add_test(NAME host_nvim
      COMMAND ${NVIM_PROGRAM} --headless -u NONE -i NONE -n -c "${nvim_run_test}"
      WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
    set_tests_properties(host_nvim PROPERTIES
      ENVIRONMENT "${GPTIMAGE_TEST_ENV}" TIMEOUT 180 LABELS host)
    # The repository as a plugin: plugin/, doc/, :checkhealth, the commands.
    string(REPLACE "nvim_test.lua" "nvim_plugin_test.lua" nvim_plugin_test "${nvim_run_test}")
    add_test(NAME host_nvim_plugin
      COMMAND ${NVIM_PROGRAM} --headless -u NONE -i NONE -n -c "${nvim_plugin_test}"
      WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
    set_tests_properties(host_nvim_plugin PROPERTIES
      ENVIRONMENT "${GPTIMAGE_TEST_ENV}" TIMEOUT 180 LABELS host)
  else()
    message(${host_missing} "gptimage: nvim not found; Neovim host test not registered")
  endif()

  if(LOVE_PROGRAM AND XVFB_RUN_PROGRAM)
    add_test(NAME host_love
      COMMAND ${XVFB_RUN_PROGRAM} -a -s "-screen 0 640x480x24"
        ${LOVE_PROGRAM} ${CMAKE_SOURCE_DIR}/spec/hosts/love_game
      WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
    set_tests_properties(host_love PROPERTIES
      ENVIRONMENT "${GPTIMAGE_TEST_ENV};SDL_AUDIODRIVER=dummy" TIMEOUT 180 LABELS host)
    # examples/love played as a player would: typed prompt, partials, status
    add_test(NAME host_love_example
      COMMAND ${XVFB_RUN_PROGRAM} -a -s "-screen 0 640x480x24"
        ${LOVE_PROGRAM} ${CMAKE_SOURCE_DIR}/spec/hosts/love_example
      WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
    set_tests_properties(host_love_example PROPERTIES
      ENVIRONMENT "${GPTIMAGE_TEST_ENV};SDL_AUDIODRIVER=dummy" TIMEOUT 180 LABELS host)
  else()
    message(${host_missing} "gptimage: love or xvfb-run not found; LOVE host test not registered")
  endif()
endif()
