// The platform-neutral core of the caddy-wechat client.
//
// It talks to a Caddy edge running wechat_login / wechat_auth:
//   POST {edge}/login {"code"}  -> {token, token_type: "Bearer", expires_in, openid, unionid?}
//   every other call            -> Authorization: Bearer <token>
//   X-Wechat-Token (+ X-Wechat-Token-Expires-In) on an answer -> the edge renewed the token
//
// It knows nothing of wx or uni: createEdgeClient() takes an adapter
// {login, request, getStorage, setStorage, removeStorage}; platformAdapter()
// builds one from wx or uni, whose callback APIs have the same shape.
//
// Runs in the Mini Program runtime: no Node APIs, no URL/Buffer/process,
// and nothing newer than ES2017 (async/await), so it needs no polyfill.

var DEFAULTS = {
  storageKey: 'caddy_wechat_session', // wx/uni storage key holding {token, expiresAt, openid, unionid}
  timeout: 10000, // ms, per wx.request
  maxRetryAfter: 5, // s: a 429 whose Retry-After is at most this is retried once after waiting; longer ones are surfaced
  expiryMarginSeconds: 60 // a stored token this close to its expires_in counts as expired, so we log in first
};

// User-facing messages, keyed by the edge's `error` code.
var MESSAGES = {
  wechat_busy: '服务繁忙，请稍后再试', // 503 + Retry-After: WeChat busy, or every login slot in use
  user_blocked: '该微信账号存在安全风险，暂时无法登录', // 403: WeChat refused a high-risk user (40226)
  rate_limited: '操作太频繁，请稍后再试', // 429: with Retry-After the message says how many seconds
  wechat_timeout: '微信服务响应超时，请稍后重试', // 504: WeChat did not answer in time
  wechat_error: '微信服务暂时不可用，请稍后重试', // 502: WeChat unreachable, or the operator's appid/secret is wrong
  invalid_code: '登录凭证已失效，请重新登录', // 401 from /login, still after one fresh wx.login
  csrf_rejected: '请求来源校验失败，请重新打开小程序后再试', // 403: the edge refused the request's origin
  store_unavailable: '服务暂时不可用，请稍后再试', // 503: the edge's session store is down
  unauthorized: '登录已失效，请重新登录', // 401 from the gate (no token), still after one re-login
  invalid_token: '登录已失效，请重新登录', // 401 from the gate (bad/expired token), still after one re-login
  invalid_request: '请求参数有误', // 400
  request_too_large: '请求内容过大', // 413
  phone_code_invalid: '手机号授权已失效，请重新授权', // 400 invalid_code from /api/phone: the phone code, not the session
  phone_denied: '需要授权手机号才能继续', // the user declined the getPhoneNumber button (no code)
  network_error: '网络异常，请检查网络后重试', // wx.request failed: offline, DNS, TLS, timeout
  wx_login_failed: '微信登录失败，请稍后重试', // wx.login itself failed
  logged_out: '已退出登录', // a login that finished after logout() was dropped
  bad_response: '服务返回异常，请稍后重试', // a 2xx answer without the fields we need
  server_error: '服务暂时不可用，请稍后再试', // any other 5xx
  unknown: '请求失败，请稍后重试' // any other 4xx
};

// messageFor(code, {statusCode, retryAfter}) -> the Chinese sentence to show.
function messageFor(code, info) {
  info = info || {};
  if (code === 'invalid_code' && info.statusCode === 400) return MESSAGES.phone_code_invalid;
  if (code === 'rate_limited' && info.retryAfter > 0) return '操作太频繁，请 ' + info.retryAfter + ' 秒后再试'; // "too many attempts, retry in N s"
  if (Object.prototype.hasOwnProperty.call(MESSAGES, code)) return MESSAGES[code];
  if (info.statusCode >= 500) return MESSAGES.server_error;
  return MESSAGES.unknown;
}

