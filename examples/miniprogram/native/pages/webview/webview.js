// pages/webview/webview.js: opens the H5 page with the one-time ticket
// that pages/index got from POST /session/ticket.
const { webviewUrl, EDGE } = require('../../utils/request.js');

// The H5 page's entry: by default the page the edge itself serves under
// /h5/, as the demo Caddyfile does (examples/webview), so the demo works with
// EDGE alone. A page on its own host ('https://h5.example.com/enter') must be
// a 业务域名 too, and its origin in the edge's cookie { allowed_origins }.
const H5_ENTRY = EDGE + '/h5/enter';

function decode(s) {
  try { return decodeURIComponent(s); } catch (e) { return s; }
}

Page({
  data: { src: '', status: '' },

  onLoad(query) {
    const ticket = decode((query && query.ticket) || '');
    if (!ticket) {
      this.setData({ status: '缺少登录票据，请返回重试' }); // "no ticket, go back and retry"
      return;
    }
    this.setData({ src: webviewUrl(H5_ENTRY, ticket) });
  },
});
