// Reads the image API out of openai-node's src/resources/images.ts and
// compares two such readings (and the module's API table) for
// scripts/api-drift.sh.
//
//   node scripts/api-types.mjs read images.ts          -> JSON summary
//   node scripts/api-types.mjs compare OLD.json NEW.json  -> what is new or gone
//   node scripts/api-types.mjs module SDK.json MODULE.json -> SDK vs API table
//
// Summary: { models: [...], types: { "Name.Sub": { field: { optional,
// values: [quoted literals] } } }, events: [event type literals] }. The
// reading is textual (comments stripped, members split at depth one), which
// is what a generated, regular file like images.ts allows.

import fs from 'node:fs';

function stripComments(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
}

// The body of the block opening at `open` (index of '{'), and its end.
function block(text, open) {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) return [text.slice(open + 1, i), i];
  }
  throw new Error('unbalanced braces');
}

// Members of an interface body: split at ';' outside nested braces/parens.
function members(body) {
  const out = {};
  let depth = 0;
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === '{' || c === '(' || c === '<') depth++;
    else if (c === '}' || c === ')' || c === '>') depth--;
    else if (c === ';' && depth === 0) {
      const member = body.slice(start, i).trim();
      start = i + 1;
      const match = member.match(/^(\w+)(\?)?\s*:\s*([\s\S]*)$/);
      if (!match) continue;
      const values = [...match[3].matchAll(/'([^']*)'/g)].map((m) => m[1]);
      out[match[1]] = { optional: Boolean(match[2]), values: [...new Set(values)].sort() };
    }
  }
  return out;
}

// Interfaces, namespaces and string-union types, with their qualified names.
function walk(text, prefix, summary) {
  const pattern = /export\s+(interface|namespace)\s+(\w+)(?:\s+extends\s+[\w.,\s]+)?\s*\{|export\s+type\s+(\w+)\s*=\s*([^;]*);/g;
  let match;
  while ((match = pattern.exec(text))) {
    if (match[3]) {
      const values = [...match[4].matchAll(/'([^']*)'/g)].map((m) => m[1]);
      if (values.length) summary.unions[prefix + match[3]] = [...new Set(values)].sort();
      continue;
    }
    const name = prefix + match[2];
    const [body, end] = block(text, match.index + match[0].length - 1);
    if (match[1] === 'interface') summary.types[name] = members(body);
    else walk(body, name + '.', summary);
    pattern.lastIndex = end + 1;
  }
}

function read(file) {
  const text = stripComments(fs.readFileSync(file, 'utf8'));
  const summary = { models: [], types: {}, unions: {}, events: [] };
  walk(text, '', summary);
  summary.models = summary.unions.ImageModel || [];
  for (const [name, fields] of Object.entries(summary.types)) {
    if (/Event$/.test(name) && fields.type) summary.events.push(...fields.type.values);
  }
  summary.events.sort();
  return summary;
}

// One line per fact, so that two readings compare as sets.
function facts(summary) {
  const out = new Set();
  for (const model of summary.models) out.add(`model ${model}`);
  for (const event of summary.events) out.add(`stream event ${event}`);
  for (const [type, fields] of Object.entries(summary.types)) {
    for (const [field, info] of Object.entries(fields)) {
      out.add(`field ${type}.${field}${info.optional ? '' : ' (required)'}`);
      for (const value of info.values) out.add(`value ${type}.${field} = '${value}'`);
    }
  }
  return out;
}

function difference(a, b) {
  return [...a].filter((item) => !b.has(item)).sort();
}

function section(title, lines) {
  console.log(lines.length ? `${title}:` : `${title}: none`);
  for (const line of lines) console.log(`  ${line}`);
}

const REQUEST_TYPES = ['ImageGenerateParamsBase', 'ImageEditParamsBase', 'ImageCreateVariationParams'];

// The module's table as scripts/api-drift.sh reads it: { present, models:
// [names], options: { name: [values] } } (an empty list may come as {}).
function compareModule(summary, module) {
  if (!module.present) {
    console.log('the module has no API table (gptimage.models, gptimage.options) to compare');
    return;
  }
  const list = (value) => (Array.isArray(value) ? value : []);
  const sdkModels = new Set(summary.models);
  const ours = new Set(list(module.models));
  section('models the SDK lists and the module table does not', difference(sdkModels, ours));
  section('models the module table lists and the SDK does not', difference(ours, sdkModels));
  const sdkFields = new Map();
  for (const type of REQUEST_TYPES) {
    for (const [field, info] of Object.entries(summary.types[type] || {})) {
      const values = sdkFields.get(field) || new Set();
      info.values.forEach((value) => values.add(value));
      sdkFields.set(field, values);
    }
  }
  const options = module.options || {};
  // Uploads and the stream switch are the call's own arguments, and models are
  // compared above: none of them need be table options.
  const own = new Set(['image', 'mask', 'markup', 'stream', 'model']);
  section('request fields the SDK has and the module table does not',
    [...sdkFields.keys()].filter((field) => !(field in options) && !own.has(field)).sort());
  section('module options the SDK does not have',
    Object.keys(options).filter((name) => !sdkFields.has(name)).sort());
  const values = [];
  for (const [field, sdkValues] of sdkFields) {
    const ourValues = list(options[field]);
    if (ourValues.length === 0 || field === 'model') continue;
    for (const value of sdkValues) if (!ourValues.includes(value)) values.push(`${field} = '${value}' (SDK only)`);
    for (const value of ourValues) if (!sdkValues.has(value)) values.push(`${field} = '${value}' (module only)`);
  }
  section('enum values that differ', values.sort());
}

const [command, ...args] = process.argv.slice(2);
if (command === 'read' && args.length === 1) {
  process.stdout.write(JSON.stringify(read(args[0]), null, 1) + '\n');
} else if (command === 'compare' && args.length === 2) {
  const a = facts(JSON.parse(fs.readFileSync(args[0], 'utf8')));
  const b = facts(JSON.parse(fs.readFileSync(args[1], 'utf8')));
  section('new in the newest SDK', difference(b, a));
  section('gone from the newest SDK', difference(a, b));
} else if (command === 'module' && args.length === 2) {
  compareModule(JSON.parse(fs.readFileSync(args[0], 'utf8')), JSON.parse(fs.readFileSync(args[1], 'utf8')));
} else {
  process.stderr.write('usage: api-types.mjs read IMAGES.ts | compare OLD.json NEW.json | module SDK.json MODULE.json\n');
  process.exit(2);
}
