#!/usr/bin/env bash
# The cheapest real call of each kind against the real API, with what each
# cost and took: a low-quality generate on the default model, an edit with a
# mask, a variation and a two-frame GIF. For maintainers before a release
# (it spends a few cents); never CI. Needs OPENAI_API_KEY (OPENAI_BASE_URL is
# honoured, so a compatible server or the fake in spec/server works too).
#   scripts/smoke.sh [--module-dir DIR]   (default: build/lua5.4)
set -euo pipefail
cd "$(dirname "$0")/.."
module_dir=build/lua5.4
if [ "${1:-}" = "--module-dir" ] && [ -n "${2:-}" ]; then module_dir=$2; fi
if [ -z "${OPENAI_API_KEY:-}" ]; then
  echo "smoke: set OPENAI_API_KEY (this makes real, paid calls)" >&2
  exit 2
fi
if [ ! -f "$module_dir/gptimage.so" ]; then
  echo "smoke: no $module_dir/gptimage.so: build first (see README)" >&2
  exit 2
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/gptimage-smoke-XXXXXX")
trap 'rm -rf "$work"' EXIT

# The edit's mask: 1024x1024 RGBA, opaque but for a transparent square (the
# area to edit).
python3 - "$work/mask.png" <<'PY'
import struct, sys, zlib
size = 1024
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
rows = []
for y in range(size):
    inside = 384 <= y < 640
    rows.append(b"\0" + b"".join(b"\0\0\0" + (b"\0" if inside and 384 <= x < 640 else b"\xff")
                                 for x in range(size)))
png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0))
       + chunk(b"IDAT", zlib.compress(b"".join(rows), 9)) + chunk(b"IEND", b""))
open(sys.argv[1], "wb").write(png)
PY

LUA_CPATH="$module_dir/?.so;${LUA_CPATH:-;;}" LUA_PATH="lua/?.lua;lua/?/init.lua;${LUA_PATH:-;;}" \
  lua5.4 - "$work" <<'LUA'
local gptimage = require "gptimage"
local work = arg[1]
local client = gptimage.new{}
-- Wall time in seconds: /proc/uptime (hundredths) where there is one.
local function clock()
  local handle = io.open("/proc/uptime")
  local now = handle and handle:read("n")
  if handle then handle:close() end
  return now or os.time()
end

local total, failures = 0, 0
local function call(label, method, opts)
  local started = clock()
  local ok, res, err = pcall(client[method], client, opts)
  local took = clock() - started
  if not ok then res, err = nil, res end
  if not res then
    failures = failures + 1
    print(string.format("%-28s FAILED after %.1f s: %s", label, took, tostring(err)))
    return nil
  end
  local cost = res.cost
  total = total + (cost or 0)
  print(string.format("%-28s %-22s %8s  %5.1f s  %s", label, tostring(res.model),
    cost and string.format("$%.4f", cost) or "cost ?", took, res.request_id or ""))
  return res
end

print(string.format("gptimage %s, default model %s", gptimage.version, tostring(gptimage.default_model)))
local generated = call("generate (low quality)", "generate",
  { prompt = "a small red apple on a white table", quality = "low", size = "1024x1024",
    save = work .. "/apple.png" })
if generated then
  local image = generated.images[1].path
  call("edit with a mask", "edit", { image = image, mask = work .. "/mask.png",
                                    prompt = "a green apple instead", quality = "low",
                                    size = "1024x1024", save = work .. "/edit.png" })
  call("variation", "variation", { image = image, size = "1024x1024", save = work .. "/variation.png" })
end
call("gif, two frames", "generate",
  { prompt = "a bouncing ball", output_format = "gif", frame_count = 2, quality = "low",
    size = "1024x1024", save = work .. "/ball.gif" })
print(string.format("total %s, %d failed", string.format("$%.4f", total), failures))
os.exit(failures == 0 and 0 or 1)
LUA
