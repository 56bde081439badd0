// Run from the repository root, after `npm ci` in examples/express:
//   node --test examples/express/
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { createApp, MAX_ECHO_BODY } from './app.js';

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    resolve(`http://127.0.0.1:${server.address().port}`);
  }));
}

function close(server) {
  return new Promise((resolve) => server.close(resolve));
}

async function fetchJSON(base, path, init) {
  const res = await fetch(base + path, init);
  assert.equal(res.headers.get('content-type'), 'application/json');
  return { status: res.status, body: await res.json() };
}

describe('header trust only (WECHAT_JWKS_URL unset)', () => {
  let server;
  let base;
  before(async () => {
    server = http.createServer(createApp({ jwksUrl: '' }));
    base = await listen(server);
  });
  after(() => close(server));

  test('/api/me reads the trusted headers', async () => {
    const { status, body } = await fetchJSON(base, '/api/me', {
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
    const { status, body } = await fetchJSON(base, '/api/me', {
      headers: { 'X-Openid': 'o-123', 'X-Wechat-Appid': 'wx-app' },
    });
    assert.equal(status, 200);
    assert.equal('unionid' in body, false);
  });

  test('/api/me is 401 for an anonymous request', async () => {
    assert.deepEqual(await fetchJSON(base, '/api/me'), { status: 401, body: { error: 'unauthorized' } });
  });

  test('/api/me rejects other methods', async () => {
    const res = await fetch(base + '/api/me', { method: 'POST', body: 'x', headers: { 'X-Openid': 'o-123' } });
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'GET');
  });

  test('echo shows what reached the upstream', async () => {
    const { status, body } = await fetchJSON(base, '/orders/42?x=1', {
      method: 'POST',
      headers: {
        'X-Openid': 'o-123', 'X-Unionid': 'u-456', 'X-Wechat-Appid': 'wx-app',
        'Content-Type': 'application/json',
      },
      body: '{"qty":2}',
    });
    assert.equal(status, 200);
    assert.equal(body.backend, 'express');
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
    const { status, body } = await fetchJSON(base, '/public');
    assert.equal(status, 200);
    assert.deepEqual([body.openid, body.unionid, body.appid, body.body], ['', '', '', '']);
    assert.equal('X-Openid' in body.headers, false);
  });

  test('echo body is capped at 64 KiB', async () => {
    const { status, body } = await fetchJSON(base, '/upload', {
      method: 'PUT', body: 'a'.repeat(MAX_ECHO_BODY + 100),
    });
    assert.equal(status, 200);
    assert.equal(body.body.length, MAX_ECHO_BODY);
  });
});

describe('X-Wechat-Assertion verification (WECHAT_JWKS_URL set)', () => {
  const AUD = 'api.example.com';
  const ISS = 'caddy-wechat';
  const OPENID = 'oNqLNgG-alice';
  const APPID = 'wx0123456789abcdef';
  let keys; // { ed, ec, rogue, unknown }: pairs with a kid; rogue reuses ed's kid
  let jwksServer;
  let jwksHits = 0;
  let server;
  let base;
  const refusals = [];

  before(async () => {
    const pair = async (alg, kid) => ({ alg, kid, ...(await generateKeyPair(alg, { crv: alg === 'EdDSA' ? 'Ed25519' : undefined })) });
    keys = {
      ed: await pair('EdDSA', 'ed-1'),
      ec: await pair('ES256', 'ec-1'),
      rogue: await pair('EdDSA', 'ed-1'),
      unknown: await pair('EdDSA', 'ed-unknown'),
    };
    const jwks = {
      keys: await Promise.all([keys.ed, keys.ec].map(async (k) => ({
        ...(await exportJWK(k.publicKey)), kid: k.kid, alg: k.alg, use: 'sig',
      }))),
    };
    jwksServer = http.createServer((req, res) => {
      jwksHits++;
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'max-age=300' });
      res.end(JSON.stringify(jwks));
    });
    const jwksBase = await listen(jwksServer);
    server = http.createServer(createApp({
      jwksUrl: `${jwksBase}/.well-known/jwks.json`,
      audience: AUD,
      issuer: ISS,
      log: (line) => { refusals.push(line); if (process.env.SHOW_REFUSALS) console.log(line); },
    }));
    base = await listen(server);
  });
  after(async () => {
    await close(server);
    await close(jwksServer);
  });

  // An assertion as the edge mints it; `over` changes or (with undefined)
  // removes claims.
  async function mint(key = keys.ed, over = {}, header = {}) {
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: ISS, aud: AUD, sub: OPENID, appid: APPID, sid: 's-1', iat: now, exp: now + 60, ...over };
    for (const k of Object.keys(claims)) if (claims[k] === undefined) delete claims[k];
    return new SignJWT(claims).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header }).sign(key.privateKey);
  }

  function me(assertion, headers = {}) {
    const h = { 'X-Openid': OPENID, 'X-Wechat-Appid': APPID, ...headers };
    if (assertion) h['X-Wechat-Assertion'] = assertion;
    return fetchJSON(base, '/api/me', { headers: h });
  }

  const REFUSED = { status: 401, body: { error: 'invalid_assertion' } };

  test('a valid EdDSA assertion passes', async () => {
    assert.deepEqual(await me(await mint()), { status: 200, body: { openid: OPENID, appid: APPID } });
  });

  test('a valid ES256 assertion passes', async () => {
    assert.deepEqual(await me(await mint(keys.ec)), { status: 200, body: { openid: OPENID, appid: APPID } });
  });

  test('a valid assertion with unionid passes', async () => {
    const got = await me(await mint(keys.ed, { unionid: 'u-1' }), { 'X-Unionid': 'u-1' });
    assert.deepEqual(got, { status: 200, body: { openid: OPENID, unionid: 'u-1', appid: APPID } });
  });

  test('X-Openid without an assertion is refused', async () => {
    assert.deepEqual(await me(''), REFUSED);
  });

  test('an expired assertion is refused', async () => {
    const now = Math.floor(Date.now() / 1000);
    assert.deepEqual(await me(await mint(keys.ed, { iat: now - 120, exp: now - 60 })), REFUSED);
  });

  test('an assertion for another aud is refused', async () => {
    assert.deepEqual(await me(await mint(keys.ed, { aud: 'other.example.com' })), REFUSED);
  });

  test('an assertion from another issuer is refused', async () => {
    assert.deepEqual(await me(await mint(keys.ed, { iss: 'someone-else' })), REFUSED);
  });

  test('an assertion whose sub is not X-Openid is refused', async () => {
    assert.deepEqual(await me(await mint(keys.ed, { sub: 'oSomebodyElse' })), REFUSED);
  });

  test('an assertion whose appid is not X-Wechat-Appid is refused', async () => {
    assert.deepEqual(await me(await mint(keys.ed, { appid: 'wxffffffffffffffff' })), REFUSED);
  });

  test('an assertion whose unionid is not X-Unionid is refused', async () => {
    assert.deepEqual(await me(await mint(keys.ed, { unionid: 'u-1' }), { 'X-Unionid': 'u-2' }), REFUSED);
    assert.deepEqual(await me(await mint(keys.ed), { 'X-Unionid': 'u-2' }), REFUSED);
  });

  test('an assertion signed by a key not in the JWKS is refused', async () => {
    // Same kid as a published key, different key: the signature fails.
    assert.deepEqual(await me(await mint(keys.rogue)), REFUSED);
    // A kid the JWKS does not have.
    assert.deepEqual(await me(await mint(keys.unknown)), REFUSED);
  });

  test('a lifetime over 5 minutes, a future iat or no exp is refused', async () => {
    const now = Math.floor(Date.now() / 1000);
    assert.deepEqual(await me(await mint(keys.ed, { exp: now + 600 })), REFUSED);
    assert.deepEqual(await me(await mint(keys.ed, { iat: now + 120, exp: now + 150 })), REFUSED);
    assert.deepEqual(await me(await mint(keys.ed, { exp: undefined })), REFUSED);
  });

  test('an HS256 assertion is refused', async () => {
    const hs = { alg: 'HS256', kid: 'ed-1', privateKey: new TextEncoder().encode('x'.repeat(32)) };
    assert.deepEqual(await me(await mint(hs)), REFUSED);
  });

  test('a tampered assertion is refused', async () => {
    const [h, , s] = (await mint()).split('.');
    const forged = Buffer.from(JSON.stringify({ iss: ISS, aud: AUD, sub: 'oSomebodyElse', iat: 1, exp: 4102444800 })).toString('base64url');
    assert.deepEqual(await me(`${h}.${forged}.${s}`, { 'X-Openid': 'oSomebodyElse' }), REFUSED);
  });

  test('a refused request never reaches the handler', async () => {
    const got = await fetchJSON(base, '/orders', {
      method: 'POST', headers: { 'X-Openid': OPENID }, body: 'x',
    });
    assert.deepEqual(got, REFUSED);
    assert.ok(refusals.some((line) => line.includes('POST /orders')), refusals.join('\n'));
  });

  test('X-Unionid or X-Wechat-Appid alone also needs an assertion', async () => {
    assert.deepEqual(await fetchJSON(base, '/x', { headers: { 'X-Wechat-Appid': APPID } }), REFUSED);
    assert.deepEqual(await fetchJSON(base, '/x', { headers: { 'X-Unionid': 'u-1' } }), REFUSED);
  });

  test('an assertion without X-Openid, or over 4 KiB, is refused', async () => {
    const headers = { 'X-Wechat-Appid': APPID, 'X-Wechat-Assertion': await mint() };
    assert.deepEqual(await fetchJSON(base, '/x', { headers }), REFUSED);
    assert.match(refusals.at(-1), /without X-Openid/);
    assert.deepEqual(await me('a'.repeat(5000)), REFUSED);
    assert.match(refusals.at(-1), /over 4 KiB/);
  });

  test('an anonymous request passes as anonymous', async () => {
    const { status, body } = await fetchJSON(base, '/public');
    assert.equal(status, 200);
    assert.equal(body.openid, '');
    assert.deepEqual(await fetchJSON(base, '/api/me'), { status: 401, body: { error: 'unauthorized' } });
  });

  test('the JWKS is fetched once and cached', () => {
    // One fetch, plus at most one refetch for the unknown kid.
    assert.ok(jwksHits >= 1 && jwksHits <= 2, `JWKS fetched ${jwksHits} times`);
  });
});

