rockspec_format = "3.0"
package = "gptimage"
version = "scm-1"
source = {
  url = "git+https://example.invalid/gptimage.git",
}
description = {
  summary = "The OpenAI Images API as a one-line call from Lua, in C",
  detailed = [[
    generate, edit (several images and a mask) and variation with the
    gpt-image-1 family and dall-e-2/3; images streamed to disk as they
    arrive, jobs that never block a game loop or an editor, batches, the
    Batch API and a command-line asset pipeline.
  ]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.1",
  "lua-cjson",
}
external_dependencies = {
  -- only the headers at build time: the module loads libcurl.so.4 when the
  -- first request starts (src/curlapi.h)
  CURL = { header = "curl/curl.h" },
}
build = {
  type = "builtin",
  modules = {
    gptimage = {
      sources = {
        "src/gptimage.c", "src/client.c", "src/job.c", "src/request.c",
        "src/models.c", "src/input.c", "src/scanner.c", "src/sse.c",
        "src/b64sink.c", "src/errors.c", "src/json.c", "src/cost.c",
        "src/savepath.c", "src/curlapi.c", "src/hint.c",
      },
      libraries = { "pthread", "dl" },
      incdirs = { "$(CURL_INCDIR)" },
    },
    ["gptimage.cli"] = "lua/gptimage/cli.lua",
    ["gptimage.manifest"] = "lua/gptimage/manifest.lua",
    ["gptimage.cache"] = "lua/gptimage/cache.lua",
    ["gptimage.batchapi"] = "lua/gptimage/batchapi.lua",
    ["gptimage.nvim"] = "lua/gptimage/nvim.lua",
    ["gptimage.love"] = "lua/gptimage/love.lua",
  },
  install = {
    bin = { gptimage = "bin/gptimage" },
  },
}
