'use strict';
// The web-view page (examples/webview/public) in a real headless Chromium,
// against the real demo: ./caddy with the demo Caddyfile, its wechat_mock
// simulator and the example Go backend. Start everything and run it with
//   examples/webview/test/run.sh ./caddy
// or, against a demo you started yourself (make -f xcaddy.mk run):
//   node --test examples/webview/test/
//
// The test plays the Mini Program over HTTP (code → token → ticket), then
// opens the page with the ticket as <web-view> would. Environment:
//   DEMO_EDGE      the edge origin (default http://localhost:8080)
//   DEMO_H5        another origin serving the page, allowed in the edge's
//                  cookie { allowed_origins } (run.sh sets it up); unset,
//                  the cross-origin test is skipped
//   CHROMIUM       the browser (default /usr/bin/chromium, Debian's package)
//   ARTIFACTS_DIR  where the screenshots go (default .build/artifacts in the repository)
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { chromium } = require('playwright-core');

const EDGE = (process.env.DEMO_EDGE || 'http://localhost:8080').replace(/\/$/, '');
const ENTRY = EDGE + '/h5/enter';
const H5 = (process.env.DEMO_H5 || '').replace(/\/$/, '');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const REPO = path.resolve(__dirname, '..', '..', '..');
const ARTIFACTS = path.resolve(process.env.ARTIFACTS_DIR || path.join(REPO, '.build', 'artifacts'));
const COOKIE = 'wechat_session'; // the demo Caddyfile's cookie { name }

// Every wait is bounded: a broken page fails in seconds, it never hangs.
const T = { timeout: 60000 };
const WAIT_MS = 10000;

// No network exists here but localhost: keep Chromium from trying any.
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// ---- the Mini Program's side, over HTTP from node ----

async function http(method, urlPath, { json, token } = {}) {
  const headers = {};
  if (json !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = 'Bearer ' + token;
  const res = await fetch(EDGE + urlPath, {
    method, headers, body: json === undefined ? undefined : JSON.stringify(json),
    signal: AbortSignal.timeout(WAIT_MS),
  });
  const text = await res.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (e) { body = text; }
  return { status: res.status, body };
}

// wx.login's code (the simulator takes any code once; the part before the
// dot names the user), POST /login, then POST /session/ticket.
async function miniProgram() {
  const code = 'wv' + crypto.randomBytes(6).toString('hex') + '.1';
  const login = await http('POST', '/login', { json: { code } });
  assert.equal(login.status, 200, 'POST /login {code}: ' + JSON.stringify(login.body));
  assert.equal(login.body.token_type, 'Bearer');
  assert.match(login.body.openid, /^o/);
  const t = await http('POST', '/session/ticket', { token: login.body.token });
  assert.equal(t.status, 200, 'POST /session/ticket: ' + JSON.stringify(t.body));
  assert.equal(t.body.expires_in, 60);
  assert.ok(typeof t.body.ticket === 'string' && t.body.ticket.length >= 22, 'a ticket of 128 bits or more');
  return { token: login.body.token, openid: login.body.openid, ticket: t.body.ticket };
}

const enterUrl = (ticket) => ENTRY + '?ticket=' + encodeURIComponent(ticket);

// ---- the browser's side ----

let browser;

// What the page did, printed when a test fails: its console, its errors,
// and the last responses it got.
function watch(page) {
  const log = [];
  const keep = (line) => { log.push(line); if (log.length > 60) log.shift(); };
  page.on('console', (m) => keep('console.' + m.type() + ': ' + m.text()));
  page.on('pageerror', (e) => keep('pageerror: ' + (e.stack || e.message)));
  page.on('requestfailed', (r) => keep('failed: ' + r.method() + ' ' + r.url() + ' ' + (r.failure() || {}).errorText));
  page.on('response', (r) => keep('response: ' + r.request().method() + ' ' + r.url() + ' → ' + r.status()));
  return log;
}

async function dom(page) {
  return page.evaluate(() => ({
    href: location.href,
    state: document.body.getAttribute('data-state'),
    stateText: document.getElementById('state').textContent,
    openid: document.getElementById('openid').textContent,
    last: document.getElementById('last').textContent,
    error: document.getElementById('error').hidden ? null : document.getElementById('error').textContent,
  })).catch((e) => ({ unreadable: e.message }));
}

// Waits until fn(arg) is true in the page; on timeout, fails with what the
// page shows instead of a bare "Timeout exceeded".
async function until(page, what, fn, arg) {
  try {
    await page.waitForFunction(fn, arg, { timeout: WAIT_MS });
  } catch (e) {
    throw new Error('waited ' + WAIT_MS + ' ms for ' + what + '; the page shows ' + JSON.stringify(await dom(page)));
  }
}
const untilState = (page, want) => until(page, 'data-state=' + want,
  (w) => document.body.getAttribute('data-state') === w, want);
// After a navigation: wait until the page has finished signing in, either
// way, then require the state wanted, so a page that ends in the wrong state
// fails at once and says what it shows.
async function loaded(page, want) {
  await until(page, 'the page to leave data-state=loading', () => document.body.getAttribute('data-state') !== 'loading');
  const got = await dom(page);
  assert.equal(got.state, want, 'data-state after loading; the page shows ' + JSON.stringify(got));
}
const untilError = (page, code, status) => until(page, '#error ' + code + ' (' + status + ')',
  ([c, s]) => { const e = document.getElementById('error'); return !e.hidden && e.dataset.code === c && e.dataset.status === String(s); },
  [code, status]);

// The page's next response to METHOD path. Start waiting before the action
// that causes it; the no-op catch keeps a wait that an earlier failure
// abandoned from becoming an unhandled rejection.
function nextResponse(page, method, p) {
  const w = page.waitForResponse((r) => r.request().method() === method && r.url() === EDGE + p);
  w.catch(() => {});
  return w;
}

async function screenshot(page, name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, name);
  await page.screenshot({ path: file, fullPage: true, timeout: WAIT_MS });
  console.log('screenshot: ' + file);
  return file;
}

