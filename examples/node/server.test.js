'use strict';
// Run from the repository root: node --test examples/node/
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { createServer, MAX_ECHO_BODY } = require('./server.js');

let server;
let base;

before(async () => {
  server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${server.address().port}`;
});

after(() => new Promise((resolve) => server.close(resolve)));

async function fetchJSON(path, init) {
  const res = await fetch(base + path, init);
  assert.equal(res.headers.get('content-type'), 'application/json');
  return { status: res.status, body: await res.json() };
}

test('/api/me reads the trusted headers', async () => {
  const { status, body } = await fetchJSON('/api/me', {
    headers: { 'X-Openid': 'o-123', 'X-Unionid': 'u-456', 'X-Wechat-Appid': 'wx-app' },
  });
  assert.equal(status, 200);
  assert.deepEqual(body, { openid: 'o-123', unionid: 'u-456', appid: 'wx-app' });
});

test('/api/me header names are case-insensitive', async () => {
  // http.request sends header names exactly as given.
  const body = await new Promise((resolve, reject) => {
    const req = http.request(base + '/api/me', {
      headers: { 'x-OPENID': 'o-123', 'X-WECHAT-APPID': 'wx-app' },
    }, (res) => {
      assert.equal(res.statusCode, 200);
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { data += c; });
      res.on('end', () => resolve(JSON.parse(data)));
    });
    req.on('error', reject);
    req.end();
  });
  assert.deepEqual(body, { openid: 'o-123', appid: 'wx-app' });
});

test('/api/me omits an unknown unionid', async () => {
  const { status, body } = await fetchJSON('/api/me', {
    headers: { 'X-Openid': 'o-123', 'X-Wechat-Appid': 'wx-app' },
  });
  assert.equal(status, 200);
  assert.equal('unionid' in body, false);
});

test('/api/me is 401 for an anonymous request', async () => {
  const { status, body } = await fetchJSON('/api/me');
  assert.equal(status, 401);
  assert.deepEqual(body, { error: 'unauthorized' });
});

test('/api/me rejects other methods', async () => {
  const { status } = await fetchJSON('/api/me', {
    method: 'POST', body: 'x', headers: { 'X-Openid': 'o-123' },
  });
  assert.equal(status, 405);
});

test('echo shows what reached the upstream', async () => {
  const { status, body } = await fetchJSON('/orders/42?x=1', {
    method: 'POST',
    headers: {
      'X-Openid': 'o-123', 'X-Unionid': 'u-456', 'X-Wechat-Appid': 'wx-app',
      'Content-Type': 'application/json',
    },
    body: '{"qty":2}',
  });
  assert.equal(status, 200);
  assert.equal(body.backend, 'node');
  assert.equal(body.method, 'POST');
  assert.equal(body.path, '/orders/42');
  assert.equal(body.openid, 'o-123');
  assert.equal(body.unionid, 'u-456');
  assert.equal(body.appid, 'wx-app');
  assert.equal(body.body, '{"qty":2}');
  assert.deepEqual(body.headers['X-Openid'], ['o-123']);
  assert.deepEqual(body.headers['Host'], [new URL(base).host]);
});

test('echo for an anonymous request', async () => {
  const { status, body } = await fetchJSON('/public');
  assert.equal(status, 200);
  assert.deepEqual([body.openid, body.unionid, body.appid, body.body], ['', '', '', '']);
  assert.equal('X-Openid' in body.headers, false);
});

test('echo body is capped at 64 KiB', async () => {
  const { status, body } = await fetchJSON('/upload', {
    method: 'PUT', body: 'a'.repeat(MAX_ECHO_BODY + 100),
  });
  assert.equal(status, 200);
  assert.equal(body.body.length, MAX_ECHO_BODY);
});