describe('configuration', () => {
  test('WECHAT_JWKS_URL without WECHAT_ASSERTION_AUDIENCE is an error', () => {
    assert.throws(() => createApp({ jwksUrl: 'http://127.0.0.1:1/jwks.json', audience: '' }), /WECHAT_ASSERTION_AUDIENCE/);
  });

  test('an unreachable JWKS refuses rather than trusting the headers', async () => {
    // Bind and close a port so nothing listens on it.
    const probe = http.createServer();
    const dead = await listen(probe);
    await close(probe);
    const refusals = [];
    const server = http.createServer(createApp({ jwksUrl: `${dead}/jwks.json`, audience: 'a', log: (l) => refusals.push(l) }));
    const base = await listen(server);
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const now = Math.floor(Date.now() / 1000);
    const assertion = await new SignJWT({ iss: 'caddy-wechat', aud: 'a', sub: 'o', iat: now, exp: now + 60 })
      .setProtectedHeader({ alg: 'EdDSA', kid: 'k' }).sign(privateKey);
    try {
      assert.deepEqual(await fetchJSON(base, '/api/me', {
        headers: { 'X-Openid': 'o', 'X-Wechat-Assertion': assertion },
      }), { status: 401, body: { error: 'invalid_assertion' } });
      assert.match(refusals.join('\n'), /ECONNREFUSED|fetch failed|JWKS/i);
    } finally {
      await close(server);
    }
  });
});
