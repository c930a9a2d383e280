# The C files and libraries each fuzz harness links, for fuzz/CMakeLists.txt
# (libFuzzer builds) and fuzz/tests.cmake (the replay builds).  A harness
# not named here links src/<harness>.c alone.

# libb64: the reference the b64sink harness checks the module's own decoder
# against (see src/b64sink.c for why the module decodes by itself). Only the
# harnesses need it, so only their builds look for it.
find_path(B64_INCLUDE_DIR b64/cdecode.h REQUIRED)
find_library(B64_LIBRARY NAMES b64 REQUIRED)
set(GPTIMAGE_FUZZ_IMAGE_SOURCES src/image.c src/imgops.c src/png_codec.c src/gif_codec.c src/jpeg_codec.c src/webp_codec.c)
set(GPTIMAGE_FUZZ_SOURCES_image ${GPTIMAGE_FUZZ_IMAGE_SOURCES})
set(GPTIMAGE_FUZZ_SOURCES_gif ${GPTIMAGE_FUZZ_IMAGE_SOURCES})
set(GPTIMAGE_FUZZ_LIBS_image ${GPTIMAGE_IMAGE_LIBRARIES})
set(GPTIMAGE_FUZZ_LIBS_gif ${GPTIMAGE_IMAGE_LIBRARIES})
set(GPTIMAGE_FUZZ_SOURCES_b64sink src/b64sink.c src/reaper.c)
set(GPTIMAGE_FUZZ_LIBS_b64sink ${B64_LIBRARY})
# a job's transfer callbacks with the parsers and sinks under them; linked to
# libcurl (no lazy loading) for the curl calls transfer.c, trust.c and castore.c make
set(GPTIMAGE_FUZZ_SOURCES_transfer src/transfer.c src/scanner.c src/sse.c src/b64sink.c src/reaper.c src/savepath.c
  src/clock.c src/trust.c src/castore.c)
set(GPTIMAGE_FUZZ_LIBS_transfer ${CURL_LINK_LIBRARIES})
set(GPTIMAGE_FUZZ_DEFS_transfer GPTIMAGE_LAZY_LIBCURL=0)
# the trust judge; libcurl only for the default pair's probe and OpenSSL's
# warm-up (castore.c), never called here
set(GPTIMAGE_FUZZ_SOURCES_trust src/trust.c src/castore.c)
set(GPTIMAGE_FUZZ_LIBS_trust ${CURL_LINK_LIBRARIES})
set(GPTIMAGE_FUZZ_DEFS_trust GPTIMAGE_LAZY_LIBCURL=0)
set(GPTIMAGE_FUZZ_INCLUDES ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/fuzz ${B64_INCLUDE_DIR} ${GPTIMAGE_IMAGE_INCLUDE_DIRS}
  ${LUA_INCLUDE_DIRS} ${CURL_INCLUDE_DIRS})

# the absolute paths of harness's C files into var
function(gptimage_fuzz_sources var harness)
  if(DEFINED GPTIMAGE_FUZZ_SOURCES_${harness})
    set(files "")
    foreach(f ${GPTIMAGE_FUZZ_SOURCES_${harness}})
      list(APPEND files ${CMAKE_SOURCE_DIR}/${f})
    endforeach()
  else()
    set(files ${CMAKE_SOURCE_DIR}/src/${harness}.c)
  endif()
  set(${var} ${files} PARENT_SCOPE)
endfunction()
