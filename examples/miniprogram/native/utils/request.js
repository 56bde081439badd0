// utils/request.js: the caddy-wechat client for a native WeChat Mini Program.
//
// Copy utils/request.js and utils/edge-core.js into your project and set EDGE.
// CommonJS (module.exports), which Mini Programs support; no Node APIs.
//
//   const { client } = require('../../utils/request.js');
//   client().start();                        // app.js onLaunch: log in (or reuse the stored token)
//   const res = await client().get('/api/me'); // Authorization: Bearer <token> is added
//   res.data.openid
//
// Errors reject with an EdgeError: err.message is a sentence for the user
// (Chinese), err.code the edge's error code, err.statusCode the HTTP status.
const core = require('./edge-core.js');

// The origin of your Caddy edge (wechat_login + wechat_auth). In production
// it must be HTTPS and listed in the Mini Program admin under
// 开发管理 → 开发设置 → 服务器域名 → request 合法域名.
const EDGE = 'https://edge.example.com';

// create(options): a new client. options.edge overrides EDGE; options.api
// replaces the wx global (tests); see edge-core.js for the other options
// (appid, storageKey, timeout, maxRetryAfter, expiryMarginSeconds).
function create(options) {
  const o = Object.assign({}, options);
  if (!o.edge) o.edge = EDGE;
  const api = o.api || wx;
  return core.createEdgeClient(Object.assign(o, { adapter: o.adapter || core.platformAdapter(api) }));
}

// client(): the app-wide client, created on first use; pages share it.
let shared = null;
function client() {
  if (!shared) shared = create();
  return shared;
}

module.exports = {
  EDGE,
  create,
  client,
  isEdgeError: core.isEdgeError,
  messageFor: core.messageFor,
  webviewUrl: core.webviewUrl,
  MESSAGES: core.MESSAGES,
};
