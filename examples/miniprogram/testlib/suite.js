'use strict';
// The client tests, run once per flavour (native over `wx`, uni-app over `uni`)
// against the fake edge over real HTTP. Each test installs a fresh fake
// platform as the global (`wx` or `uni`) and creates a client with
// create({edge}), exactly as app code does, so the platform adapter is
// exercised too.
const { describe, test, before, after, beforeEach, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { startFakeEdge, edgeError } = require('./fake-edge.js');
const { makePlatform } = require('./fake-platform.js');

const TIMEOUT = { timeout: 10000 }; // a retry loop in the client fails the test instead of hanging it
const STORAGE_KEY = 'caddy_wechat_session';

function defineSuite(flavour) {
  describe(flavour.name + ' client', () => {
    let edge;
    let mod;
    let p; // the fake platform of the current test
    const made = [];

    before(async () => {
      mod = await flavour.load();
      edge = await startFakeEdge();
    });
    after(async () => { if (edge) await edge.close(); });
    beforeEach(() => {
      edge.reset();
      p = makePlatform({ user: 'alice' + Math.random().toString(16).slice(2, 8) });
      globalThis[flavour.globalName] = p.api;
    });
    afterEach(() => { delete globalThis[flavour.globalName]; made.length = 0; });

    function client(extra) {
      const c = mod.create(Object.assign({ edge: edge.origin }, extra));
      made.push(c);
      return c;
    }
    const stored = () => p.api.getStorageSync(STORAGE_KEY);
    const bearerOf = (r) => (r.authorization || '').replace(/^Bearer /, '');

    // Rejects with an EdgeError whose fields match `want`; returns the error.
    async function rejects(promise, want) {
      let err;
      try { await promise; } catch (e) { err = e; }
      assert.ok(err, 'expected a rejection with ' + JSON.stringify(want) + ', but the call resolved');
      assert.ok(mod.isEdgeError(err), 'expected an EdgeError, got: ' + (err && err.stack));
      for (const k of Object.keys(want)) {
        assert.deepEqual(err[k], want[k], 'err.' + k + ' (code ' + err.code + ', message ' + err.message + ')');
      }
      return err;
    }

    describe('launch and Bearer', () => {
      test('start() logs in with wx.login + POST /login, stores the token, and requests carry it', TIMEOUT, async () => {
        const c = client();
        const s = await c.start();
        assert.equal(p.calls.login, 1, 'wx.login calls');
        assert.equal(edge.state.logins, 1, '/login calls');
        const loginReq = edge.requests('/login')[0];
        assert.equal(loginReq.method, 'POST');
        assert.match(loginReq.contentType || '', /application\/json/);
        assert.deepEqual(Object.keys(loginReq.body), ['code'], 'POST /login sends {"code"} only');
        assert.equal(loginReq.body.code, p.user + '.1');
        assert.equal(loginReq.authorization, undefined, '/login carries no Authorization');
        assert.equal(s.openid, 'o-' + p.user);
        assert.equal(stored().token, s.token, 'the token is in wx storage');
        assert.ok(stored().expiresAt > Date.now() + 7000 * 1000, 'expires_in (7200 s) kept as expiresAt');

        const me = await c.get('/api/me');
        assert.equal(me.statusCode, 200);
        assert.equal(me.data.openid, 'o-' + p.user);
        assert.equal(edge.requests('/api/me')[0].authorization, 'Bearer ' + s.token);
        if (flavour.globalName === 'uni') assert.equal(p.calls.loginOptions[0].provider, 'weixin');
      });

      test('a relaunch reads the stored token back and does not log in again', TIMEOUT, async () => {
        const first = await client().start();
        const again = client(); // a new client over the same storage = the next launch
        await again.start();
        assert.equal(p.calls.login, 1, 'wx.login calls over two launches');
        await again.post('/api/echo', { a: 1 });
        const r = edge.requests('/api/echo')[0];
        assert.equal(bearerOf(r), first.token);
        assert.deepEqual(r.body, { a: 1 });
      });

      test('a stored token past its lifetime is replaced on launch', TIMEOUT, async () => {
        const first = await client().start();
        p.api.setStorageSync(STORAGE_KEY, Object.assign(stored(), { expiresAt: Date.now() - 1000 }));
        const s = await client().start();
        assert.equal(p.calls.login, 2);
        assert.notEqual(s.token, first.token);
      });

      test('appid, when given, is sent with the code; options given as undefined keep their defaults', TIMEOUT, async () => {
        const c = client({ appid: 'wx0123456789abcdef', timeout: undefined, storageKey: undefined });
        await c.start();
        assert.deepEqual(edge.requests('/login')[0].body, { code: p.user + '.1', appid: 'wx0123456789abcdef' });
        assert.ok(stored().token, 'stored under the default key');
      });

      test('a request before any login logs in first', TIMEOUT, async () => {
        const c = client();
        const me = await c.get('/api/me');
        assert.equal(me.data.openid, 'o-' + p.user);
        assert.equal(p.calls.login, 1);
        assert.equal(edge.state.logins, 1);
      });
    });

    describe('renewal (X-Wechat-Token)', () => {
      for (const header of ['X-Wechat-Token', 'x-wechat-token', 'X-WECHAT-TOKEN']) {
        test('a renewal in ' + header + ' replaces the stored token and the next request uses it', TIMEOUT, async () => {
          const c = client();
          const s = await c.start();
          edge.renewNext({ header, expiresHeader: header + '-Expires-In', expiresIn: 3600, revokeOld: true });
          const before = Date.now();
          await c.get('/api/me');
          const renewed = stored().token;
          assert.notEqual(renewed, s.token, 'stored token replaced');
          assert.equal(c.token(), renewed, 'in-memory token replaced');
          const exp = stored().expiresAt - before;
          assert.ok(exp > 3590 * 1000 && exp <= 3601 * 1000, 'X-Wechat-Token-Expires-In gives the lifetime: ' + exp);
          const me = await c.get('/api/me'); // the old token is revoked: only the renewed one works
          assert.equal(me.statusCode, 200);
          assert.equal(bearerOf(edge.requests('/api/me')[1]), renewed);
          assert.equal(p.calls.login, 1, 'no login needed');
        });
      }

      test('a late renewal does not undo a logout', TIMEOUT, async () => {
        const c = client();
        await c.start();
        edge.renewNext({ expiresIn: 3600 });
        const slow = c.get('/api/slow?delay=150');
        await new Promise((r) => setTimeout(r, 50));
        await c.logout();
        await slow;
        assert.equal(stored(), '', 'storage stays empty after logout');
        assert.equal(c.token(), null);
      });
    });

    describe('401: one re-login, one retry, no loop', () => {
      test('a revoked token: one wx.login, one /login, the request retried once and succeeds', TIMEOUT, async () => {
        const c = client();
        const s = await c.start();
        edge.revokeAll();
        const me = await c.get('/api/me');
        assert.equal(me.statusCode, 200);
        assert.equal(p.calls.login, 2, 'wx.login: launch + one re-login');
        assert.equal(edge.state.logins, 2, '/login: launch + one re-login');
        const hits = edge.requests('/api/me');
        assert.equal(hits.length, 2, '/api/me: the 401 and one retry');
        assert.equal(bearerOf(hits[0]), s.token);
        assert.equal(bearerOf(hits[1]), stored().token);
        assert.notEqual(stored().token, s.token);
      });

      test('401 unauthorized is handled the same way', TIMEOUT, async () => {
        const c = client();
        await c.start();
        edge.script('/api/x', edgeError('unauthorized'));
        const r = await c.get('/api/x');
        assert.equal(r.statusCode, 200);
        assert.equal(p.calls.login, 2);
        assert.equal(edge.hits('/api/x'), 2);
      });

      test('a second 401 is returned to the caller', TIMEOUT, async () => {
        const c = client();
        await c.start();
        const err = await rejects(c.get('/api/always401'), { code: 'invalid_token', statusCode: 401 });
        assert.equal(err.message, mod.MESSAGES.invalid_token);
        assert.equal(edge.hits('/api/always401'), 2, 'sent twice, not more');
        assert.equal(p.calls.login, 2, 'one re-login only');
        assert.equal(edge.state.logins, 2);
      });

      test('retryOn401: false surfaces the first 401', TIMEOUT, async () => {
        const c = client();
        await c.start();
        await rejects(c.request({ path: '/api/always401', retryOn401: false }), { code: 'invalid_token' });
        assert.equal(edge.hits('/api/always401'), 1);
        assert.equal(p.calls.login, 1);
      });

      test('invalid_code on /login: a fresh wx.login and a second /login', TIMEOUT, async () => {
        edge.script('/login', edgeError('invalid_code'));
        const c = client();
        const s = await c.start();
        assert.equal(p.calls.login, 2);
        assert.equal(edge.state.logins, 2);
        const codes = edge.requests('/login').map((r) => r.body.code);
        assert.notEqual(codes[0], codes[1], 'the retry uses a fresh code');
        assert.equal(stored().token, s.token);
      });

      test('invalid_code twice: surfaced after one fresh wx.login, no third attempt', TIMEOUT, async () => {
        edge.script('/login', edgeError('invalid_code'), edgeError('invalid_code'));
        const c = client();
        const err = await rejects(c.start(), { code: 'invalid_code', statusCode: 401 });
        assert.equal(err.message, mod.MESSAGES.invalid_code);
        assert.equal(p.calls.login, 2);
        assert.equal(edge.state.logins, 2);
        assert.equal(stored(), '');
      });

      test('a re-login that fails is surfaced, not retried', TIMEOUT, async () => {
        const c = client();
        await c.start();
        edge.revokeAll();
        edge.script('/login', edgeError('wechat_error'));
        await rejects(c.get('/api/me'), { code: 'wechat_error', statusCode: 502 });
        assert.equal(edge.state.logins, 2);
        assert.equal(edge.hits('/api/me'), 1);
      });
    });

    describe('concurrency: one login shared', () => {
      test('8 requests with no token: one wx.login, one /login', TIMEOUT, async () => {
        edge.state.loginDelayMs = 50;
        const c = client();
        const all = await Promise.all(Array.from({ length: 8 }, () => c.get('/api/me')));
        assert.ok(all.every((r) => r.data.openid === 'o-' + p.user));
        assert.equal(p.calls.login, 1, 'wx.login calls');
        assert.equal(edge.state.logins, 1, '/login calls');
        assert.equal(edge.hits('/api/me'), 8);
      });

      test('start() under way and 8 requests: still one login', TIMEOUT, async () => {
        edge.state.loginDelayMs = 50;
        const c = client();
        const launch = c.start();
        const all = await Promise.all(Array.from({ length: 8 }, () => c.get('/api/me')));
        await launch;
        assert.equal(all.length, 8);
        assert.equal(p.calls.login, 1);
        assert.equal(edge.state.logins, 1);
      });

      test('8 requests that all get a 401: one re-login, each retried once', TIMEOUT, async () => {
        const c = client();
        await c.start();
        edge.revokeAll();
        edge.state.loginDelayMs = 50;
        const all = await Promise.all(Array.from({ length: 8 }, (_, i) => c.get('/api/me?delay=' + (i * 10))));
        assert.ok(all.every((r) => r.statusCode === 200));
        assert.equal(p.calls.login, 2, 'wx.login: launch + one');
        assert.equal(edge.state.logins, 2, '/login: launch + one');
        assert.equal(edge.hits('/api/me'), 16, 'each of the 8 sent twice');
      });

      test('a shared login that fails fails every waiting request, with one /login', TIMEOUT, async () => {
        edge.state.loginDelayMs = 30;
        edge.script('/login', edgeError('wechat_busy', { retryAfter: 2 }));
        const c = client();
        const results = await Promise.allSettled(Array.from({ length: 5 }, () => c.get('/api/me')));
        assert.ok(results.every((r) => r.status === 'rejected' && r.reason.code === 'wechat_busy'),
          JSON.stringify(results.map((r) => r.status + ':' + (r.reason && r.reason.code))));
        assert.equal(edge.state.logins, 1);
        assert.equal(p.calls.login, 1);
        assert.equal(edge.hits('/api/me'), 0);
      });
    });

    describe('error mapping', () => {
      const cases = [
        { code: 'wechat_busy', status: 503, retryAfter: 2 },
        { code: 'user_blocked', status: 403 },
        { code: 'wechat_timeout', status: 504 },
        { code: 'wechat_error', status: 502 },
        { code: 'csrf_rejected', status: 403 },
        { code: 'store_unavailable', status: 503 },
        { code: 'invalid_request', status: 400 },
      ];
      for (const k of cases) {
        test(k.code + ' (' + k.status + ') from an API call: its message, no re-login, no retry', TIMEOUT, async () => {
          const c = client();
          await c.start();
          edge.script('/api/x', edgeError(k.code, { retryAfter: k.retryAfter }));
          const err = await rejects(c.get('/api/x'), { code: k.code, statusCode: k.status });
          assert.equal(err.message, mod.MESSAGES[k.code]);
          assert.match(err.message, /[\u4e00-\u9fff]/, 'a Chinese message');
          assert.equal(err.serverMessage, 'fake edge: ' + k.code);
          if (k.retryAfter) assert.equal(err.retryAfter, k.retryAfter);
          assert.equal(edge.hits('/api/x'), 1);
          assert.equal(p.calls.login, 1);
        });
      }

      test('busy maps to "busy, retry later"', TIMEOUT, () => {
        assert.equal(mod.MESSAGES.wechat_busy, '服务繁忙，请稍后再试');
      });

      for (const k of [
        { code: 'user_blocked', status: 403 },
        { code: 'wechat_busy', status: 503, retryAfter: 2 },
        { code: 'wechat_timeout', status: 504 },
        { code: 'wechat_error', status: 502 },
        { code: 'csrf_rejected', status: 403 },
        { code: 'store_unavailable', status: 503 },
      ]) {
        test(k.code + ' from /login rejects the login with its message, once', TIMEOUT, async () => {
          edge.script('/login', edgeError(k.code, { retryAfter: k.retryAfter }));
          const c = client();
          const err = await rejects(c.start(), { code: k.code, statusCode: k.status });
          assert.equal(err.message, mod.MESSAGES[k.code]);
          assert.equal(edge.state.logins, 1);
          assert.equal(stored(), '');
        });
      }

      test('an unknown 5xx and a non-JSON answer get a generic message', TIMEOUT, async () => {
        const c = client();
        await c.start();
        edge.script('/api/x', { status: 500, body: undefined }, { status: 418, body: { nope: 1 } });
        await rejects(c.get('/api/x'), { code: 'server_error', statusCode: 500, message: mod.MESSAGES.server_error });
        await rejects(c.get('/api/x'), { code: 'unknown', statusCode: 418, message: mod.MESSAGES.unknown });
      });

      test('a network failure is network_error', TIMEOUT, async () => {
        const dead = await startFakeEdge();
        const origin = dead.origin;
        await dead.close();
        const c = mod.create({ edge: origin });
        await rejects(c.start(), { code: 'network_error', message: mod.MESSAGES.network_error });
      });

      test('wx.login failing is wx_login_failed, and /login is not called', TIMEOUT, async () => {
        p.api.loginFails = true;
        await rejects(client().start(), { code: 'wx_login_failed', message: mod.MESSAGES.wx_login_failed });
        assert.equal(edge.state.logins, 0);
      });
    });

    describe('429 and Retry-After', () => {
      test('Retry-After within the cap: waits that long, retries once, succeeds', TIMEOUT, async () => {
        const c = client({ maxRetryAfter: 2 });
        await c.start();
        edge.script('/api/x', edgeError('rate_limited', { retryAfter: 1 }));
        const t0 = Date.now();
        const r = await c.get('/api/x');
        const waited = Date.now() - t0;
        assert.equal(r.statusCode, 200);
        assert.ok(waited >= 950, 'waited ' + waited + ' ms for Retry-After: 1');
        assert.ok(waited < 3000, 'waited ' + waited + ' ms');
        assert.equal(edge.hits('/api/x'), 2);
      });

      test('429 again after the wait is surfaced with Retry-After, no third try', TIMEOUT, async () => {
        const slept = [];
        const c = client({ maxRetryAfter: 5, sleep: (ms) => { slept.push(ms); return Promise.resolve(); } });
        await c.start();
        edge.script('/api/x', edgeError('rate_limited', { retryAfter: 3 }), edgeError('rate_limited', { retryAfter: 3 }));
        const err = await rejects(c.get('/api/x'), { code: 'rate_limited', statusCode: 429, retryAfter: 3 });
        assert.equal(err.message, '操作太频繁，请 3 秒后再试');
        assert.deepEqual(slept, [3000]);
        assert.equal(edge.hits('/api/x'), 2);
      });

      test('Retry-After above the cap is surfaced at once', TIMEOUT, async () => {
        const c = client({ maxRetryAfter: 5 });
        await c.start();
        edge.script('/api/x', edgeError('rate_limited', { retryAfter: 60 }));
        const t0 = Date.now();
        const err = await rejects(c.get('/api/x'), { code: 'rate_limited', retryAfter: 60 });
        assert.ok(Date.now() - t0 < 500, 'did not wait');
        assert.equal(err.message, '操作太频繁，请 60 秒后再试');
        assert.equal(edge.hits('/api/x'), 1);
      });

      test('429 without Retry-After is surfaced with the generic message', TIMEOUT, async () => {
        const c = client();
        await c.start();
        edge.script('/api/x', edgeError('rate_limited'));
        await rejects(c.get('/api/x'), { code: 'rate_limited', retryAfter: undefined, message: mod.MESSAGES.rate_limited });
        assert.equal(edge.hits('/api/x'), 1);
      });

      test('429 on /login within the cap: the same code is tried again after the wait', TIMEOUT, async () => {
        const slept = [];
        edge.script('/login', edgeError('rate_limited', { retryAfter: 1 }));
        const c = client({ sleep: (ms) => { slept.push(ms); return Promise.resolve(); } });
        await c.start();
        assert.deepEqual(slept, [1000]);
        assert.equal(edge.state.logins, 2);
        assert.equal(p.calls.login, 1);
        const codes = edge.requests('/login').map((r) => r.body.code);
        assert.equal(codes[0], codes[1]);
      });

      test('429 on /login above the cap is surfaced (the edge default is Retry-After: 60)', TIMEOUT, async () => {
        edge.script('/login', edgeError('rate_limited', { retryAfter: 60 }));
        await rejects(client().start(), { code: 'rate_limited', retryAfter: 60 });
        assert.equal(edge.state.logins, 1);
      });
    });

    describe('phone number, web-view ticket, logout', () => {
      test('getPhoneNumber posts {code: e.detail.code} with the Bearer token', TIMEOUT, async () => {
        const c = client();
        const s = await c.start();
        const phone = await c.getPhoneNumber({ type: 'getphonenumber', detail: { code: 'phone.1', errMsg: 'getPhoneNumber:ok' } });
        assert.deepEqual(phone, { phoneNumber: '13800138000', purePhoneNumber: '13800138000', countryCode: '86' });
        const r = edge.requests('/api/phone')[0];
        assert.equal(r.method, 'POST');
        assert.deepEqual(r.body, { code: 'phone.1' });
        assert.equal(bearerOf(r), s.token);
      });

      test('a declined phone button sends nothing', TIMEOUT, async () => {
        const c = client();
        await c.start();
        await rejects(c.getPhoneNumber({ detail: { errMsg: 'getPhoneNumber:fail user deny' } }),
          { code: 'phone_denied', message: mod.MESSAGES.phone_denied });
        assert.equal(edge.hits('/api/phone'), 0);
      });

      test('a spent phone code (400 invalid_code) asks to authorise again, no re-login', TIMEOUT, async () => {
        const c = client();
        await c.start();
        await rejects(c.getPhoneNumber({ detail: { code: 'bad.1' } }),
          { code: 'invalid_code', statusCode: 400, message: mod.MESSAGES.phone_code_invalid });
        assert.equal(p.calls.login, 1);
      });

      test('createTicket: POST /session/ticket with Bearer; webviewUrl encodes it', TIMEOUT, async () => {
        const c = client();
        const s = await c.start();
        const t = await c.createTicket();
        assert.equal(t.expires_in, 60);
        assert.match(t.ticket, /^tkt_/);
        const r = edge.requests('/session/ticket')[0];
        assert.equal(r.method, 'POST');
        assert.equal(bearerOf(r), s.token);
        const url = mod.webviewUrl('https://h5.example.com/enter', t.ticket);
        assert.equal(url, 'https://h5.example.com/enter?ticket=' + encodeURIComponent(t.ticket));
        assert.ok(url.endsWith('%2B%2F%3D'), 'special characters escaped: ' + url);
      });

      test('logout: POST /logout with Bearer, 204, the token is cleared; the next request logs in again', TIMEOUT, async () => {
        const c = client();
        const s = await c.start();
        const out = await c.logout();
        assert.equal(out.statusCode, 204);
        const r = edge.requests('/logout')[0];
        assert.equal(r.method, 'POST');
        assert.equal(bearerOf(r), s.token);
        assert.equal(stored(), '', 'storage cleared');
        assert.equal(c.token(), null);
        await c.get('/api/me');
        assert.equal(p.calls.login, 2);
        assert.notEqual(bearerOf(edge.requests('/api/me')[0]), s.token);
      });

      test('logout with a dead token: cleared, no login', TIMEOUT, async () => {
        const c = client();
        await c.start();
        edge.revokeAll();
        const out = await c.logout();
        assert.equal(out.statusCode, 401);
        assert.equal(stored(), '');
        assert.equal(p.calls.login, 1);
      });

      test('logout that the edge cannot record: cleared locally, error surfaced', TIMEOUT, async () => {
        const c = client();
        await c.start();
        edge.script('/logout', edgeError('store_unavailable'));
        await rejects(c.logout(), { code: 'store_unavailable', statusCode: 503 });
        assert.equal(stored(), '');
      });

      test('logout without a session sends nothing', TIMEOUT, async () => {
        const out = await client().logout();
        assert.equal(out.local, true);
        assert.equal(edge.hits('/logout'), 0);
      });
    });
  });
}

module.exports = { defineSuite };