// Errors are plain Error objects with name 'EdgeError' (no subclass of Error:
// ES5-transpiled subclasses of built-ins break instanceof on some runtimes).
// err.message is for the user; err.code is the edge's code (or ours);
// err.serverMessage is the edge's English message, for logs.
function edgeError(code, statusCode, extra) {
  extra = extra || {};
  var err = new Error(messageFor(code, { statusCode: statusCode, retryAfter: extra.retryAfter }));
  err.name = 'EdgeError';
  err.code = code;
  err.statusCode = statusCode || 0;
  err.retryAfter = extra.retryAfter;
  err.serverMessage = extra.serverMessage;
  err.detail = extra.detail;
  err.data = extra.data;
  return err;
}

function isEdgeError(err) {
  return !!err && err.name === 'EdgeError' && typeof err.code === 'string';
}

// Header names are case-insensitive; wx.request gives res.header with the
// server's casing (and HTTP/2 lower-cases everything).
function headerValue(header, name) {
  if (!header || typeof header !== 'object') return undefined;
  var want = name.toLowerCase();
  var keys = Object.keys(header);
  for (var i = 0; i < keys.length; i++) {
    if (keys[i].toLowerCase() !== want) continue;
    var v = header[keys[i]];
    if (Array.isArray(v)) v = v[0];
    return v === undefined || v === null ? undefined : String(v);
  }
  return undefined;
}

// Retry-After: delay-seconds or an HTTP date. Returns whole seconds or undefined.
function parseRetryAfter(value, nowMs) {
  if (value === undefined || value === null) return undefined;
  var s = String(value).trim();
  if (/^\d+$/.test(s)) return parseInt(s, 10);
  var t = Date.parse(s);
  if (!isNaN(t)) return Math.max(0, Math.ceil((t - nowMs) / 1000));
  return undefined;
}

// wx.request parses JSON itself (dataType 'json'); be lenient if it did not.
function bodyOf(res) {
  var d = res.data;
  if (typeof d === 'string' && d) {
    try { return JSON.parse(d); } catch (e) { return d; }
  }
  return d;
}

// webviewUrl('https://h5.example.com/enter', t) -> 'https://h5.example.com/enter?ticket=<t>'
function webviewUrl(base, ticket) {
  return base + (base.indexOf('?') >= 0 ? '&' : '?') + 'ticket=' + encodeURIComponent(ticket);
}

// platformAdapter(wx) or platformAdapter(uni, {provider: 'weixin'}).
function platformAdapter(api, loginOptions) {
  return {
    login: function () {
      return new Promise(function (resolve, reject) {
        api.login(Object.assign({}, loginOptions, {
          success: function (res) {
            if (res && res.code) resolve(res.code);
            else reject(edgeError('wx_login_failed', 0, { detail: res && res.errMsg }));
          },
          fail: function (e) { reject(edgeError('wx_login_failed', 0, { detail: e && e.errMsg })); }
        }));
      });
    },
    request: function (o) {
      return new Promise(function (resolve, reject) {
        api.request({
          url: o.url,
          method: o.method,
          data: o.data,
          header: o.header,
          timeout: o.timeout,
          dataType: 'json',
          success: function (res) {
            resolve({ statusCode: res.statusCode, data: res.data, header: res.header || {} });
          },
          fail: function (e) { reject(edgeError('network_error', 0, { detail: e && e.errMsg })); }
        });
      });
    },
    getStorage: function (key) {
      try { return api.getStorageSync(key); } catch (e) { return null; }
    },
    setStorage: function (key, value) {
      try { api.setStorageSync(key, value); } catch (e) { /* storage full: keep the in-memory copy */ }
    },
    removeStorage: function (key) {
      try { api.removeStorageSync(key); } catch (e) { /* nothing to do */ }
    }
  };
}

