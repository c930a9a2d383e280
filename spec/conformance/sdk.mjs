// The reference side of the conformance test: runs each scenario through the
// official openai-node SDK against the fake server and reports what the SDK
// made of each answer, so that the Lua side can compare both the requests the
// server recorded and the parsed results.
//
//   node sdk.mjs SCENARIOS.json > RESULTS.json
//
// SCENARIOS.json: { "base_url": "...", "scenarios": [ { "name", "op"
// ("generate" | "edit" | "variation"), "params": {...}, "files": { "image":
// path | [paths], "mask": path, "markup": path } } ] }. Each call carries the
// header `x-conformance-scenario: <name>` so its record can be found.
// Prints { "sdk_version", "results": [ { "name", "ok", "error", "data":
// [...], "usage", "svg_usage", "meta", "events": [...] } ] }; each image is
// described by size, sha256, format and, for a GIF, its frames and delays.

import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import OpenAI, { toFile } from 'openai';
import { VERSION } from 'openai/version';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

// The API rejects application/octet-stream uploads, which is what a bare
// ReadStream becomes: give the type, as the SDK's own documentation does.
function sniffType(file) {
  const fd = fs.openSync(file, 'r');
  const head = Buffer.alloc(12);
  fs.readSync(fd, head, 0, 12, 0);
  fs.closeSync(fd);
  if (head.subarray(0, 8).equals(PNG_SIGNATURE)) return 'image/png';
  if (head[0] === 0xff && head[1] === 0xd8) return 'image/jpeg';
  if (head.toString('latin1', 0, 4) === 'RIFF' && head.toString('latin1', 8, 12) === 'WEBP') return 'image/webp';
  throw new Error(`${file}: not a PNG, JPEG or WebP image`);
}

function upload(file) {
  return toFile(fs.createReadStream(file), path.basename(file), { type: sniffType(file) });
}

// The frames of a GIF and the delay of each (hundredths of a second), read
// from its block structure; null when the blocks do not parse.
function gifFrames(bytes) {
  if (bytes.toString('latin1', 0, 6) !== 'GIF89a' && bytes.toString('latin1', 0, 6) !== 'GIF87a') return null;
  let at = 13;
  if (bytes[10] & 0x80) at += 3 * (1 << ((bytes[10] & 7) + 1));
  const delays = [];
  let delay = 0;
  const skipSubBlocks = () => {
    while (at < bytes.length && bytes[at] !== 0) at += bytes[at] + 1;
    at += 1;
  };
  while (at < bytes.length) {
    const kind = bytes[at];
    if (kind === 0x3b) return { frames: delays.length, delays };
    if (kind === 0x21) {
      if (bytes[at + 1] === 0xf9) delay = bytes.readUInt16LE(at + 4);
      at += 2;
      skipSubBlocks();
    } else if (kind === 0x2c) {
      const flags = bytes[at + 9];
      at += 10;
      if (flags & 0x80) at += 3 * (1 << ((flags & 7) + 1));
      at += 1; // LZW minimum code size
      skipSubBlocks();
      delays.push(delay);
      delay = 0;
    } else {
      return null;
    }
  }
  return null;
}

function formatOf(bytes) {
  if (bytes.subarray(0, 8).equals(PNG_SIGNATURE)) return 'png';
  if (bytes.toString('latin1', 0, 4) === 'GIF8') return 'gif';
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return 'jpeg';
  if (bytes.toString('latin1', 0, 4) === 'RIFF') return 'webp';
  if (/^(<\?xml[^>]*>\s*)?<svg[\s>]/.test(bytes.toString('utf8', 0, 200)) &&
      bytes.toString('utf8').trimEnd().endsWith('</svg>')) return 'svg';
  return null;
}

function describeImage(b64) {
  if (typeof b64 !== 'string') return null;
  const bytes = Buffer.from(b64, 'base64');
  const format = formatOf(bytes);
  return {
    size: bytes.length,
    sha256: crypto.createHash('sha256').update(bytes).digest('hex'),
    png: format === 'png',
    format,
    gif: format === 'gif' ? gifFrames(bytes) : null,
  };
}

function describeData(entry) {
  return {
    image: describeImage(entry.b64_json),
    url: entry.url ?? null,
    revised_prompt: entry.revised_prompt ?? null,
  };
}

const META_FIELDS = ['created', 'background', 'output_format', 'quality', 'size', 'safety_identifier'];

function meta(response) {
  const out = {};
  for (const field of META_FIELDS) out[field] = response[field] ?? null;
  return out;
}

async function run(client, scenario) {
  const body = { ...scenario.params };
  const files = scenario.files || {};
  if (files.image !== undefined) {
    body.image = Array.isArray(files.image)
      ? await Promise.all(files.image.map(upload))
      : await upload(files.image);
  }
  if (files.mask !== undefined) body.mask = await upload(files.mask);
  if (files.markup !== undefined) body.markup = await upload(files.markup);
  const options = { headers: { 'x-conformance-scenario': scenario.name } };
  const call = {
    generate: (b, o) => client.images.generate(b, o),
    edit: (b, o) => client.images.edit(b, o),
    variation: (b, o) => client.images.createVariation(b, o),
  }[scenario.op];
  if (!call) throw new Error(`unknown op ${scenario.op}`);

  const result = {
    name: scenario.name, ok: true, error: null, data: [], usage: null, svg_usage: null, meta: null, events: [],
  };
  const response = await call(body, options);
  if (body.stream) {
    // The SDK hands back an async iterator of parsed SSE events.
    for await (const event of response) {
      result.events.push({
        type: event.type,
        partial_image_index: event.partial_image_index ?? null,
        image: describeImage(event.b64_json),
        usage: event.usage ?? null,
        meta: meta(event),
      });
    }
    return result;
  }
  result.data = (response.data || []).map(describeData);
  result.usage = response.usage ?? null;
  result.svg_usage = response.svg_usage ?? null;
  result.meta = meta(response);
  return result;
}

async function main() {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node sdk.mjs SCENARIOS.json\n');
    process.exit(2);
  }
  const input = JSON.parse(fs.readFileSync(file, 'utf8'));
  const client = new OpenAI({ apiKey: 'sk-test', baseURL: input.base_url, maxRetries: 0, timeout: 60_000 });
  const results = [];
  for (const scenario of input.scenarios) {
    try {
      results.push(await run(client, scenario));
    } catch (error) {
      results.push({ name: scenario.name, ok: false, error: String(error && error.stack || error) });
    }
  }
  process.stdout.write(JSON.stringify({ sdk_version: VERSION, results }) + '\n');
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack || error) + '\n');
  process.exit(1);
});
