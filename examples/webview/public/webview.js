// webview.js: the H5 page that a Mini Program opens in <web-view> as
// enter?ticket=<one-time ticket from POST /session/ticket>.
//
// It trades the ticket for an HttpOnly session cookie (POST /login), then
// calls the API with that cookie. The page never sees a token: the edge
// keeps it in the cookie, which JavaScript cannot read, and nothing is put
// in localStorage or in the URL.
(function () {
  'use strict';

  var $ = function (id) { return document.getElementById(id); };

  // Bounded calls: a stalled edge shows an error instead of "signing in…" forever.
  var TIMEOUT_MS = 10000;

  // The edge's origin. Empty data-edge and no ?edge=: this page's own origin,
  // as in the demo, where the edge serves the page under /h5/. A page on its
  // own host names the edge in <body data-edge="https://edge.example.com">;
  // ?edge=<origin> does the same for trying a page without editing it, and is
  // read only when data-edge is empty, so a deployed page talks to one edge.
  function edgeOrigin(params) {
    var given = document.body.getAttribute('data-edge') || params.get('edge') || '';
    if (!given) return '';
    try {
      var u = new URL(given);
      if (u.protocol === 'https:' || u.protocol === 'http:') return u.origin;
    } catch (e) { /* fall through */ }
    throw new Error('the edge origin ' + JSON.stringify(given) + ' is not an http(s) URL');
  }

  // data-state on <body> is what a test (or CSS) waits on:
  // loading, signed-in, signed-out or error.
  function setState(state, text) {
    document.body.setAttribute('data-state', state);
    $('state').textContent = text;
    $('logout').disabled = state !== 'signed-in';
  }

  function showError(status, body) {
    var el = $('error');
    var code = (body && body.error) || 'error';
    var message = (body && body.message) || '';
    el.setAttribute('data-code', code);
    el.setAttribute('data-status', String(status));
    // textContent, never innerHTML: the message comes from the network.
    el.textContent = code + (message ? ': ' + message : '') + (status ? ' (HTTP ' + status + ')' : '');
    el.hidden = false;
  }

  function clearError() {
    var el = $('error');
    el.hidden = true;
    el.textContent = '';
    el.removeAttribute('data-code');
    el.removeAttribute('data-status');
  }

  // One call to the edge, with the cookie (credentials: "include" sends it
  // cross-origin too, where the edge's CORS allows this page's origin).
  // Resolves with {status, body}; a network failure is status 0.
  function call(edge, method, path, json) {
    var init = { method: method, credentials: 'include', cache: 'no-store', headers: {} };
    if (json !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(json);
    }
    if (typeof AbortSignal !== 'undefined' && AbortSignal.timeout) init.signal = AbortSignal.timeout(TIMEOUT_MS);
    return fetch(edge + path, init).then(function (res) {
      $('last').textContent = method + ' ' + path + ' → ' + res.status;
      return res.text().then(function (text) {
        var body = null;
        try { body = text ? JSON.parse(text) : null; } catch (e) { body = { error: 'bad_response', message: text.slice(0, 200) }; }
        return { status: res.status, body: body };
      });
    }, function (err) {
      $('last').textContent = method + ' ' + path + ' → network error';
      return { status: 0, body: { error: 'network_error', message: String(err && err.message || err) } };
    });
  }

  function checkMe(edge) {
    return call(edge, 'GET', '/api/me').then(function (r) {
      if (r.status === 200 && r.body && r.body.openid) {
        clearError();
        $('openid').textContent = r.body.openid;
        setState('signed-in', 'signed in with the session cookie');
        return;
      }
      $('openid').textContent = '';
      showError(r.status, r.body);
      if (r.status === 401) setState('signed-out', 'not signed in: open this page from the Mini Program');
      else setState('error', 'GET /api/me failed');
    });
  }

  function logout(edge) {
    return call(edge, 'POST', '/logout').then(function (r) {
      if (r.status === 204 || r.status === 401) {
        // 401: the session had already ended; either way it is over now.
        clearError();
        $('openid').textContent = '';
        setState('signed-out', 'signed out');
        return;
      }
      showError(r.status, r.body);
    });
  }

  function start() {
    var params = new URLSearchParams(location.search);
    var ticket = params.get('ticket');
    if (ticket !== null) {
      // Out of the URL at once: not in history, not in a reload, not in a
      // link the user copies. The ticket is single use and lasts 60 s, but a
      // URL outlives both.
      params.delete('ticket');
      var rest = params.toString();
      history.replaceState(history.state, '', location.pathname + (rest ? '?' + rest : '') + location.hash);
    }

    var edge;
    try {
      edge = edgeOrigin(params);
    } catch (e) {
      showError(0, { error: 'bad_config', message: e.message });
      setState('error', 'misconfigured page');
      return;
    }

    $('logout').addEventListener('click', function () { logout(edge); });
    $('recheck').addEventListener('click', function () { checkMe(edge); });

    // No ticket (a reload, or the page opened again): the cookie, if any,
    // still holds the session, so just ask who we are.
    if (!ticket) { checkMe(edge); return; }

    call(edge, 'POST', '/login', { ticket: ticket }).then(function (r) {
      // 200 {"token_type":"cookie","expires_in","openid"}: the cookie is set,
      // and the body has no token by design.
      if (r.status === 200 && r.body && r.body.token_type === 'cookie') return checkMe(edge);
      showError(r.status, r.body);
      setState('error', 'the ticket was not accepted');
    });
  }

  start();
})();
