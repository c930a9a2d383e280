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
  -- the module is not linked with libcurl: it loads libcurl.so.4 when the
  -- first request starts (src/curlapi.h); the headers are needed to build
  CURL = { library = "curl" },
  -- the image tools' codecs (Debian: libspng-dev libgif-dev libjpeg-dev libwebp-dev)
  SPNG = { header = "spng.h" },
  GIF = { header = "gif_lib.h" },
}
build = {
  type = "builtin",
  modules = {
    gptimage = {
      sources = {
        "src/gptimage.c", "src/client.c", "src/wait.c", "src/drive.c", "src/clock.c",
        "src/job.c", "src/transfer.c",
        "src/result.c", "src/retry.c", "src/download.c", "src/raw.c",
        "src/batch.c", "src/deliver.c", "src/buffer.c", "src/request.c", "src/rules.c",
        "src/models.c", "src/options.c", "src/input.c", "src/scanner.c", "src/sse.c",
        "src/b64sink.c", "src/errors.c", "src/json.c", "src/cost.c",
        "src/savepath.c", "src/curlapi.c", "src/hint.c", "src/trust.c", "src/castore.c", "src/reaper.c",
        "src/image.c", "src/imgops.c", "src/imgtools.c", "src/png_codec.c",
        "src/gif_codec.c", "src/jpeg_codec.c", "src/webp_codec.c",
        "src/os.c", "src/helpers.c",
      },
      libraries = { "pthread", "dl", "spng", "gif", "jpeg", "webp", "webpdemux", "m" },
      -- Debian and Ubuntu keep curl/curl.h in a multiarch folder
      incdirs = { "$(CURL_INCDIR)", "$(CURL_INCDIR)/x86_64-linux-gnu", "$(CURL_INCDIR)/aarch64-linux-gnu" },
    },
    ["gptimage.cli"] = "lua/gptimage/cli.lua",
    ["gptimage.cli.common"] = "lua/gptimage/cli/common.lua",
    ["gptimage.cli.args"] = "lua/gptimage/cli/args.lua",
    ["gptimage.cli.progress"] = "lua/gptimage/cli/progress.lua",
    ["gptimage.cli.errors"] = "lua/gptimage/cli/errors.lua",
    ["gptimage.cli.planner"] = "lua/gptimage/cli/planner.lua",
    ["gptimage.cli.single"] = "lua/gptimage/cli/single.lua",
    ["gptimage.cli.run"] = "lua/gptimage/cli/run.lua",
    ["gptimage.cli.tools"] = "lua/gptimage/cli/tools.lua",
    ["gptimage.cli.estimate"] = "lua/gptimage/cli/estimate.lua",
    ["gptimage.cli.batch"] = "lua/gptimage/cli/batch.lua",
    ["gptimage.cli.commands"] = "lua/gptimage/cli/commands.lua",
    ["gptimage.cli.shell"] = "lua/gptimage/cli/shell.lua",
    ["gptimage.runner"] = "lua/gptimage/runner.lua",
    ["gptimage.manifest"] = "lua/gptimage/manifest.lua",
    ["gptimage.cache"] = "lua/gptimage/cache.lua",
    ["gptimage.json"] = "lua/gptimage/json.lua",
    ["gptimage.fs"] = "lua/gptimage/fs.lua",
    ["gptimage.batchapi"] = "lua/gptimage/batchapi.lua",
    ["gptimage.nvim"] = "lua/gptimage/nvim.lua",
    ["gptimage.nvim.config"] = "lua/gptimage/nvim/config.lua",
    ["gptimage.nvim.message"] = "lua/gptimage/nvim/message.lua",
    ["gptimage.nvim.progress"] = "lua/gptimage/nvim/progress.lua",
    ["gptimage.nvim.gallery"] = "lua/gptimage/nvim/gallery.lua",
    ["gptimage.nvim.command"] = "lua/gptimage/nvim/command.lua",
    ["gptimage.nvim.results"] = "lua/gptimage/nvim/results.lua",
    ["gptimage.health"] = "lua/gptimage/health.lua",
    ["gptimage.completion"] = "lua/gptimage/completion.lua",
    ["gptimage.love"] = "lua/gptimage/love.lua",
  },
  install = {
    bin = { gptimage = "bin/gptimage" },
  },
}
