'use strict';
// The wrappers must run in the Mini Program runtime, which has no Node APIs.
// 1. native/utils/request.js + edge-core.js are run in a bare vm context whose
//    only globals are wx, console and timers, and whose `require` resolves
//    nothing but ./edge-core.js; a login and a request go through it.
// 2. Every JS file of both projects is scanned for Node-only names and for
//    syntax newer than the ES2017 the Mini Program compiler is set up for.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const { startFakeEdge } = require('../testlib/fake-edge.js');
const { makePlatform } = require('../testlib/fake-platform.js');

const ROOT = path.join(__dirname, '..');
let edge;
before(async () => { edge = await startFakeEdge(); });
after(async () => { await edge.close(); });

function loadInBareContext(globals) {
  const ctx = vm.createContext(Object.assign({ console, setTimeout, clearTimeout }, globals));
  const cache = {};
  function load(rel) {
    const name = path.basename(rel);
    if (cache[name]) return cache[name].exports;
    const file = path.join(ROOT, 'native', 'utils', name);
    const module = { exports: {} };
    cache[name] = module;
    const fn = vm.runInContext('(function (module, exports, require) {' + fs.readFileSync(file, 'utf8') + '\n})', ctx, { filename: file });
    fn(module, module.exports, (spec) => {
      if (spec !== './edge-core.js') throw new Error(name + ' requires ' + spec + ': only ./edge-core.js exists in a Mini Program');
      return load(spec);
    });
    return module.exports;
  }
  return load('./request.js');
}

test('native request.js runs with only wx, console and timers', { timeout: 10000 }, async () => {
  const p = makePlatform();
  const mod = loadInBareContext({ wx: p.api });
  const c = mod.create({ edge: edge.origin });
  const s = await c.start();
  const me = await c.get('/api/me');
  assert.equal(me.data.openid, s.openid);
  assert.equal(p.calls.login, 1);
});

const files = [];
function walk(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const f = path.join(dir, e.name);
    if (e.isDirectory()) walk(f);
    else if (/\.(js|vue)$/.test(e.name)) files.push(f);
  }
}
walk(path.join(ROOT, 'native'));
walk(path.join(ROOT, 'uniapp'));

const FORBIDDEN = [
  [/\bprocess\./, 'process'],
  [/\bBuffer\b/, 'Buffer'],
  [/\b__dirname\b|\b__filename\b/, '__dirname/__filename'],
  [/\bnew URL\(|\bURLSearchParams\b/, 'URL/URLSearchParams (absent from the Mini Program runtime)'],
  [/\bTextEncoder\b|\bTextDecoder\b|\bAbortController\b|\bfetch\(/, 'a Web API the Mini Program runtime lacks'],
  [/\bsetImmediate\b|\bqueueMicrotask\b/, 'setImmediate/queueMicrotask'],
  [/require\(\s*['"](?!\.)/, 'require() of a package'],
  [/from\s+['"](?!\.|vue['"])/, 'import of a package other than vue'],
  [/\?\.|\?\?/, 'optional chaining or ?? (newer than ES2017)'],
];

test('no Node-only APIs or post-ES2017 syntax in ' + files.length + ' client files', () => {
  const strip = (s) => s.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"])\/\/.*$/gm, '$1');
  const problems = [];
  for (const f of files) {
    const src = strip(fs.readFileSync(f, 'utf8'));
    for (const [re, what] of FORBIDDEN) if (re.test(src)) problems.push(path.relative(ROOT, f) + ': ' + what);
  }
  assert.deepEqual(problems, []);
});
