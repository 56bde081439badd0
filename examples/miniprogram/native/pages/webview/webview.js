// pages/webview/webview.js: opens the H5 page with the one-time ticket
// that pages/index got from POST /session/ticket.
const { webviewUrl } = require('../../utils/request.js');

// The H5 page's entry (not part of this project).
const H5_ENTRY = 'https://h5.example.com/enter';

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