// A fresh browser profile (cookie jar) and page per test; on failure, the
// page's log and DOM, and a screenshot, then the failure itself.
async function withPage(name, fn) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.setDefaultNavigationTimeout(WAIT_MS);
  const log = watch(page);
  try {
    await fn(page, context);
  } catch (err) {
    console.error('---- ' + name + ' failed; the page shows ' + JSON.stringify(await dom(page)));
    console.error('---- its console and last responses:\n' + (log.join('\n') || '(nothing)'));
    await screenshot(page, 'webview-failed-' + name + '.png').catch((e) => console.error('no screenshot: ' + e.message));
    throw err;
  } finally {
    await context.close().catch(() => {});
  }
}

describe('the web-view page in Chromium, against the demo at ' + EDGE, () => {
  before(async () => {
    assert.ok(fs.existsSync(CHROMIUM), CHROMIUM + ' is missing: apt-get install chromium (make -f xcaddy.mk webview does it)');
    const up = await http('GET', '/').catch((e) => ({ status: 0, body: e.message }));
    assert.equal(up.status, 200, 'the demo does not answer at ' + EDGE + ' (' + up.body + '): run examples/webview/test/run.sh ./caddy');
    // Failure screenshots of an earlier run would mislead.
    if (fs.existsSync(ARTIFACTS)) {
      for (const f of fs.readdirSync(ARTIFACTS)) if (/^webview-failed-.*\.png$/.test(f)) fs.rmSync(path.join(ARTIFACTS, f));
    }
    const t0 = Date.now();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true, timeout: 30000 });
    console.log('chromium ' + browser.version() + ' launched in ' + (Date.now() - t0) + ' ms');
  }, { timeout: 45000 });

  after(async () => {
    if (!browser) return;
    const t0 = Date.now();
    await browser.close();
    console.log('chromium closed in ' + (Date.now() - t0) + ' ms');
  });

  test('the page redeems the ticket, drops it from the URL, and shows the openid; the cookie is HttpOnly', T, async () => {
    const mp = await miniProgram();
    await withPage('signin', async (page, context) => {
      const sent = [];
      page.on('request', (r) => sent.push(r));
      const login = nextResponse(page, 'POST', '/login');
      await page.goto(enterUrl(mp.ticket));
      await loaded(page, 'signed-in');
      assert.equal(await page.textContent('#openid'), mp.openid, '#openid is the Mini Program user');

      // The page (its script, /login, /api/me) sent no Referer, which would
      // have carried the ticket while it was still in the URL.
      assert.deepEqual(sent.map((r) => r.method() + ' ' + r.url().replace(EDGE, '').split('?')[0]),
        ['GET /h5/enter', 'GET /h5/webview.js', 'POST /login', 'GET /api/me']);
      for (const r of sent) assert.equal(await r.headerValue('referer'), null, 'Referer of ' + r.url());

      // The page posted the ticket as JSON; the answer has no token in it.
      const res = await login;
      assert.deepEqual(res.request().postDataJSON(), { ticket: mp.ticket });
      const body = await res.json();
      assert.equal(res.status(), 200, JSON.stringify(body));
      assert.equal(body.token_type, 'cookie');
      assert.equal(body.openid, mp.openid);
      assert.ok(!('token' in body), 'no token in the /login body: ' + JSON.stringify(body));

      // The ticket is gone from the address bar and from history's entry.
      const loc = await page.evaluate(() => ({ search: location.search, href: location.href }));
      assert.equal(loc.search, '', 'location.search after history.replaceState');
      assert.ok(!loc.href.includes(mp.ticket), 'the ticket is still in ' + loc.href);

      // HttpOnly: the jar has the cookie, the page's JavaScript does not.
      const jsCookie = await page.evaluate(() => document.cookie);
      assert.ok(!jsCookie.includes(COOKIE), 'document.cookie shows ' + COOKIE + ': ' + jsCookie);
      const jar = await context.cookies(EDGE);
      const c = jar.find((x) => x.name === COOKIE);
      assert.ok(c, 'no ' + COOKIE + ' in the browser\'s jar: ' + JSON.stringify(jar.map((x) => x.name)));
      assert.equal(c.httpOnly, true, 'httpOnly');
      assert.equal(c.sameSite, 'Lax', 'sameSite (the default, lax)');
      assert.ok(!c.value.includes(mp.ticket), 'the cookie is not the ticket');

      // Nothing kept in web storage either.
      const stored = await page.evaluate(() => ({ local: localStorage.length, session: sessionStorage.length }));
      assert.deepEqual(stored, { local: 0, session: 0 }, 'localStorage and sessionStorage stay empty');

      await screenshot(page, 'webview.png');

      // A reload has no ticket any more; the cookie alone keeps the session.
      let relogins = 0;
      page.on('request', (r) => { if (r.url() === EDGE + '/login') relogins++; });
      const me = nextResponse(page, 'GET', '/api/me');
      await page.reload();
      assert.equal((await me).status(), 200, 'GET /api/me with the cookie after a reload');
      await loaded(page, 'signed-in');
      assert.equal(await page.textContent('#openid'), mp.openid);
      assert.equal(relogins, 0, 'the reload posted to /login again');
    });
  });

  test('logout on the page ends the session: the page, a copied cookie and the Mini Program\'s token get 401', T, async () => {
    const mp = await miniProgram();
    await withPage('logout', async (page, context) => {
      await page.goto(enterUrl(mp.ticket));
      await loaded(page, 'signed-in');
      const cookie = (await context.cookies(EDGE)).find((x) => x.name === COOKIE);
      assert.ok(cookie, 'signed in with a cookie');
      const before = await http('GET', '/api/me', { token: mp.token });
      assert.equal(before.status, 200, 'the Mini Program\'s token works before the logout');

      const out = nextResponse(page, 'POST', '/logout');
      await page.click('#logout');
      const res = await out;
      assert.equal(res.status(), 204, 'POST /logout: ' + await res.text());
      assert.equal(await res.request().headerValue('origin'), EDGE, 'the browser sent the page\'s own Origin');
      await untilState(page, 'signed-out');
      assert.equal(await page.textContent('#openid'), '');
      const left = (await context.cookies(EDGE)).filter((x) => x.name === COOKIE);
      assert.deepEqual(left, [], 'the logout\'s Set-Cookie cleared the cookie');

      // The page checks again: no cookie, 401 unauthorized, in the DOM.
      let me = nextResponse(page, 'GET', '/api/me');
      await page.click('#recheck');
      assert.equal((await me).status(), 401, 'GET /api/me after the logout');
      await untilError(page, 'unauthorized', 401);
      await screenshot(page, 'webview-signed-out.png');

      // Not just a deleted cookie: the session itself is over. The old
      // cookie, put back as a thief would, is refused...
      await context.addCookies([cookie]);
      me = nextResponse(page, 'GET', '/api/me');
      await page.click('#recheck');
      assert.equal((await me).status(), 401, 'GET /api/me with the copied cookie');
      await untilError(page, 'invalid_token', 401);
      assert.equal(await page.getAttribute('body', 'data-state'), 'signed-out');

      // ...and so is the Mini Program's Bearer token: the same session.
      const after = await http('GET', '/api/me', { token: mp.token });
      assert.equal(after.status, 401, 'the Mini Program\'s token after the page\'s logout: ' + JSON.stringify(after.body));
      assert.equal(after.body.error, 'invalid_token');
    });
  });

  test('the used ticket, opened again, shows invalid_ticket', T, async () => {
    const mp = await miniProgram();
    await withPage('used-ticket', async (page) => {
      await page.goto(enterUrl(mp.ticket));
      await loaded(page, 'signed-in');

      const login = nextResponse(page, 'POST', '/login');
      await page.goto(enterUrl(mp.ticket));
      const res = await login;
      assert.equal(res.status(), 401, 'the second redemption');
      assert.equal((await res.json()).error, 'invalid_ticket');
      await untilError(page, 'invalid_ticket', 401);
      assert.equal(await page.getAttribute('body', 'data-state'), 'error');
      assert.match(await page.textContent('#error'), /^invalid_ticket: .+ \(HTTP 401\)$/);
      assert.equal(await page.evaluate(() => location.search), '', 'the used ticket is dropped from the URL too');
    });
  });

  test('cross-origin: the page on its own origin finds the edge in ?edge=, and CORS with credentials carries the cookie',
    { ...T, skip: H5 ? false : 'DEMO_H5 is unset (examples/webview/test/run.sh serves the page on a second origin and sets it)' },
    async () => {
      const mp = await miniProgram();
      await withPage('cross-origin', async (page, context) => {
        const login = nextResponse(page, 'POST', '/login');
        await page.goto(H5 + '/enter?edge=' + encodeURIComponent(EDGE) + '&ticket=' + encodeURIComponent(mp.ticket));
        await loaded(page, 'signed-in');
        assert.equal(await page.textContent('#openid'), mp.openid);

        // The browser sent the page's origin, and the edge let that origin
        // read the answer with credentials (after the preflight of the JSON POST).
        const res = await login;
        assert.equal(res.status(), 200);
        assert.equal(await res.request().headerValue('origin'), H5);
        assert.equal(await res.headerValue('access-control-allow-origin'), H5);
        assert.equal(await res.headerValue('access-control-allow-credentials'), 'true');

        // Only the ticket left the URL; the page keeps its ?edge=.
        const loc = await page.evaluate(() => ({ origin: location.origin, search: location.search, cookie: document.cookie }));
        assert.equal(loc.origin, H5);
        assert.equal(loc.search, '?edge=' + encodeURIComponent(EDGE));
        assert.ok(!loc.cookie.includes(COOKIE), 'document.cookie shows ' + COOKIE + ': ' + loc.cookie);
        const c = (await context.cookies(EDGE)).find((x) => x.name === COOKIE);
        assert.ok(c && c.httpOnly, 'the edge\'s HttpOnly cookie is in the jar');

        // Logout from the other origin ends the session too.
        const out = nextResponse(page, 'POST', '/logout');
        await page.click('#logout');
        assert.equal((await out).status(), 204);
        await untilState(page, 'signed-out');
        const after = await http('GET', '/api/me', { token: mp.token });
        assert.equal(after.status, 401, 'the Mini Program\'s token after the logout: ' + JSON.stringify(after.body));
      });
    });
});
