// app.js: log in on launch. The client reads the stored token back first
// and calls wx.login + POST /login only when there is none (or it expired);
// pages that send requests meanwhile wait for this same login.
const { client } = require('./utils/request.js');

App({
  onLaunch() {
    client().start().catch((err) => {
      // err.message is already the sentence to show (see utils/edge-core.js).
      wx.showToast({ title: err.message, icon: 'none' });
    });
  },
});
