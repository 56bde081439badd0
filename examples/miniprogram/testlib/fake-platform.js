'use strict';
// A fake `wx` / `uni` for Node: login, request (real HTTP), storage.
// wx.request semantics that matter here: success for every HTTP status,
// fail only for network errors; JSON bodies parsed (dataType 'json');
// object data sent as JSON (POST) or as a query string (GET);
// res.header keeps the server's header-name casing.
const http = require('node:http');
const crypto = require('node:crypto');

function hasHeader(header, name) {
  return Object.keys(header || {}).some((k) => k.toLowerCase() === name.toLowerCase());
}

function encodeQuery(obj) {
  return Object.keys(obj).map((k) => encodeURIComponent(k) + '=' + encodeURIComponent(obj[k])).join('&');
}

function realRequest(o) {
  return new Promise((resolve, reject) => {
    const method = (o.method || 'GET').toUpperCase();
    let url = o.url;
    const header = Object.assign({}, o.header);
    let payload = null;
    if (o.data !== undefined && o.data !== null) {
      if (method === 'GET') {
        if (typeof o.data === 'object') {
          const q = encodeQuery(o.data);
          if (q) url += (url.includes('?') ? '&' : '?') + q;
        }
      } else if (typeof o.data === 'string') {
        payload = o.data;
      } else {
        payload = JSON.stringify(o.data);
      }
    }
    if (!hasHeader(header, 'content-type')) header['content-type'] = 'application/json'; // wx's default
    if (payload !== null) header['Content-Length'] = Buffer.byteLength(payload);
    const req = http.request(url, { method, headers: header }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const resHeader = {};
        for (let i = 0; i < res.rawHeaders.length; i += 2) resHeader[res.rawHeaders[i]] = res.rawHeaders[i + 1];
        let data = text;
        if ((o.dataType || 'json') === 'json' && text) {
          try { data = JSON.parse(text); } catch { data = text; }
        }
        resolve({ statusCode: res.statusCode, data, header: resHeader, errMsg: 'request:ok' });
      });
    });
    req.setTimeout(o.timeout || 60000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    if (payload !== null) req.write(payload);
    req.end();
  });
}

// makePlatform({user}): codes are `${user}.${n}`; user defaults to a random `mp<hex>`,
// the form the demo's simulator accepts (the part before the first '.' names the user).
function makePlatform(opts = {}) {
  const user = opts.user || 'mp' + crypto.randomBytes(6).toString('hex');
  const storage = opts.storage || new Map();
  const calls = { login: 0, request: 0, loginOptions: [], requests: [] };
  let n = 0;
  const api = {
    loginFails: false,
    login(o) {
      calls.login++;
      calls.loginOptions.push(Object.assign({}, o));
      setTimeout(() => {
        if (api.loginFails) { o.fail && o.fail({ errMsg: 'login:fail network' }); return; }
        o.success && o.success({ code: user + '.' + (++n), errMsg: 'login:ok' });
      }, 1);
    },
    request(o) {
      calls.request++;
      calls.requests.push({ url: o.url, method: o.method, header: Object.assign({}, o.header), data: o.data });
      realRequest(o).then(
        (res) => { o.success && o.success(res); o.complete && o.complete(res); },
        (err) => {
          const e = { errMsg: 'request:fail ' + err.message };
          o.fail && o.fail(e); o.complete && o.complete(e);
        });
      return { abort() {} };
    },
    // Storage keeps JSON copies, as wx does.
    getStorageSync(k) { return storage.has(k) ? JSON.parse(storage.get(k)) : ''; },
    setStorageSync(k, v) { storage.set(k, JSON.stringify(v)); },
    removeStorageSync(k) { storage.delete(k); },
    showToast() {},
    navigateTo() {},
  };
  return { api, calls, storage, user };
}

module.exports = { makePlatform, realRequest };
