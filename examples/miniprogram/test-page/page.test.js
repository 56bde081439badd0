'use strict';
// Page test of native/pages/index with miniprogram-simulate, the official
// test tool for Mini Program components: the page's .wxml is compiled by the
// official wcc compiler (shipped in miniprogram-compiler), rendered in jsdom,
// and its buttons are driven by events, against the fake edge over real HTTP.
//
//   npm ci --prefix examples/miniprogram/test-page
//   node --test examples/miniprogram/test-page/
//
// miniprogram-simulate loads components (Component()), not pages (Page()):
// a small shim below registers the page's options as a component whose
// methods are the page's functions and whose `attached` runs onLoad.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const fs = require('node:fs');

const ROOT = path.join(__dirname, '..');
if (!fs.existsSync(path.join(__dirname, 'node_modules', 'miniprogram-simulate'))) {
  test('miniprogram-simulate is installed', () => {
    assert.fail('examples/miniprogram/test-page/node_modules is missing: run `npm ci --prefix examples/miniprogram/test-page` first');
  });
  return;
}

const { JSDOM } = require('jsdom');
const { startFakeEdge, edgeError } = require('../testlib/fake-edge.js');
const { makePlatform } = require('../testlib/fake-platform.js');

// The DOM miniprogram-simulate expects (it is written for jest's jsdom environment).
const dom = new JSDOM('<!doctype html><html><head></head><body></body></html>', { url: 'https://servicewechat.com/' });
global.window = dom.window;
global.document = dom.window.document;
// Node 20 has its own Event and CustomEvent, which jsdom's dispatchEvent refuses: use jsdom's.
for (const k of ['Element', 'HTMLElement', 'Node', 'Event', 'CustomEvent', 'MutationObserver', 'DocumentFragment']) {
  global[k] = dom.window[k];
}

let edge;
let p;
let simulate;
let comp;
const navigations = [];

// Polls until check() is truthy; fails with `what` after 5 s.
async function until(check, what) {
  const deadline = Date.now() + 5000;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > deadline) assert.fail('timed out waiting for ' + what + '; page data: ' + JSON.stringify(comp && comp.data));
    await new Promise((r) => setTimeout(r, 10));
  }
}
const text = (sel) => {
  const el = comp.querySelector(sel);
  return el ? el.dom.textContent : null;
};

before(async () => {
  edge = await startFakeEdge();
  p = makePlatform();
  global.wx = p.api; // miniprogram-simulate merges its own wx API under ours when it loads
  simulate = require('miniprogram-simulate');
  global.wx.navigateTo = (o) => { navigations.push(o.url); };

  // The page takes the app-wide client from utils/request.js; point it at the fake edge.
  const request = require(path.join(ROOT, 'native', 'utils', 'request.js'));
  const client = request.create({ edge: edge.origin });
  request.client = () => client;

  global.Page = (options) => {
    const methods = {};
    for (const k of Object.keys(options)) if (typeof options[k] === 'function') methods[k] = options[k];
    global.Component({
      data: options.data,
      methods,
      lifetimes: { attached() { this.loaded = this.onLoad ? this.onLoad({}) : null; } },
    });
  };

  const id = simulate.load(path.join(ROOT, 'native', 'pages', 'index', 'index'), { compiler: 'official', rootPath: path.join(ROOT, 'native') });
  comp = simulate.render(id);
  comp.attach(document.createElement('parent-wrapper'));
  await comp.instance.loaded;
});

after(async () => {
  if (comp) comp.detach();
  if (edge) await edge.close();
});

test('on load the page logs in and shows the openid from GET /api/me', async () => {
  assert.equal(text('#openid'), 'o-' + p.user);
  assert.equal(p.calls.login, 1);
  assert.equal(edge.state.logins, 1);
  assert.match(edge.requests('/api/me')[0].authorization, /^Bearer tok/);
  for (const id of ['#login', '#me', '#phone-button', '#h5', '#logout']) assert.ok(comp.querySelector(id), id + ' rendered');
});

test('the login button runs wx.login and POST /login again', async () => {
  comp.querySelector('#login').dispatchEvent('tap');
  await until(() => edge.state.logins === 2, 'a second /login');
  await until(() => text('#openid') === 'o-' + p.user, 'the openid');
  assert.equal(p.calls.login, 2);
});

test('the phone button handler posts e.detail.code to /api/phone and shows the number', async () => {
  comp.querySelector('#phone-button').dispatchEvent('getphonenumber', { detail: { code: 'phone.1', errMsg: 'getPhoneNumber:ok' } });
  await until(() => text('#phone') === '13800138000', 'the phone number on the page');
  const r = edge.requests('/api/phone');
  assert.equal(r.length, 1);
  assert.deepEqual(r[0].body, { code: 'phone.1' });
  assert.match(r[0].authorization, /^Bearer /);
});

test('a declined phone button shows a message and sends nothing', async () => {
  const before = edge.hits('/api/phone');
  comp.querySelector('#phone-button').dispatchEvent('getphonenumber', { detail: { errMsg: 'getPhoneNumber:fail user deny' } });
  await until(() => comp.data.status === '需要授权手机号才能继续', 'the phone_denied message');
  assert.equal(edge.hits('/api/phone'), before);
});

test('an edge error is shown with its Chinese message', async () => {
  edge.script('/api/me', edgeError('wechat_busy', { retryAfter: 2 }));
  comp.querySelector('#me').dispatchEvent('tap');
  await until(() => comp.data.status === '服务繁忙，请稍后再试', 'the wechat_busy message');
  assert.equal(comp.querySelector('.status').dom.textContent, '服务繁忙，请稍后再试');
});

test('the H5 button gets a ticket and navigates to the webview page with it', async () => {
  comp.querySelector('#h5').dispatchEvent('tap');
  await until(() => navigations.length === 1, 'wx.navigateTo');
  assert.equal(edge.hits('/session/ticket'), 1);
  assert.match(navigations[0], /^\/pages\/webview\/webview\?ticket=tkt_[\w-]+%2B%2F%3D$/);
});

test('the logout button posts /logout and clears the page', async () => {
  comp.querySelector('#logout').dispatchEvent('tap');
  await until(() => edge.hits('/logout') === 1 && text('#openid') === '未登录', 'logout');
  assert.equal(p.api.getStorageSync('caddy_wechat_session'), '');
});
