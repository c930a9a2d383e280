// The same benchmark job as bench/gptimage_job.lua, done the usual way with
// the official openai-node SDK: generate, decode each b64_json into a Buffer,
// write it with fs.writeFileSync (or keep it, in bytes mode).
//
//   node bench/node_job.mjs BASE_URL OUT_DIR CALLS N MODE [CONCURRENT]
//
// The SDK is the one pinned for the conformance test; OPENAI_SDK_DIR names
// the folder whose node_modules holds it (default spec/conformance).

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const [baseURL, outDir, callsText, nText, mode, concurrentText = '1'] = process.argv.slice(2);
const calls = Number(callsText);
const n = Number(nText);
const concurrent = Number(concurrentText);

const here = path.dirname(fileURLToPath(import.meta.url));
const sdkDir = process.env.OPENAI_SDK_DIR || path.join(here, '..', 'spec', 'conformance');
const requireFromSdk = createRequire(path.join(sdkDir, 'package.json'));
const { default: OpenAI } = await import(pathToFileURL(requireFromSdk.resolve('openai')).href);

const client = new OpenAI({ apiKey: 'sk-bench', baseURL, maxRetries: 0, timeout: 120_000 });
if (mode === 'startup') process.exit(0);

async function call(index) {
  const response = await client.images.generate({
    prompt: 'benchmark image', model: 'gpt-image-2.6-flare', size: '1024x1024', quality: 'low', n,
  });
  if (!response.data || response.data.length !== n) throw new Error(`call ${index}: wrong number of images`);
  const images = response.data.map((entry) => Buffer.from(entry.b64_json, 'base64'));
  if (mode === 'save') {
    images.forEach((bytes, i) => {
      const suffix = n > 1 ? `-${i + 1}` : '';
      fs.writeFileSync(path.join(outDir, `node-${String(index).padStart(3, '0')}${suffix}.png`), bytes);
    });
    return [];
  }
  return images;
}

const kept = [];
if (concurrent > 1) {
  const all = await Promise.all(Array.from({ length: concurrent }, (_, i) => call(i + 1)));
  for (const images of all) kept.push(...images);
} else {
  for (let index = 1; index <= calls; index++) kept.push(...(await call(index)));
}
process.stdout.write(`${kept.reduce((sum, bytes) => sum + bytes.length, 0)}\n`);
