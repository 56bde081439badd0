// utils/request.js: the caddy-wechat client for uni-app (mp-weixin).
//
// Copy utils/request.js and utils/edge-core.js into your project and set EDGE.
// ES module syntax, as uni-app Vue 3 projects require; no Node APIs.
//
//   import { client } from '@/utils/request.js';
//   client().start();                          // App.vue onLaunch: log in (or reuse the stored token)
//   const res = await client().get('/api/me'); // Authorization: Bearer <token> is added
//   res.data.openid
//
// Errors reject with an EdgeError: err.message is a sentence for the user
// (Chinese), err.code the edge's error code, err.statusCode the HTTP status.
import { createEdgeClient, platformAdapter, isEdgeError, messageFor, webviewUrl, MESSAGES } from './edge-core.js';

// The origin of your Caddy edge (wechat_login + wechat_auth). In production
// it must be HTTPS and listed in the Mini Program admin under
// 开发管理 → 开发设置 → 服务器域名 → request 合法域名.
export const EDGE = 'https://edge.example.com';

// create(options): a new client. options.edge overrides EDGE; options.api
// replaces the uni global (tests); see edge-core.js for the other options
// (appid, storageKey, timeout, maxRetryAfter, expiryMarginSeconds).
export function create(options) {
  const o = Object.assign({}, options);
  if (!o.edge) o.edge = EDGE;
  const api = o.api || uni;
  return createEdgeClient(Object.assign(o, { adapter: o.adapter || platformAdapter(api, { provider: 'weixin' }) }));
}

// client(): the app-wide client, created on first use; pages share it.
let shared = null;
export function client() {
  if (!shared) shared = create();
  return shared;
}

export { isEdgeError, messageFor, webviewUrl, MESSAGES };
