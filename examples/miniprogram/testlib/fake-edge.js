'use strict';
// A small fake of the caddy-wechat edge, over real HTTP on a free port.
// It issues opaque tokens, checks Bearer tokens like wechat_auth, renews
// tokens with X-Wechat-Token, and answers scripted errors, so the client's
// wrapper can be driven through every path the real edge can take.
const http = require('node:http');
const crypto = require('node:crypto');

function json(res, status, body, headers) {
  const data = body === undefined ? '' : JSON.stringify(body);
  const h = Object.assign({}, headers);
  if (data) h['Content-Type'] = 'application/json';
  res.writeHead(status, h);
  res.end(data);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

// The statuses the real edge gives each error code (README.md).
const STATUS = {
  invalid_request: 400,
  unauthorized: 401,
  invalid_token: 401,
  invalid_code: 401,
  user_blocked: 403,
  csrf_rejected: 403,
  rate_limited: 429,
  wechat_error: 502,
  wechat_busy: 503,
  store_unavailable: 503,
  wechat_timeout: 504,
};

// An answer in the edge's error format: {error, message} (+ Retry-After).
function edgeError(code, opts = {}) {
  const headers = {};
  if (opts.retryAfter !== undefined) headers['Retry-After'] = String(opts.retryAfter);
  if (code === 'unauthorized' || code === 'invalid_token') headers['WWW-Authenticate'] = 'Bearer realm="wechat"';
  return { status: opts.status || STATUS[code], body: { error: code, message: 'fake edge: ' + code }, headers };
}

async function startFakeEdge() {
  const state = {
    tokens: new Map(), // token -> {openid, revoked}
    usedCodes: new Set(),
    logins: 0, // POST /login calls
    hits: {}, // path -> count
    log: [], // {method, path, authorization, body}
    loginScript: [], // forced answers for the next /login calls
    scripts: new Map(), // path -> forced answers (after the Bearer check)
    renew: null, // {header, expiresHeader, expiresIn, revokeOld}: the next authenticated answer renews
    loginDelayMs: 0,
    seq: 0,
  };

  function issue(openid) {
    const token = 'tok' + (++state.seq) + '.' + crypto.randomBytes(12).toString('base64url');
    state.tokens.set(token, { openid, revoked: false });
    return token;
  }

  async function handle(req, res) {
    const url = new URL(req.url, 'http://fake');
    const path = url.pathname;
    const raw = await readBody(req);
    let body = null;
    try { body = raw ? JSON.parse(raw) : null; } catch { body = raw; }
    state.hits[path] = (state.hits[path] || 0) + 1;
    state.log.push({ method: req.method, path, authorization: req.headers.authorization, body, contentType: req.headers['content-type'] });

    if (path === '/login') {
      state.logins++;
      if (state.loginDelayMs) await new Promise((r) => setTimeout(r, state.loginDelayMs));
      if (req.method !== 'POST') return json(res, 405, { error: 'method_not_allowed' }, { Allow: 'POST' });
      const forced = state.loginScript.shift();
      if (forced) return json(res, forced.status, forced.body, forced.headers);
      const code = body && typeof body === 'object' ? body.code : undefined;
      if (!code) { const e = edgeError('invalid_request'); return json(res, e.status, e.body); }
      if (state.usedCodes.has(code)) { const e = edgeError('invalid_code'); return json(res, e.status, e.body); }
      state.usedCodes.add(code);
      const user = String(code).split('.')[0];
      const openid = 'o-' + user;
      return json(res, 200, { token: issue(openid), token_type: 'Bearer', expires_in: 7200, openid });
    }

    // Everything else is behind the gate, as with wechat_auth.
    const m = /^Bearer (.+)$/i.exec(req.headers.authorization || '');
    if (!m) { const e = edgeError('unauthorized'); return json(res, e.status, e.body, e.headers); }
    const token = m[1];
    const sess = state.tokens.get(token);
    if (!sess || sess.revoked) { const e = edgeError('invalid_token'); return json(res, e.status, e.body, e.headers); }

    const extra = {};
    if (state.renew && path !== '/logout') {
      const r = state.renew;
      state.renew = null;
      extra[r.header || 'X-Wechat-Token'] = issue(sess.openid);
      if (r.expiresIn !== undefined) extra[r.expiresHeader || 'X-Wechat-Token-Expires-In'] = String(r.expiresIn);
      if (r.revokeOld) sess.revoked = true;
    }

    const queue = state.scripts.get(path);
    if (queue && queue.length) {
      const forced = queue.shift();
      return json(res, forced.status, forced.body, Object.assign({}, extra, forced.headers));
    }

    const slow = Number(url.searchParams.get('delay') || 0);
    if (slow) await new Promise((r) => setTimeout(r, slow));

    switch (path) {
      case '/api/me':
        return json(res, 200, { openid: sess.openid, appid: 'wx0123456789abcdef' }, extra);
      case '/api/always401': {
        const e = edgeError('invalid_token');
        return json(res, e.status, e.body, e.headers);
      }
      case '/api/phone': {
        const code = body && body.code;
        if (!code) { const e = edgeError('invalid_request', { status: 400 }); return json(res, e.status, e.body); }
        if (String(code).startsWith('bad')) { const e = edgeError('invalid_code', { status: 400 }); return json(res, e.status, e.body); }
        return json(res, 200, { phoneNumber: '13800138000', purePhoneNumber: '13800138000', countryCode: '86' }, extra);
      }
      case '/session/ticket':
        if (req.method !== 'POST') return json(res, 405, { error: 'method_not_allowed' }, { Allow: 'POST' });
        return json(res, 200, { ticket: 'tkt_' + crypto.randomBytes(9).toString('base64url') + '+/=', expires_in: 60 }, extra);
      case '/logout':
        if (req.method !== 'POST') return json(res, 405, { error: 'method_not_allowed' }, { Allow: 'POST' });
        sess.revoked = true;
        res.writeHead(204);
        return res.end();
      default:
        return json(res, 200, { openid: sess.openid, method: req.method, path, body }, extra);
    }
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      res.writeHead(500);
      res.end(String(err && err.stack));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = 'http://127.0.0.1:' + server.address().port;

  return {
    origin,
    state,
    // Forced answers: edge.script('/api/x', edgeError('wechat_busy', {retryAfter: 2}), ...)
    script(path, ...answers) {
      if (path === '/login') state.loginScript.push(...answers);
      else state.scripts.set(path, (state.scripts.get(path) || []).concat(answers));
    },
    renewNext(opts = {}) { state.renew = opts; },
    revokeAll() { for (const s of state.tokens.values()) s.revoked = true; },
    hits(path) { return state.hits[path] || 0; },
    requests(path) { return state.log.filter((r) => r.path === path); },
    reset() {
      state.logins = 0; state.hits = {}; state.log = []; state.loginScript = [];
      state.scripts = new Map(); state.renew = null; state.loginDelayMs = 0;
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

module.exports = { startFakeEdge, edgeError, STATUS };
