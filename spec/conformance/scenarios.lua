-- The scenarios of the conformance test (conformance_test.lua), one list for
-- the official SDK and for gptimage. `params` go to both clients unchanged;
-- `files` are paths given to the SDK as uploads and to gptimage as `image` /
-- `mask` / `markup`; `save` is gptimage's own option, so the saving path is
-- checked too; `needs` (see conformance_test.lua) names what gptimage must know.
--
--   local scenarios = dofile("spec/conformance/scenarios.lua")(images)
--   images = { first =, second =, third =, mask =, markup = } (PNG paths)

return function(images)
  return {
    { name = "generate-gpt-every-option", op = "generate",
      params = { model = "gpt-image-1", prompt = "a pixel-art sword", n = 2, size = "1024x1536",
                 quality = "high", background = "transparent", output_format = "png",
                 moderation = "low", user = "user-1234" } },
    { name = "generate-gpt-webp-compression", op = "generate",
      params = { model = "gpt-image-1", prompt = "a shield", size = "1536x1024", quality = "low",
                 background = "opaque", output_format = "webp", output_compression = 80 } },
    { name = "generate-gpt-saved", op = "generate", save = "generated.png",
      params = { model = "gpt-image-1", prompt = "a potion", n = 3, size = "auto", quality = "medium" } },
    { name = "generate-gpt-mini", op = "generate",
      params = { model = "gpt-image-1-mini", prompt = "a gem", quality = "low", size = "1024x1024" } },
    { name = "generate-gpt-stream", op = "generate",
      params = { model = "gpt-image-1", prompt = "a castle", stream = true, partial_images = 2,
                 size = "1024x1024", quality = "low" } },
    { name = "generate-dall-e-3-url", op = "generate",
      params = { model = "dall-e-3", prompt = "a dragon", size = "1792x1024", quality = "hd",
                 style = "vivid", response_format = "url", user = "user-1234" } },
    { name = "generate-dall-e-3-b64", op = "generate",
      params = { model = "dall-e-3", prompt = "a knight", size = "1024x1792", quality = "standard",
                 style = "natural", response_format = "b64_json" } },
    { name = "generate-dall-e-2", op = "generate",
      params = { model = "dall-e-2", prompt = "a tree", n = 2, size = "256x256",
                 response_format = "b64_json" } },
    { name = "edit-one-image", op = "edit", files = { image = images.first },
      params = { model = "gpt-image-1", prompt = "add a hat", n = 2, size = "1024x1024", quality = "low",
                 background = "opaque", output_format = "png", user = "user-1234" } },
    { name = "edit-image-list", op = "edit", files = { image = { images.first, images.second, images.third } },
      params = { model = "gpt-image-1", prompt = "combine these", size = "1536x1024", quality = "medium" } },
    { name = "edit-image-list-of-one", op = "edit", files = { image = { images.second } },
      params = { model = "gpt-image-1", prompt = "recolour" } },
    { name = "edit-mask-input-fidelity", op = "edit", files = { image = images.first, mask = images.mask },
      params = { model = "gpt-image-1", prompt = "fill the left half", input_fidelity = "high",
                 output_format = "webp", output_compression = 50 } },
    { name = "edit-saved", op = "edit", save = "edited-{i}.{ext}", files = { image = { images.first, images.third } },
      params = { model = "gpt-image-1", prompt = "make it night", n = 2, quality = "low" } },
    { name = "edit-stream", op = "edit", files = { image = images.first },
      params = { model = "gpt-image-1", prompt = "add snow", stream = true, partial_images = 1 } },
    { name = "edit-dall-e-2-mask", op = "edit", files = { image = images.first, mask = images.mask },
      params = { model = "dall-e-2", prompt = "a lake", n = 2, size = "512x512", response_format = "b64_json" } },
    { name = "variation-dall-e-2", op = "variation", files = { image = images.first },
      params = { model = "dall-e-2", n = 3, size = "256x256", response_format = "b64_json", user = "user-1234" } },
    { name = "variation-dall-e-2-url", op = "variation", files = { image = images.second },
      params = { model = "dall-e-2", size = "512x512", response_format = "url" } },
    -- Today's API (openai-node 7.60.0). `needs` names the options gptimage must
    -- know (its API table, gptimage.options); a scenario whose needs are not
    -- met fails, after proving the SDK's request and the fake's answer.
    { name = "generate-gif-frames", op = "generate", needs = { "frame_count", "frame_duration_ms" },
      params = { model = "gpt-image-2.6-flare", prompt = "a walking knight", output_format = "gif",
                 frame_count = 4, frame_duration_ms = 150, size = "256x256", quality = "low" } },
    { name = "generate-svg-nested", op = "generate", needs = { "svg" },
      params = { model = "gpt-image-2.6-sunburst", prompt = "a shield logo", output_format = "svg",
                 svg = { model = "svg-author-1", reasoning = { effort = "high" } } } },
    { name = "edit-svg-multipart", op = "edit", needs = { "svg" }, files = { image = images.first },
      params = { model = "gpt-image-2.6-flare", prompt = "trace this", output_format = "svg",
                 svg = { model = "svg-author-1", reasoning = { effort = "low" } } } },
    { name = "edit-markup-images", op = "edit", needs = { "markup" },
      files = { image = { images.first, images.second, images.third }, markup = images.markup },
      params = { model = "gpt-image-2.6-sunburst", prompt = "follow the drawn arrows", quality = "low" } },
    { name = "generate-xhigh", op = "generate", needs = { "quality=xhigh", "complexity" },
      params = { model = "gpt-image-2.5-sunburst", prompt = "a detailed map", quality = "xhigh",
                 size = "1536x864", complexity = "high" } },
    { name = "generate-max", op = "generate", needs = { "quality=max", "complexity" },
      params = { model = "gpt-image-2.6-sunburst", prompt = "a detailed city", quality = "max",
                 complexity = "low" } },
    { name = "generate-safety-identifier", op = "generate", needs = { "safety_identifier" },
      params = { model = "gpt-image-2.6-flare", prompt = "a lamp", quality = "low",
                 safety_identifier = "user-hash-42" } },
    -- `accepts`: gptimage's side runs once its checks accept the options
    -- (the SDK says transparent backgrounds on gpt-image-2 are in preview).
    { name = "generate-transparent-gpt-image-2", op = "generate", needs = { "accepts" },
      params = { model = "gpt-image-2", prompt = "a sticker", background = "transparent",
                 output_format = "png", quality = "low", size = "1024x1024" } },
    { name = "edit-stream-2x", op = "edit", files = { image = images.first },
      params = { model = "gpt-image-2.6-flare", prompt = "add rain", stream = true, partial_images = 2,
                 quality = "low" } },
    { name = "generate-any-size", op = "generate",
      params = { model = "gpt-image-2.6-flare", prompt = "a wide banner", size = "1280x720",
                 quality = "low", n = 2 } },
  }
end
