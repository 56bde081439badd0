// Express upstream for the caddy-wechat plugin.
//
// Caddy authenticates the WeChat session and proxies the request here with the
// trusted headers X-Openid, X-Unionid (only when known) and X-Wechat-Appid.
// Anonymous requests (allowed with `optional`) arrive with none of them.
//
// Without WECHAT_JWKS_URL these headers are trusted as they are, which is safe
// only because this server listens on loopback (or a private network) where
// nothing but Caddy can reach it. With WECHAT_JWKS_URL set, every request that
// carries an identity header must also carry X-Wechat-Assertion, a JWT the
// edge signed (EdDSA or ES256) whose claims match those headers; see
// assertionCheck below.

import express from 'express';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

export const MAX_ECHO_BODY = 64 * 1024;
export const LEEWAY_SECONDS = 10; // clock skew allowed on exp and iat
export const MAX_LIFETIME_SECONDS = 300; // the contract: exp is at most 5 minutes after iat
export const MAX_ASSERTION_BYTES = 4096; // as the gate's token limit; refused before parsing
const IDENTITY_HEADERS = ['x-openid', 'x-unionid', 'x-wechat-appid'];

// Node lower-cases incoming header names. headersDistinct keeps every value,
// so take the first one (like Go's Header.Get); an empty value counts as absent.
function header(req, name) {
  const values = req.headersDistinct[name.toLowerCase()];
  return values ? values[0] : '';
}

// Canonical header name, as Go writes it: x-openid -> X-Openid.
function canonical(name) {
  return name
    .split('-')
    .map((p) => p.charAt(0).toUpperCase() + p.slice(1).toLowerCase())
    .join('-');
}

// Exactly "application/json", as the other examples send it (res.json and
// res.set would add a charset).
function sendJSON(res, status, obj, extraHeaders = {}) {
  const headers = { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...extraHeaders };
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.status(status).send(Buffer.from(JSON.stringify(obj)));
}

// The verification settings from the environment. WECHAT_JWKS_URL unset means
// header trust only.
export function configFromEnv(env = process.env) {
  return {
    jwksUrl: env.WECHAT_JWKS_URL || '',
    audience: env.WECHAT_ASSERTION_AUDIENCE || '',
    issuer: env.WECHAT_ASSERTION_ISSUER || 'caddy-wechat',
  };
}

// Middleware that refuses a request carrying identity headers without a
// valid X-Wechat-Assertion: signed by a key of the edge's JWKS (chosen by
// kid, EdDSA or ES256 only), with our iss and aud, not expired, and whose
// sub, appid and unionid are the headers' values. A refused request gets
// 401 {"error":"invalid_assertion"} and never reaches the handler.
// A request without identity headers is anonymous and passes untouched.
export function assertionCheck({ jwksUrl, audience, issuer = 'caddy-wechat', log = console.warn }) {
  if (!audience) {
    throw new Error('WECHAT_JWKS_URL is set but WECHAT_ASSERTION_AUDIENCE is not: set it to the aud the edge signs (the site host by default)');
  }
  // Keys are cached (cacheMaxAge, as the edge's Cache-Control max-age=300);
  // an unknown kid refetches at most once per cooldownDuration.
  const jwks = createRemoteJWKSet(new URL(jwksUrl), {
    cacheMaxAge: 300_000,
    cooldownDuration: 30_000,
    timeoutDuration: 5_000,
  });
  return async (req, res, next) => {
    if (!IDENTITY_HEADERS.some((h) => header(req, h))) return next();
    const refuse = (why) => {
      log(`express backend: refused ${req.method} ${req.path}: ${why}`);
      sendJSON(res, 401, { error: 'invalid_assertion' });
    };
    const assertion = header(req, 'X-Wechat-Assertion');
    if (!assertion) return refuse('identity headers without X-Wechat-Assertion');
    if (!header(req, 'X-Openid')) return refuse('X-Unionid or X-Wechat-Appid without X-Openid');
    if (assertion.length > MAX_ASSERTION_BYTES) return refuse('assertion over 4 KiB');
    let claims;
    try {
      ({ payload: claims } = await jwtVerify(assertion, jwks, {
        algorithms: ['EdDSA', 'ES256'],
        issuer,
        audience,
        clockTolerance: LEEWAY_SECONDS,
        requiredClaims: ['exp', 'iat', 'sub'],
      }));
    } catch (err) {
      return refuse(`${err.code || err.name}: ${err.message}`);
    }
    if (claims.iat > Date.now() / 1000 + LEEWAY_SECONDS) return refuse('iat in the future');
    if (claims.exp - claims.iat > MAX_LIFETIME_SECONDS) return refuse('lifetime over 5 minutes');
    if (claims.sub !== header(req, 'X-Openid')) return refuse('sub is not X-Openid');
    const appid = header(req, 'X-Wechat-Appid');
    if (appid && claims.appid !== appid) return refuse('appid is not X-Wechat-Appid');
    const unionid = header(req, 'X-Unionid');
    if (unionid && claims.unionid !== unionid) return refuse('unionid is not X-Unionid');
    next();
  };
}

// Reads at most `keep` bytes of the body and discards the rest.
function readCapped(req, keep) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let kept = 0;
    req.on('data', (chunk) => {
      if (kept < keep) {
        const part = chunk.subarray(0, keep - kept);
        chunks.push(part);
        kept += part.length;
      }
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export function createApp(config = configFromEnv()) {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // Match paths exactly, as the other examples do (/api/me, not /API/me/).
  app.set('case sensitive routing', true);
  app.set('strict routing', true);

  if (config.jwksUrl) {
    app.use(assertionCheck(config));
  }
  // else: header trust only, as the stdlib examples; keep this server
  // reachable through Caddy alone.

  app.all('/api/me', (req, res) => {
    if (req.method !== 'GET') {
      return sendJSON(res, 405, { error: 'method not allowed' }, { Allow: 'GET' });
    }
    const openid = header(req, 'X-Openid');
    if (!openid) return sendJSON(res, 401, { error: 'unauthorized' });
    const me = { openid, appid: header(req, 'X-Wechat-Appid') };
    const unionid = header(req, 'X-Unionid');
    if (unionid) me.unionid = unionid;
    sendJSON(res, 200, me);
  });

  app.use(async (req, res, next) => {
    try {
      const body = await readCapped(req, MAX_ECHO_BODY);
      const headers = {};
      for (const [name, values] of Object.entries(req.headersDistinct)) {
        headers[canonical(name)] = values;
      }
      sendJSON(res, 200, {
        backend: 'express',
        method: req.method,
        path: req.path,
        openid: header(req, 'X-Openid'),
        unionid: header(req, 'X-Unionid'),
        appid: header(req, 'X-Wechat-Appid'),
        headers,
        body: body.toString('utf8'),
      });
    } catch (err) {
      next(err);
    }
  });
  return app;
}

// "host:port" or "[v6]:port" -> { host, port }
function parseAddr(addr) {
  const i = addr.lastIndexOf(':');
  return { host: addr.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(addr.slice(i + 1)) };
}

if (import.meta.url === pathToFileURL(process.argv[1] || '').href) {
  const { values } = parseArgs({
    options: { addr: { type: 'string', default: process.env.ADDR || '127.0.0.1:9003' } },
  });
  const config = configFromEnv();
  const { host, port } = parseAddr(values.addr);
  createApp(config).listen(port, host, () => {
    const mode = config.jwksUrl ? `verifying X-Wechat-Assertion with ${config.jwksUrl}` : 'trusting the headers (WECHAT_JWKS_URL unset)';
    console.log(`express backend listening on http://${values.addr}, ${mode}`);
  });
}
