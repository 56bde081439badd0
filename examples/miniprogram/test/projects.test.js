'use strict';
// The two projects are complete and wired as documented: every page listed
// exists, every event handler named in a template exists on its page, the
// phone button and the web-view are where they should be, manifest.json has
// the mp-weixin appid, and the uni-app page no longer calls uniCloud or
// touches the session_key.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');

const ROOT = path.join(__dirname, '..');
const read = (...p) => fs.readFileSync(path.join(ROOT, ...p), 'utf8');
const exists = (...p) => fs.existsSync(path.join(ROOT, ...p));
const stripComments = (s) => s.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"])\/\/.*$/gm, '$1');

// Runs a native page's JS with stub Page/require and returns its Page options.
function pageOptions(page) {
  let options = null;
  const stubModule = { client: () => ({}), EDGE: 'https://edge.example.com', webviewUrl: (b, t) => b + '?ticket=' + encodeURIComponent(t) };
  const ctx = vm.createContext({ Page: (o) => { options = o; }, require: () => stubModule, wx: {}, console });
  vm.runInContext(read('native', page + '.js'), ctx, { filename: page + '.js' });
  assert.ok(options, page + '.js calls Page({...})');
  return options;
}

test('native: app.json lists pages that have .js, .wxml, .wxss and .json', () => {
  const app = JSON.parse(read('native', 'app.json'));
  assert.deepEqual(app.pages, ['pages/index/index', 'pages/webview/webview']);
  for (const page of app.pages) {
    for (const ext of ['.js', '.wxml', '.wxss', '.json']) {
      assert.ok(exists('native', page + ext), 'missing native/' + page + ext);
    }
    JSON.parse(read('native', page + '.json'));
  }
  for (const f of ['app.js', 'utils/request.js', 'utils/edge-core.js', 'project.config.json']) {
    assert.ok(exists('native', f), 'missing native/' + f);
  }
});

test('native: every bind* handler in a template is a function of its page', () => {
  for (const page of ['pages/index/index', 'pages/webview/webview']) {
    const wxml = read('native', page + '.wxml');
    const opts = pageOptions(page);
    const handlers = [...wxml.matchAll(/\b(?:bind|catch)[a-z]+="([A-Za-z_$][\w$]*)"/g)].map((m) => m[1]);
    for (const h of handlers) assert.equal(typeof opts[h], 'function', page + ': handler ' + h + ' is not defined');
  }
});

test('native: the phone button is open-type="getPhoneNumber" with a bindgetphonenumber handler', () => {
  const wxml = read('native', 'pages', 'index', 'index.wxml');
  const button = /<button[^>]*open-type="getPhoneNumber"[^>]*>/.exec(wxml);
  assert.ok(button, 'no <button open-type="getPhoneNumber"> in index.wxml');
  const handler = /bindgetphonenumber="(\w+)"/.exec(button[0]);
  assert.ok(handler, 'the getPhoneNumber button has no bindgetphonenumber');
  assert.equal(typeof pageOptions('pages/index/index')[handler[1]], 'function');
});

test('native: the webview page renders <web-view src> from the ticket in its query', () => {
  const wxml = read('native', 'pages', 'webview', 'webview.wxml');
  assert.match(wxml, /<web-view[^>]*src="\{\{src\}\}"/);
  const opts = pageOptions('pages/webview/webview');
  const page = { data: Object.assign({}, opts.data), setData(d) { Object.assign(this.data, d); } };
  opts.onLoad.call(page, { ticket: encodeURIComponent('t+/=1') });
  // The default entry is the page the edge serves under /h5/, as the demo does.
  assert.equal(page.data.src, 'https://edge.example.com/h5/enter?ticket=' + encodeURIComponent('t+/=1'));
  const empty = { data: {}, setData(d) { Object.assign(this.data, d); } };
  opts.onLoad.call(empty, {});
  assert.ok(!empty.data.src && empty.data.status, 'no ticket: no web-view, a message instead');
});

test('uni-app: manifest.json has mp-weixin.appid and the 40013/forceUpdate note', () => {
  const raw = read('uniapp', 'manifest.json');
  const manifest = JSON.parse(stripComments(raw));
  assert.match(manifest['mp-weixin'].appid, /^wx[0-9a-f]{16}$/, 'mp-weixin.appid must be filled in');
  assert.equal(manifest.vueVersion, '3');
  assert.match(raw, /40013/);
  assert.match(raw, /forceUpdate/);
});

test('uni-app: pages.json lists pages that exist; App.vue, main.js and utils are there', () => {
  const pages = JSON.parse(stripComments(read('uniapp', 'pages.json'))).pages.map((p) => p.path);
  assert.deepEqual(pages, ['pages/index/index', 'pages/webview/webview']);
  for (const p of pages) assert.ok(exists('uniapp', p + '.vue'), 'missing uniapp/' + p + '.vue');
  for (const f of ['App.vue', 'main.js', 'utils/request.js', 'utils/edge-core.js']) {
    assert.ok(exists('uniapp', f), 'missing uniapp/' + f);
  }
});

test('uni-app: the index page uses the edge, not uniCloud, and never touches the session_key', () => {
  const vue = read('uniapp', 'pages', 'index', 'index.vue');
  const code = stripComments(vue.replace(/<!--[\s\S]*?-->/g, ''));
  assert.doesNotMatch(code, /uniCloud/, 'uniCloud is still called');
  assert.doesNotMatch(code, /session_?key/i, 'the page handles a session_key');
  assert.doesNotMatch(code, /setStorageSync\(\s*['"]openid/, 'the openid is stored as an identity');
  assert.match(code, /from '\.\.\/\.\.\/utils\/request\.js'/);
  assert.match(code, /open-type="getPhoneNumber"[^>]*@getphonenumber="(\w+)"/);
  const handler = /@getphonenumber="(\w+)"/.exec(code)[1];
  assert.match(code, new RegExp('async ' + handler + '\\(e\\)'), 'handler ' + handler + ' defined');
  // The comments say what moved and why.
  assert.match(vue, /What moved, and why/);
  assert.match(vue, /session_key never reaches the client/);
});
