'use strict';
// Minimal upstream for the caddy-wechat plugin (Node.js standard library only).
//
// Caddy authenticates the WeChat session and proxies the request here with the
// trusted headers X-Openid, X-Unionid (only when known) and X-Wechat-Appid.
// Anonymous requests (allowed with `optional`) arrive with none of them.
//
// These headers are trustworthy only because this server listens on loopback
// (or a private network) where nothing but Caddy can reach it.

const http = require('node:http');
const { parseArgs } = require('node:util');

const MAX_ECHO_BODY = 64 * 1024;

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

function sendJSON(res, status, obj, extraHeaders = {}) {
  const payload = JSON.stringify(obj);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Cache-Control': 'no-store',
    'Content-Length': Buffer.byteLength(payload),
    ...extraHeaders,
  });
  res.end(payload);
}

function handler(req, res) {
  const openid = header(req, 'X-Openid');
  const unionid = header(req, 'X-Unionid');
  const appid = header(req, 'X-Wechat-Appid');
  const path = req.url.split('?', 1)[0];

  const chunks = [];
  let kept = 0;
  req.on('data', (chunk) => {
    if (kept < MAX_ECHO_BODY) {
      const part = chunk.subarray(0, MAX_ECHO_BODY - kept);
      chunks.push(part);
      kept += part.length;
    }
  });
  req.on('end', () => {
    if (path === '/api/me') {
      if (req.method !== 'GET') {
        return sendJSON(res, 405, { error: 'method not allowed' }, { Allow: 'GET' });
      }
      if (!openid) return sendJSON(res, 401, { error: 'unauthorized' });
      const me = { openid, appid };
      if (unionid) me.unionid = unionid;
      return sendJSON(res, 200, me);
    }
    const headers = {};
    for (const [name, values] of Object.entries(req.headersDistinct)) {
      headers[canonical(name)] = values;
    }
    sendJSON(res, 200, {
      backend: 'node',
      method: req.method,
      path,
      openid,
      unionid,
      appid,
      headers,
      body: Buffer.concat(chunks).toString('utf8'),
    });
  });
}

function createServer() {
  return http.createServer(handler);
}

// "host:port" or "[v6]:port" -> { host, port }
function parseAddr(addr) {
  const i = addr.lastIndexOf(':');
  return { host: addr.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(addr.slice(i + 1)) };
}

if (require.main === module) {
  const { values } = parseArgs({
    options: { addr: { type: 'string', default: process.env.ADDR || '127.0.0.1:9002' } },
  });
  const { host, port } = parseAddr(values.addr);
  createServer().listen(port, host, () => {
    console.log(`node backend listening on http://${values.addr}`);
  });
}

module.exports = { createServer, handler, MAX_ECHO_BODY };
