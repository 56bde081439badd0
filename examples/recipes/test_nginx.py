#!/usr/bin/python3
"""The nginx auth_request recipe (examples/nginx/) with a real nginx, the
built ./caddy running examples/nginx/Caddyfile (the respond gate and the
simulator for logins), and a recording backend:

    /usr/bin/python3 examples/recipes/test_nginx.py     (after make -f xcaddy.mk build)

nginx runs as the current user with -p <tmp dir>, `daemon off`, on free
ports; every process is stopped at the end, also on failure.
"""

import os
import re
import shutil
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as H  # noqa: E402
from harness import spellings  # noqa: E402

NGINX_DIR = os.path.join(H.ROOT, "examples", "nginx")
HOST = "shop.example.test"  # the Host the client asks nginx for: the assertion's aud


def nginx_binary():
    for p in ("/usr/sbin/nginx", shutil.which("nginx")):
        if p and os.access(p, os.X_OK):
            return p
    raise RuntimeError("nginx is not installed: run examples/recipes/deps.sh")


def forged_spellings():
    """Every spelling a client might try: each -/_ combination of every
    trusted name, in three letter cases, and the '.' one."""
    out = []
    for n in spellings.trusted_names():
        for s in spellings.spellings(n):
            out += H.case_variants(s)
        out.append(n.replace("-", "."))
    return out


