'use strict';
// The client wrapper against the real demo (a running Caddy with the demo
// Caddyfile and its wechat_mock simulator). Not part of test/: it needs
// Caddy. Start everything and run it with:
//   examples/miniprogram/test-demo/run.sh ./caddy
// or, against a demo you started yourself:
//   DEMO_EDGE=http://localhost:8080 DEMO_MOCK=http://127.0.0.1:8081 node --test examples/miniprogram/test-demo/
//
// wx.login is faked: it hands out fresh simulator codes `mp<random>.<n>`
// (the simulator accepts any code once; the part before the first '.' names
// the user). wx.request is real HTTP to the edge.
//
// Not covered here because the demo does not have them yet: token renewal
// (X-Wechat-Token), /session/ticket and /logout. test/ covers them against
// the fake edge.
const { describe, test, before } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { pathToFileURL } = require('node:url');
const { makePlatform, realRequest } = require('../testlib/fake-platform.js');

const EDGE = process.env.DEMO_EDGE;
const MOCK = process.env.DEMO_MOCK;
const APPID = process.env.DEMO_APPID || 'wx0123456789abcdef'; // the demo Caddyfile's app
const STORAGE_KEY = 'caddy_wechat_session';
const T = { timeout: 20000 };

if (!EDGE || !MOCK) {
  test('DEMO_EDGE and DEMO_MOCK must be set', () => {
    assert.fail('DEMO_EDGE (the edge origin, e.g. http://localhost:8080) and DEMO_MOCK (the simulator ' +
      'origin, e.g. http://127.0.0.1:8081) are not set: DEMO_EDGE=' + JSON.stringify(EDGE) +
      ' DEMO_MOCK=' + JSON.stringify(MOCK) + '. Run examples/miniprogram/test-demo/run.sh <caddy-binary>, ' +
      'which starts the demo on free ports and sets both.');
  });
} else {
  const native = require('../native/utils/request.js');

  // A fresh "device": its own wx (user mp<random>) and its own client.
  function device(opts = {}) {
    const p = makePlatform(opts);
    const client = native.create({ edge: EDGE, api: p.api, maxRetryAfter: opts.maxRetryAfter });
    const urls = () => p.calls.requests.map((r) => r.method + ' ' + r.url.slice(EDGE.length));
    return { p, client, urls };
  }

  async function reach(origin, what) {
    try {
      await realRequest({ url: origin + '/', method: 'GET', timeout: 3000 });
    } catch (err) {
      assert.fail('cannot reach ' + what + ' at ' + origin + ': ' + err.message);
    }
  }

  async function rejects(promise, want) {
    let err;
    try { await promise; } catch (e) { err = e; }
    assert.ok(err, 'expected ' + JSON.stringify(want) + ', but the call resolved');
    assert.ok(native.isEdgeError(err), 'not an EdgeError: ' + (err && err.stack));
    for (const k of Object.keys(want)) assert.deepEqual(err[k], want[k], 'err.' + k + ' (' + err.code + ': ' + err.serverMessage + ')');
    return err;
  }

  describe('the wrapper against the demo at ' + EDGE, () => {
    before(async () => {
      await reach(EDGE, 'the edge (DEMO_EDGE)');
      await reach(MOCK, 'the simulator (DEMO_MOCK)');
    });

    test('login on launch, then GET /api/me answers with the same openid', T, async () => {
      const d = device();
      const s = await d.client.start();
      assert.match(s.openid, /^o/);
      assert.equal(d.p.api.getStorageSync(STORAGE_KEY).token, s.token, 'token stored');
      const me = await d.client.get('/api/me');
      assert.equal(me.data.openid, s.openid, 'the backend got X-Openid = the login openid');
      assert.equal(me.data.appid, APPID);
      assert.deepEqual(d.urls(), ['POST /login', 'GET /api/me']);
      assert.equal(d.p.calls.requests[1].header.Authorization, 'Bearer ' + s.token);
    });

    for (const kind of ['garbage', 'tampered signature']) {
      test('a ' + kind + ' stored token: one 401, one re-login, the request succeeds', T, async () => {
        const d = device();
        const s = await d.client.start();
        const bad = kind === 'garbage' ? 'garbage-token' : s.token.slice(0, -4) + (s.token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
        d.p.api.setStorageSync(STORAGE_KEY, Object.assign({}, d.p.api.getStorageSync(STORAGE_KEY), { token: bad }));
        const relaunched = native.create({ edge: EDGE, api: d.p.api }); // the next launch reads it back
        await relaunched.start();
        assert.equal(d.p.calls.login, 1, 'the stored token is reused on launch');
        const me = await relaunched.get('/api/me');
        assert.equal(me.data.openid, s.openid, 'same user after the re-login');
        assert.equal(d.p.calls.login, 2, 'exactly one re-login');
        assert.deepEqual(d.urls(), ['POST /login', 'GET /api/me', 'POST /login', 'GET /api/me']);
        assert.equal(d.p.calls.requests[1].header.Authorization, 'Bearer ' + bad);
        assert.notEqual(relaunched.token(), bad);
      });
    }

    test('6 concurrent requests with no token share one login', T, async () => {
      const d = device();
      const all = await Promise.all(Array.from({ length: 6 }, () => d.client.get('/api/me')));
      const openids = new Set(all.map((r) => r.data.openid));
      assert.equal(openids.size, 1, 'one user: ' + [...openids].join(', '));
      assert.equal(d.p.calls.login, 1, 'wx.login calls');
      assert.equal(d.urls().filter((u) => u === 'POST /login').length, 1, '/login calls');
      assert.equal(d.urls().filter((u) => u === 'GET /api/me').length, 6);
    });

    test('getPhoneNumber through /api/phone gives an 11-digit phoneNumber', T, async () => {
      const d = device();
      await d.client.start();
      const code = 'phone' + Math.random().toString(16).slice(2, 10) + '.1';
      const phone = await d.client.getPhoneNumber({ type: 'getphonenumber', detail: { code, errMsg: 'getPhoneNumber:ok' } });
      assert.match(phone.phoneNumber, /^\d{11}$/, JSON.stringify(phone));
      assert.equal(typeof phone.countryCode, 'string');
      // A double tap sends the code again: the edge answers the same number
      // for 30 s rather than WeChat's "code used".
      const again = await d.client.getPhoneNumber({ detail: { code } });
      assert.equal(again.phoneNumber, phone.phoneNumber);
      // A spent or invalid code is 400 invalid_code, which is not a session problem.
      await rejects(d.client.getPhoneNumber({ detail: { code: 'err40029.' + code } }), { code: 'invalid_code', statusCode: 400, message: native.MESSAGES.phone_code_invalid });
      assert.equal(d.p.calls.login, 1, 'no re-login for a spent phone code');
    });

    test('the token carries the session_key: /api/decrypt opens data the simulator sealed for this user', T, async () => {
      const d = device();
      const s = await d.client.start();
      const enc = await realRequest({
        url: MOCK + '/mock/encrypt', method: 'POST',
        data: { appid: APPID, openid: s.openid, data: { nickName: 'Alice' } },
      });
      assert.equal(enc.statusCode, 200, JSON.stringify(enc.data));
      const res = await d.client.post('/api/decrypt', { encryptedData: enc.data.encryptedData, iv: enc.data.iv });
      assert.equal(res.data.nickName, 'Alice');
      assert.equal(res.data.watermark.appid, APPID);
    });

    test('a repeated code gets the same answer: a double tap is one login', T, async () => {
      const first = device();
      await first.client.start(); // spends <user>.1
      const d = device({ user: first.p.user }); // same user, so its first code is <user>.1 again
      const s = await d.client.start();
      // Within 30 s, from the same address, the edge answers a repeated
      // code with the first answer (the same token) instead of 40163.
      assert.equal(d.p.calls.login, 1);
      assert.deepEqual(d.urls(), ['POST /login']);
      assert.equal(s.openid, first.client.session().openid);
      assert.equal(d.client.session().token, first.client.session().token);
    });

    const errors = [
      { user: 'err40029', want: { code: 'invalid_code', statusCode: 401 }, logins: 2 },
      { user: 'err40226', want: { code: 'user_blocked', statusCode: 403 }, logins: 1 },
      { user: 'err45011', want: { code: 'rate_limited', statusCode: 429, retryAfter: 60 }, logins: 1 },
      { user: 'err-1', want: { code: 'wechat_busy', statusCode: 503, retryAfter: 2 }, logins: 1 },
      { user: 'html', want: { code: 'wechat_error', statusCode: 502 }, logins: 1 },
      { user: 'hang', want: { code: 'wechat_timeout', statusCode: 504 }, logins: 1 },
    ];
    for (const e of errors) {
      test('login code ' + e.user + '.N: ' + e.want.code + ' with its message', T, async () => {
        const d = device({ user: e.user, maxRetryAfter: 5 });
        const err = await rejects(d.client.start(), e.want);
        assert.equal(err.message, native.messageFor(e.want.code, { statusCode: e.want.statusCode, retryAfter: e.want.retryAfter }));
        assert.equal(d.p.calls.login, e.logins, 'wx.login calls');
        assert.equal(d.p.api.getStorageSync(STORAGE_KEY), '', 'nothing stored');
      });
    }

    test('the uni-app wrapper logs in and reaches /api/me too', T, async () => {
      const uni = await import(pathToFileURL(path.join(__dirname, '..', 'uniapp', 'utils', 'request.js')).href);
      const p = makePlatform();
      const c = uni.create({ edge: EDGE, api: p.api });
      const s = await c.start();
      const me = await c.get('/api/me');
      assert.equal(me.data.openid, s.openid);
      assert.equal(p.calls.loginOptions[0].provider, 'weixin');
    });
  });
}
