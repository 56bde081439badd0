// pages/index/index.js: the edge's features, one button each.
// Every call goes through utils/request.js, which adds the Bearer token,
// logs in again once on a 401 and maps the edge's errors to messages.
const { client } = require('../../utils/request.js');

Page({
  data: {
    openid: '',
    phone: '',
    status: '',
  },

  onLoad() {
    // Waits for the launch login if it is still under way.
    return this.onMe();
  },

  // Show the error's user-facing message (err.message, Chinese) on the page and as a toast.
  showError(err) {
    this.setData({ status: err.message });
    wx.showToast({ title: err.message, icon: 'none' });
  },

  async onLogin() {
    try {
      const res = await client().login();
      // The openid is for display only: the backend identifies the user by
      // the X-Openid the edge sets, never by an openid the client sends.
      this.setData({ openid: res.openid, status: '' });
    } catch (err) {
      this.showError(err);
    }
  },

  async onMe() {
    try {
      const res = await client().get('/api/me');
      this.setData({ openid: res.data.openid, status: '' });
    } catch (err) {
      this.showError(err);
    }
  },

  // bindgetphonenumber: e.detail.code is the phone code (base library 2.21.2+);
  // it is absent when the user declines.
  async onGetPhoneNumber(e) {
    try {
      const p = await client().getPhoneNumber(e);
      this.setData({ phone: p.phoneNumber, status: '' });
    } catch (err) {
      this.showError(err);
    }
  },

  // The ticket lives 60 s and works once: ask for it right before opening the web-view.
  async onOpenH5() {
    try {
      const t = await client().createTicket();
      wx.navigateTo({ url: '/pages/webview/webview?ticket=' + encodeURIComponent(t.ticket) });
    } catch (err) {
      this.showError(err);
    }
  },

  async onLogout() {
    try {
      await client().logout();
      this.setData({ openid: '', phone: '', status: '已退出登录' }); // "logged out"
    } catch (err) {
      // The token is forgotten locally even when the edge could not revoke it.
      this.setData({ openid: '', phone: '' });
      this.showError(err);
    }
  },
});
