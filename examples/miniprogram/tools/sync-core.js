'use strict';
// Writes the two copies of the client core from core/edge-core.body.js:
//   native/utils/edge-core.js   CommonJS (module.exports), for a native Mini Program
//   uniapp/utils/edge-core.js   ES module (export), for uni-app (Vue 3 projects use ES modules)
// The body is byte-for-byte the same in both; only the last line differs.
// Each project therefore stays copyable on its own.
//
//   node examples/miniprogram/tools/sync-core.js          write both copies
//   node examples/miniprogram/tools/sync-core.js --check  exit 1 if a copy is stale
// test/copies.test.js runs the same check.
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const BODY = path.join(ROOT, 'core', 'edge-core.body.js');
const EXPORTS = ['createEdgeClient', 'platformAdapter', 'isEdgeError', 'messageFor', 'headerValue', 'webviewUrl', 'MESSAGES'];

const banner = (flavour) =>
  '// GENERATED from examples/miniprogram/core/edge-core.body.js (' + flavour + ' copy).\n' +
  '// Do not edit here: edit the body, then run `node examples/miniprogram/tools/sync-core.js`.\n' +
  '// If you copied this project on its own, this file is yours to edit.\n';

function render() {
  const body = fs.readFileSync(BODY, 'utf8');
  return {
    [path.join(ROOT, 'native', 'utils', 'edge-core.js')]:
      banner('CommonJS') + "'use strict';\n\n" + body +
      '\nmodule.exports = { ' + EXPORTS.join(', ') + ' };\n',
    [path.join(ROOT, 'uniapp', 'utils', 'edge-core.js')]:
      banner('ES module') + '\n' + body +
      '\nexport { ' + EXPORTS.join(', ') + ' };\n',
  };
}

function stale() {
  const out = [];
  for (const [file, text] of Object.entries(render())) {
    let have = null;
    try { have = fs.readFileSync(file, 'utf8'); } catch { /* missing */ }
    if (have !== text) out.push(path.relative(process.cwd(), file));
  }
  return out;
}

module.exports = { render, stale, EXPORTS, BODY };

if (require.main === module) {
  if (process.argv.includes('--check')) {
    const s = stale();
    if (s.length) {
      console.error('stale copies of the client core: ' + s.join(', ') +
        '\nrun: node examples/miniprogram/tools/sync-core.js');
      process.exit(1);
    }
    console.log('client core copies are up to date');
  } else {
    for (const [file, text] of Object.entries(render())) fs.writeFileSync(file, text);
    console.log('wrote', Object.keys(render()).map((f) => path.relative(process.cwd(), f)).join(', '));
  }
}
