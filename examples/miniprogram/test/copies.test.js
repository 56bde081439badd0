'use strict';
// The client core exists twice, so that each project is copyable on its own:
// native/utils/edge-core.js (CommonJS) and uniapp/utils/edge-core.js (ES module),
// both generated from core/edge-core.body.js by tools/sync-core.js.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const sync = require('../tools/sync-core.js');

const ROOT = path.join(__dirname, '..');
const read = (...p) => fs.readFileSync(path.join(ROOT, ...p), 'utf8');

test('both copies of the core are what tools/sync-core.js generates from the body', () => {
  const stale = sync.stale();
  assert.deepEqual(stale, [], 'stale copies: ' + stale.join(', ') +
    '\n  edit core/edge-core.body.js, then run: node examples/miniprogram/tools/sync-core.js');
});

test('the two copies share the body byte for byte and differ only in the export line', () => {
  const body = fs.readFileSync(sync.BODY, 'utf8');
  const native = read('native', 'utils', 'edge-core.js');
  const uni = read('uniapp', 'utils', 'edge-core.js');
  assert.ok(native.includes(body), 'native copy contains the body verbatim');
  assert.ok(uni.includes(body), 'uni-app copy contains the body verbatim');
  const tail = (s) => s.slice(s.indexOf(body) + body.length);
  assert.equal(tail(native), '\nmodule.exports = { ' + sync.EXPORTS.join(', ') + ' };\n');
  assert.equal(tail(uni), '\nexport { ' + sync.EXPORTS.join(', ') + ' };\n');
});

test('both request.js wrappers export the same API', async () => {
  const native = require('../native/utils/request.js');
  const uni = await import(require('node:url').pathToFileURL(path.join(ROOT, 'uniapp', 'utils', 'request.js')).href);
  assert.deepEqual(Object.keys(native).sort(), Object.keys(uni).sort());
  assert.deepEqual(native.MESSAGES, uni.MESSAGES);
  assert.equal(native.EDGE, uni.EDGE);
});