class NginxRecipeTest(H.IdentityChecks, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.svc = H.Services("nginx-recipe-")
        try:
            cls.start()
        except BaseException:
            cls.svc.stop(failed=True)
            raise

    @classmethod
    def start(cls):
        svc = cls.svc
        caddy = H.caddy_binary()
        cls.backend = H.Recorder()
        (cls.admin, cls.mock, cls.edge, cls.auth, cls.port) = H.free_ports(5)
        cls.token_key = H.generate_key(caddy, "HS256", svc.path("token.key")).strip()
        svc.caddy("caddy", caddy, os.path.join(NGINX_DIR, "Caddyfile"), [cls.mock, cls.edge, cls.auth], env={
            "CADDY_ADMIN_PORT": str(cls.admin), "WECHAT_MOCK_PORT": str(cls.mock),
            "WECHAT_EDGE_PORT": str(cls.edge), "WECHAT_AUTH_PORT": str(cls.auth),
            "WECHAT_TOKEN_KEY": cls.token_key,
        })
        cls.nginx("nginx", svc.tmp, cls.port)
        # The control: the same recipe without the cleared spellings, to
        # show that the forgeries do reach the backend when they are missing.
        cls.control = H.free_ports(1)[0]
        cls.nginx("nginx-control", svc.path("control"), cls.control, without_clears=True)
        # The gate down: the same recipe with nothing at its auth address.
        cls.dead, dead_auth = H.free_ports(2)
        cls.nginx("nginx-gate-down", svc.path("gate-down"), cls.dead, auth=dead_auth)
        cls.user = H.login(cls.port, "nginxuser.1", HOST)
        cls.union = H.login(cls.port, "unionnginx.1", HOST)

    @classmethod
    def nginx(cls, name, prefix, port, without_clears=False, auth=None):
        """The recipe's config, filled in, under prefix; nginx started on port."""
        conf_dir = os.path.join(prefix, "conf")
        os.makedirs(conf_dir)
        for d in ("logs", "temp"):
            os.makedirs(os.path.join(prefix, d))
        with open(os.path.join(NGINX_DIR, "nginx.conf.template")) as f:
            conf = f.read()
        for k, v in {"@LISTEN@": f"127.0.0.1:{port}", "@WECHAT_EDGE@": f"127.0.0.1:{cls.edge}",
                     "@WECHAT_AUTH@": f"127.0.0.1:{auth or cls.auth}", "@BACKEND@": f"127.0.0.1:{cls.backend.port}"}.items():
            conf = conf.replace(k, v)
        extra = getattr(cls, "extra_server", "")  # bench.py's (n0)
        if extra:
            conf = conf[:conf.rindex("}")] + extra + "}\n"
        left = re.findall(r"@[A-Z_]+@", conf)
        if left:
            raise RuntimeError(f"nginx.conf.template has placeholders the test does not fill: {left}")
        with open(os.path.join(conf_dir, "nginx.conf"), "w") as f:
            f.write(conf)
        for inc in ("wechat-http.conf", "wechat-server.conf", "wechat-auth.conf", "wechat-identity.conf"):
            shutil.copy(os.path.join(NGINX_DIR, inc), conf_dir)
        if without_clears:
            path = os.path.join(conf_dir, "wechat-identity.conf")
            with open(path) as f:
                kept = [ln for ln in f if not (ln.startswith("proxy_set_header X") and ln.rstrip().endswith('"";'))]
            with open(path, "w") as f:
                f.writelines(kept)
        # As the current user; as root, nginx would switch its workers to
        # `nobody`, who cannot enter this private directory.
        glob = "daemon off;" + (" user root;" if os.geteuid() == 0 else "")
        cmd = [nginx_binary(), "-p", prefix + "/", "-c", os.path.join(conf_dir, "nginx.conf"),
               "-e", os.path.join(prefix, "logs", "error.log"), "-g", glob]
        check = H.subprocess.run(cmd + ["-t"], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t failed:\n{check.stdout}{check.stderr}")
        proc = cls.svc.spawn(name, cmd)
        cls.svc.wait_port(port, proc, name)

    @classmethod
    def tearDownClass(cls):
        failed = getattr(cls, "_failed", False)
        if failed:
            for prefix in (cls.svc.tmp, cls.svc.path("control"), cls.svc.path("gate-down")):
                print(f"--- {prefix}/logs/error.log ---\n" + H.read(os.path.join(prefix, "logs", "error.log")), file=sys.stderr)
        if getattr(cls, "backend", None):
            cls.backend.close()
        cls.svc.stop(failed=failed)

    def run(self, result=None):
        result = super().run(result)
        if result is not None and not result.wasSuccessful():
            type(self)._failed = True
        return result

    # --- helpers ---------------------------------------------------------

    def get(self, path, headers=(), host=HOST, method="GET", body=None):
        return H.request(self.port, method, path, headers, body, host)

    def through(self, login, extra=(), path="/orders/42"):
        """A request with login's token; returns what the backend received."""
        before = self.backend.count()
        r = self.get(path, [("Authorization", "Bearer " + login["token"])] + list(extra))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.backend.count(), before + 1, "one backend call")
        rec = r.json()
        self.assertEqual(rec["path"], path)
        return rec

    # --- tests -----------------------------------------------------------

    def test_identity_include_clears_every_spelling(self):
        """wechat-identity.conf clears every -/_ spelling of every trusted
        name (from the gate's own list) and sets the four identity headers."""
        with open(os.path.join(NGINX_DIR, "wechat-identity.conf")) as f:
            lines = [ln.strip() for ln in f if ln.strip().startswith("proxy_set_header")]
        cleared = {ln.split()[1] for ln in lines if ln.endswith('"";')}
        self.assertEqual(cleared, set(spellings.cleared()) | {"Authorization"})
        set_ = {ln.split()[1]: ln.split()[2].rstrip(";") for ln in lines if not ln.endswith('"";')}
        self.assertEqual(set_, {"X-Openid": "$wechat_openid", "X-Unionid": "$wechat_unionid",
                                "X-Wechat-Appid": "$wechat_appid", "X-Wechat-Assertion": "$wechat_assertion",
                                "Cookie": "$wechat_backend_cookie"})
        self.assertEqual(len(spellings.cleared()) + len(spellings.SET), 40)

    def cookie_get(self, cookie, path="/orders/cookie", method="GET", extra=()):
        return self.get(path, [("Cookie", cookie)] + list(extra), method=method, body=b"" if method == "POST" else None)

    def test_cookie_session_reaches_the_backend_without_the_cookie(self):
        tok = self.user["token"]
        for sent, want in [
            (f"wechat_session={tok}", None),
            (f"theme=dark; wechat_session={tok}; lang=zh-CN", "theme=dark; lang=zh-CN"),
            (f"wechat_session={tok}; lang=zh-CN", "lang=zh-CN"),
            (f"a=1;wechat_session={tok}", "a=1"),
            (f"xwechat_session=1; wechat_session={tok}", "xwechat_session=1"),
        ]:
            before = self.backend.count()
            r = self.cookie_get(sent, extra=[("X_Openid", H.FORGED)])
            self.assertEqual(r.status, 200, f"{sent}: {r}")
            self.assertEqual(self.backend.count(), before + 1)
            rec = r.json()
            self.assert_identity(rec, self.user, f"cookie {sent!r}")
            self.assertEqual(H.headers_of(rec).get("cookie"), [want] if want else None, sent)
            self.assertNotIn(tok, str(rec), "the session token reached the backend")
        # Without the session cookie, the backend's cookies pass untouched (and no session).
        r = self.cookie_get("theme=dark")
        self.assert_refused(r, "unauthorized", 'Bearer realm="wechat"')

    def test_cookie_csrf_is_judged_on_the_original_request(self):
        """The auth subrequest is a GET; the gate sees the original method
        in X-Forwarded-Method, so a cross-site POST with the cookie is the
        gate's 403, and the backend is not called."""
        ck = "wechat_session=" + self.user["token"]
        before = self.backend.count()
        r = self.cookie_get(ck, method="POST", extra=[("Origin", "https://evil.example")])
        self.assertEqual((r.status, r.json()["error"]), (403, "csrf_rejected"), r)
        self.assertEqual(r.header("Content-Type"), ["application/json; charset=utf-8"])
        self.assertEqual(self.backend.count(), before)
        r = self.cookie_get(ck, method="POST", extra=[("Origin", f"http://{HOST}")])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["method"], "POST")
        r = self.cookie_get(ck, method="GET", extra=[("Origin", "https://evil.example")])
        self.assertEqual(r.status, 200, r)

    def test_bad_cookie_is_401_and_cleared(self):
        before = self.backend.count()
        r = self.cookie_get("wechat_session=not-a-token")
        self.assert_refused(r, "invalid_token", 'Bearer realm="wechat", error="invalid_token"')
        cleared = r.header("Set-Cookie")
        self.assertEqual(len(cleared), 1, r)
        self.assertTrue(cleared[0].startswith("wechat_session=;") and "Max-Age=0" in cleared[0], cleared)
        self.assertEqual(self.backend.count(), before)

    def test_cookie_renewal_reaches_the_client(self):
        now = int(time.time())
        near = H.mint_session(self.token_key, self.user["token"], iat=now - 6600, exp=now + 600)
        r = self.cookie_get("wechat_session=" + near, path="/orders/cookie-renew")
        self.assertEqual(r.status, 200, r)
        cookies = r.header("Set-Cookie")
        self.assertEqual(len(cookies), 1, r)
        new = cookies[0].split(";", 1)[0].split("=", 1)[1]
        self.assertNotEqual(new, near)
        self.assertIn("HttpOnly", cookies[0])
        self.assertEqual(H.jwt_parts(new)[1]["sub"], self.user["openid"])
        self.assertEqual(r.header("X-Wechat-Token"), [], "a cookie renewal is a cookie")
        r = self.cookie_get("wechat_session=" + new)
        self.assertEqual((r.status, r.header("Set-Cookie")), (200, []), r)

    def test_gate_down_fails_closed(self):
        """Nothing answers at the auth address: nginx answers 500, with or
        without a token, and never calls the backend."""
        before = self.backend.count()
        for headers in ([], [("Authorization", "Bearer " + self.user["token"])], [("X-Openid", H.FORGED)]):
            r = H.request(self.dead, "GET", "/orders/gate-down", headers, host=HOST)
            self.assertEqual(r.status, 500, r)
        self.assertEqual(self.backend.count(), before)

    def test_control_without_the_clears_the_forgeries_pass(self):
        """The same recipe without the cleared spellings lets X_Openid and
        the like through (underscores_in_headers on), and still drops the
        '.' ones and replaces every letter case of X-Openid: what the
        clears are for, and what the test above would catch."""
        for name in ("X_Openid", "x_openid", "X-Wechat_Appid", "X_Wechat_Assertion", "X_Unionid", "X-Wechatpay-Verified"):
            r = H.request(self.control, "GET", "/orders/control", [("Authorization", "Bearer " + self.user["token"]),
                                                                 (name, H.FORGED)], host=HOST)
            self.assertEqual(r.status, 200, r)
            self.assertIn([name, H.FORGED], r.json()["headers"], f"{name} did not pass the control")
        for name in ("X.Openid", "x-OPENID", "X-Unionid"):
            r = H.request(self.control, "GET", "/orders/control", [("Authorization", "Bearer " + self.user["token"]),
                                                                 (name, H.FORGED)], host=HOST)
            self.assertNotIn(H.FORGED, str(r.json()), f"{name} passed even the control")

    def test_valid_token_reaches_the_backend_with_a_verifiable_assertion(self):
        rec = self.through(self.user)
        assertion = self.assert_identity(rec, self.user, "valid token")
        h = H.headers_of(rec)
        self.assertNotIn("authorization", h, "the session token reached the backend")
        jwks_url = f"http://127.0.0.1:{self.port}/.well-known/jwks.json"  # through nginx
        claims = H.verify_assertion(assertion, jwks_url, HOST)
        self.assertEqual((claims["sub"], claims["appid"]), (self.user["openid"], H.APPID), claims)
        self.assertNotIn("unionid", claims)
        self.assertLessEqual(claims["exp"] - claims["iat"], 300)
        # The JWKS Caddy serves directly is the same set.
        self.assertEqual(H.fetch_jwks(self.edge), H.request(self.port, "GET", "/.well-known/jwks.json").json())

    def test_unionid_reaches_the_backend(self):
        rec = self.through(self.union)
        assertion = self.assert_identity(rec, self.union, "unionid user")
        claims = H.verify_assertion(assertion, f"http://127.0.0.1:{self.edge}/.well-known/jwks.json", HOST)
        self.assertEqual(claims["unionid"], self.union["unionid"])

    def test_forged_headers_with_a_valid_token_never_reach_the_backend(self):
        names = forged_spellings()
        for login in (self.user, self.union):
            for name in names:
                rec = self.through(login, [(name, H.FORGED)])
                self.assert_identity(rec, login, f"{name} with a valid token")
            # All at once, and a Connection header naming them.
            rec = self.through(login, [(n, H.FORGED) for n in names] + [("Connection", "X-Openid, X_Openid")])
            self.assert_identity(rec, login, "every spelling at once")

    def test_forged_headers_without_a_token_get_401_and_no_backend_call(self):
        before = self.backend.count()
        for name in forged_spellings():
            r = self.get("/orders/forged", [(name, H.FORGED)])
            self.assert_refused(r, "unauthorized", 'Bearer realm="wechat"')
        self.assertEqual(self.backend.count(), before, self.backend.paths()[before:])

    def test_no_token_is_401_without_a_backend_call(self):
        before = self.backend.count()
        r = self.get("/orders/none")
        self.assert_refused(r, "unauthorized", 'Bearer realm="wechat"')
        self.assertEqual(r.json()["message"], "a bearer token is required: log in first")
        self.assertEqual(r.header("X-Wechat-Token"), [], "an empty renewal header")
        self.assertEqual(self.backend.count(), before)

    def test_bad_token_is_401(self):
        tok = self.user["token"]
        before = self.backend.count()
        for bad in (tok[:-2] + ("AA" if not tok.endswith("AA") else "BB"), "not-a-token", tok + "x"):
            r = self.get("/orders/bad", [("Authorization", "Bearer " + bad)])
            self.assert_refused(r, "invalid_token", 'Bearer realm="wechat", error="invalid_token"')
        r = self.get("/orders/bad", [("Authorization", "Bearer")])
        self.assert_refused(r, "invalid_token", 'Bearer realm="wechat", error="invalid_token"')
        self.assertEqual(self.backend.count(), before)

    def test_expired_token_is_401_and_says_so(self):
        now = int(time.time())
        expired = H.mint_session(self.token_key, self.user["token"], iat=now - 7200, exp=now - 60)
        r = self.get("/orders/expired", [("Authorization", "Bearer " + expired)])
        self.assert_refused(r, "invalid_token",
                            'Bearer realm="wechat", error="invalid_token", error_description="the token has expired"')
        self.assertEqual(r.json()["message"], "the token has expired: log in again")
        # The same claims, still valid, pass: the refusal was the expiry.
        fresh = H.mint_session(self.token_key, self.user["token"], iat=now, exp=now + 3600)
        self.assertEqual(self.get("/orders/fresh", [("Authorization", "Bearer " + fresh)]).status, 200)

    def test_renewal_reaches_the_client(self):
        now = int(time.time())
        near = H.mint_session(self.token_key, self.user["token"], iat=now - 6600, exp=now + 600)
        before = self.backend.count()
        r = self.get("/orders/renew", [("Authorization", "Bearer " + near)])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.backend.count(), before + 1)
        new = r.header("X-Wechat-Token")
        self.assertEqual(len(new), 1, r)
        expires_in = int(r.header("X-Wechat-Token-Expires-In")[0])
        self.assertGreater(expires_in, 7000)
        self.assertEqual(H.jwt_parts(new[0])[1]["sub"], self.user["openid"])
        self.assertNotIn("x-wechat-token", H.headers_of(r.json()), "the renewal reached the backend")
        # The new token works and, fresh, is not renewed again.
        r = self.get("/orders/renewed", [("Authorization", "Bearer " + new[0])])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("X-Wechat-Token"), [], r)
        self.assertEqual(r.header("X-Wechat-Token-Expires-In"), [], r)


if __name__ == "__main__":
    sys.exit(H.Results.run([NginxRecipeTest]))