// createEdgeClient({edge, adapter, appid?, storageKey?, timeout?, maxRetryAfter?,
//                   expiryMarginSeconds?, now?, sleep?})
function createEdgeClient(options) {
  var opts = Object.assign({}, DEFAULTS);
  Object.keys(options || {}).forEach(function (k) {
    if (options[k] !== undefined) opts[k] = options[k]; // an option given as undefined keeps its default
  });
  if (!opts.edge) throw new Error('createEdgeClient: `edge` (the origin of your Caddy edge) is required');
  if (!opts.adapter) throw new Error('createEdgeClient: `adapter` is required');
  var edge = String(opts.edge).replace(/\/+$/, '');
  var adapter = opts.adapter;
  var now = opts.now || function () { return Date.now(); };
  var sleep = opts.sleep || function (ms) { return new Promise(function (r) { setTimeout(r, ms); }); };

  var session = null; // {token, expiresAt (ms, 0 = unknown), openid, unionid}
  var loginInFlight = null; // the one login every caller shares
  var epoch = 0; // bumped by logout(), so a login that finishes afterwards is dropped

  function loadSession() {
    var s = adapter.getStorage(opts.storageKey);
    session = s && typeof s === 'object' && typeof s.token === 'string' && s.token ? s : null;
    return session;
  }

  function saveSession(s) {
    session = s;
    if (s) adapter.setStorage(opts.storageKey, s);
    else adapter.removeStorage(opts.storageKey);
  }

  function usable() {
    if (!session) return false;
    if (!session.expiresAt) return true; // unknown lifetime: the edge's 401 will tell us
    return now() < session.expiresAt - opts.expiryMarginSeconds * 1000;
  }

  function expiresAt(seconds) {
    var n = Number(seconds);
    return n > 0 ? now() + n * 1000 : 0;
  }

  function send(path, method, data, header) {
    return adapter.request({
      url: edge + path,
      method: method,
      data: data,
      header: header,
      timeout: opts.timeout
    });
  }

  function errorFrom(res, data) {
    var code = data && typeof data === 'object' && typeof data.error === 'string' ? data.error : null;
    if (!code) code = res.statusCode >= 500 ? 'server_error' : 'unknown';
    return edgeError(code, res.statusCode, {
      retryAfter: parseRetryAfter(headerValue(res.header, 'Retry-After'), now()),
      serverMessage: data && typeof data === 'object' ? data.message : undefined,
      data: data
    });
  }

  // A 429 is retried once, after Retry-After, if that is short enough.
  function shortWait(err) {
    return err.statusCode === 429 && err.retryAfter !== undefined && err.retryAfter <= opts.maxRetryAfter;
  }

  async function doLogin() {
    var myEpoch = epoch;
    var freshCodeTried = false;
    var waited = false;
    var code = await adapter.login();
    for (;;) {
      var body = { code: code };
      if (opts.appid) body.appid = opts.appid;
      var res = await send('/login', 'POST', body, { 'Content-Type': 'application/json' });
      var data = bodyOf(res);
      if (res.statusCode === 200) {
        if (!data || typeof data.token !== 'string' || !data.token) throw edgeError('bad_response', 200, { data: data });
        if (myEpoch !== epoch) throw edgeError('logged_out', 0);
        saveSession({
          token: data.token,
          expiresAt: expiresAt(data.expires_in),
          openid: data.openid,
          unionid: data.unionid
        });
        return data;
      }
      var err = errorFrom(res, data);
      if (err.code === 'invalid_code' && res.statusCode === 401 && !freshCodeTried) {
        // The code was used or expired: get a fresh one from wx.login, once.
        freshCodeTried = true;
        code = await adapter.login();
        continue;
      }
      if (shortWait(err) && !waited) {
        // Same code: the edge's limiter answers before the code is spent; if
        // WeChat had spent it, the retry gets invalid_code and the branch above.
        waited = true;
        await sleep(err.retryAfter * 1000);
        continue;
      }
      throw err;
    }
  }

  // login(): a fresh login. Callers that arrive while one is under way share it.
  function login() {
    if (loginInFlight) return loginInFlight;
    var p = doLogin();
    loginInFlight = p;
    var done = function () { if (loginInFlight === p) loginInFlight = null; };
    p.then(done, done);
    return p;
  }

  // start(): on launch. Reads the stored token back; logs in if there is none
  // or it is (about to be) expired. Resolves with the session.
  function start() {
    loadSession();
    if (usable()) return Promise.resolve(session);
    return login().then(function () { return session; });
  }

  async function currentToken() {
    if (loginInFlight) await loginInFlight;
    if (!usable()) await login();
    return session.token;
  }

  // The edge slid the session: keep the new token, unless this answer is
  // late (a newer login or a logout happened since it was sent).
  function pickUpRenewal(res, sentToken) {
    var renewed = headerValue(res.header, 'X-Wechat-Token');
    if (!renewed || !sentToken || res.statusCode === 401) return;
    if (!session || session.token !== sentToken) return;
    saveSession({
      token: renewed,
      expiresAt: expiresAt(headerValue(res.header, 'X-Wechat-Token-Expires-In')),
      openid: session.openid,
      unionid: session.unionid
    });
  }

  // request({path, method, data, header, auth = true, retryOn401 = true})
  //   -> {statusCode, data, header} for 2xx; rejects with an EdgeError otherwise.
  async function request(o) {
    var method = (o.method || 'GET').toUpperCase();
    var auth = o.auth !== false;
    var retried401 = false;
    var retried429 = false;
    for (;;) {
      var token = auth ? await currentToken() : null;
      var header = Object.assign({}, o.header);
      if (token) header.Authorization = 'Bearer ' + token;
      var res = await send(o.path, method, o.data, header);
      if (auth) pickUpRenewal(res, token);
      var data = bodyOf(res);
      if (res.statusCode >= 200 && res.statusCode < 300) {
        return { statusCode: res.statusCode, data: data, header: res.header };
      }
      var err = errorFrom(res, data);
      if (auth && res.statusCode === 401 && (err.code === 'unauthorized' || err.code === 'invalid_token') &&
          !retried401 && o.retryOn401 !== false) {
        // The edge refused our token: log in again (shared with every other
        // request that saw the same 401) and retry this request once.
        retried401 = true;
        if (session && session.token === token) saveSession(null);
        continue;
      }
      if (shortWait(err) && !retried429) {
        retried429 = true;
        await sleep(err.retryAfter * 1000);
        continue;
      }
      throw err;
    }
  }

  function get(path, o) {
    return request(Object.assign({}, o, { path: path, method: 'GET' }));
  }

  function post(path, data, o) {
    return request(Object.assign({}, o, {
      path: path,
      method: 'POST',
      data: data,
      header: Object.assign({ 'Content-Type': 'application/json' }, o && o.header)
    }));
  }

  // The handler of <button open-type="getPhoneNumber" bindgetphonenumber>.
  // Resolves with {phoneNumber, purePhoneNumber, countryCode}.
  async function getPhoneNumber(e) {
    var detail = (e && e.detail) || {};
    if (!detail.code) throw edgeError('phone_denied', 0, { detail: detail.errMsg });
    var res = await post('/api/phone', { code: detail.code });
    if (!res.data || !res.data.phoneNumber) throw edgeError('bad_response', res.statusCode, { data: res.data });
    return res.data;
  }

  // A one-time ticket for a web-view: {ticket, expires_in}.
  async function createTicket() {
    var res = await request({ path: '/session/ticket', method: 'POST' });
    if (!res.data || typeof res.data.ticket !== 'string' || !res.data.ticket) {
      throw edgeError('bad_response', res.statusCode, { data: res.data });
    }
    return res.data;
  }

  // POST /logout (expects 204), then forget the token whatever the answer:
  // a 401 means it was already dead; any other error is passed on, but the
  // device is logged out either way. Never logs in.
  async function logout() {
    epoch++;
    if (loginInFlight) await loginInFlight.catch(function () {});
    var token = session && session.token;
    if (!token) { saveSession(null); return { statusCode: 204, local: true }; }
    try {
      var res = await send('/logout', 'POST', undefined, { Authorization: 'Bearer ' + token });
      if ((res.statusCode >= 200 && res.statusCode < 300) || res.statusCode === 401) return { statusCode: res.statusCode };
      throw errorFrom(res, bodyOf(res));
    } finally {
      saveSession(null);
    }
  }

  return {
    start: start,
    login: login,
    request: request,
    get: get,
    post: post,
    getPhoneNumber: getPhoneNumber,
    createTicket: createTicket,
    logout: logout,
    session: function () { return session ? Object.assign({}, session) : null; },
    token: function () { return session ? session.token : null; }
  };
}
