#!/usr/bin/python3
"""The plain-Caddy forward_auth recipe (examples/caddy-forward-auth/) with a
Caddy built WITHOUT the plugin in front, the built ./caddy (the respond gate,
the login and the simulator, examples/nginx/Caddyfile) behind it, and a
recording backend:

    /usr/bin/python3 examples/recipes/test_caddy_forward_auth.py <plain caddy>

The plain Caddy runs twice: the recipe's own Caddyfile (Caddy's default,
which drops '_' and '.' header names), and the same snippet on a server
that allows every '_' and '.' spelling of the trusted names
(expected_underscore_headers, expected_dot_headers), so that the
forgeries reach forward_auth. A third, the control, allows them too but
has forward_auth with copy_headers and nothing else.
"""

import itertools
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as H  # noqa: E402
from harness import spellings  # noqa: E402

RECIPE = os.path.join(H.ROOT, "examples", "caddy-forward-auth")
HOST = "shop.example.test"


def all_spellings(name):
    """Every '-'/'_'/'.' spelling of name."""
    parts = name.split("-")
    return [parts[0] + "".join(s + p for s, p in zip(seps, parts[1:]))
            for seps in itertools.product("-_.", repeat=len(parts) - 1)]


def forged_spellings():
    out = []
    for n in spellings.trusted_names():
        for s in all_spellings(n):
            out += H.case_variants(s)
    return out


SITE = """
:{port} {{
	handle /login {{
		reverse_proxy 127.0.0.1:{edge}
	}}
	handle {{
		{auth}
		reverse_proxy 127.0.0.1:{backend}
	}}
}}
"""


class ForwardAuthRecipeTest(H.IdentityChecks, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.svc = H.Services("forward-auth-recipe-")
        try:
            cls.start()
        except BaseException:
            cls.svc.stop(failed=True)
            raise

    @classmethod
    def start(cls):
        svc = cls.svc
        plain = os.path.abspath(os.environ.get("RECIPES_CADDY_PLAIN") or os.path.join(H.ROOT, ".build", "caddy-plain"))
        mods = subprocess.run([plain, "list-modules"], capture_output=True, text=True)
        if mods.returncode != 0 or "http.handlers.reverse_proxy" not in mods.stdout:
            raise RuntimeError(f"{plain} list-modules: {mods.returncode} {mods.stdout[-300:]}{mods.stderr[-300:]}")
        cls.plain_modules = mods.stdout
        cls.backend = H.Recorder()
        (admin, mock, cls.edge, cls.auth, a1, a2, cls.default, cls.allow, cls.control, cls.control_default,
         cls.dead, dead_auth) = H.free_ports(12)
        cls.token_key = H.generate_key(H.caddy_binary(), "HS256", svc.path("token.key")).strip()
        svc.caddy("edge", H.caddy_binary(), os.path.join(H.ROOT, "examples", "nginx", "Caddyfile"),
                  [mock, cls.edge, cls.auth], env={
                      "CADDY_ADMIN_PORT": str(admin), "WECHAT_MOCK_PORT": str(mock),
                      "WECHAT_EDGE_PORT": str(cls.edge), "WECHAT_AUTH_PORT": str(cls.auth),
                      "WECHAT_TOKEN_KEY": cls.token_key})
        # 1. The recipe's Caddyfile as it is.
        svc.caddy("plain-default", plain, os.path.join(RECIPE, "Caddyfile"), [cls.default], env={
            "CADDY_ADMIN_PORT": str(a1), "FRONT_PORT": str(cls.default), "WECHAT_EDGE": f"127.0.0.1:{cls.edge}",
            "WECHAT_AUTH": f"127.0.0.1:{cls.auth}", "BACKEND": f"127.0.0.1:{cls.backend.port}"})
        # 2. The recipe's snippet on a server that lets every '_' and '.'
        # spelling through (a name with both is dropped by Caddy anyway).
        names = [s for n in spellings.trusted_names() for s in all_spellings(n)]
        under = [s for s in names if "_" in s and "." not in s]
        dots = [s for s in names if "." in s and "_" not in s]
        allow_globals = "\n".join([
            "{", f"\tadmin localhost:{a2}", f"\tservers :{cls.allow} {{",
            "\t\texpected_underscore_headers " + " ".join(under),
            "\t\texpected_dot_headers " + " ".join(dots), "\t}", f"\tservers :{cls.control} {{",
            "\t\texpected_underscore_headers " + " ".join(under),
            "\t\texpected_dot_headers " + " ".join(dots), "\t}", "}"])
        allow = allow_globals + f"\nimport {os.path.join(RECIPE, 'wechat-forward-auth.caddy')}\n" + \
            SITE.format(port=cls.allow, edge=cls.edge, backend=cls.backend.port,
                        auth=f"import wechat_forward_auth 127.0.0.1:{cls.auth}") + \
            "".join(SITE.format(port=p, edge=cls.edge, backend=cls.backend.port, auth=(
                f"forward_auth 127.0.0.1:{cls.auth} {{\n\t\t\turi /_wechat_auth\n"
                "\t\t\tcopy_headers X-Openid X-Unionid X-Wechat-Appid X-Wechat-Assertion\n\t\t}"))
                for p in (cls.control, cls.control_default)) + \
            SITE.format(port=cls.dead, edge=cls.edge, backend=cls.backend.port,
                        auth=f"import wechat_forward_auth 127.0.0.1:{dead_auth}")
        path = svc.path("Caddyfile.allow")
        with open(path, "w") as f:
            f.write(allow)
        svc.caddy("plain-allow", plain, path, [cls.allow, cls.control, cls.control_default, cls.dead], env={})
        cls.user = H.login(cls.default, "fauser.1", HOST)
        cls.union = H.login(cls.allow, "unionfa.1", HOST)
        cls.fronts = {"default": cls.default, "allowing _ and .": cls.allow}

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "backend", None):
            cls.backend.close()
        cls.svc.stop(failed=getattr(cls, "_failed", False))

    def run(self, result=None):
        result = super().run(result)
        if result is not None and not result.wasSuccessful():
            type(self)._failed = True
        return result

    def through(self, port, login, extra=(), path="/orders/42"):
        before = self.backend.count()
        r = H.request(port, "GET", path, [("Authorization", "Bearer " + login["token"])] + list(extra), host=HOST)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.backend.count(), before + 1, "one backend call")
        rec = r.json()
        self.assertEqual(rec["path"], path)
        return rec

    # --- tests -----------------------------------------------------------

    def test_the_front_caddy_has_no_plugin(self):
        self.assertNotIn("wechat", self.plain_modules)
        self.assertIn("http.handlers.reverse_proxy", self.plain_modules)  # forward_auth is built on it

    def test_valid_token_reaches_the_backend_with_a_verifiable_assertion(self):
        jwks = f"http://127.0.0.1:{self.edge}/.well-known/jwks.json"
        for label, port in self.fronts.items():
            for login in (self.user, self.union):
                rec = self.through(port, login)
                assertion = self.assert_identity(rec, login, label)
                self.assertNotIn("authorization", H.headers_of(rec), f"{label}: the token reached the backend")
                claims = H.verify_assertion(assertion, jwks, HOST)
                self.assertEqual((claims["sub"], claims["appid"], claims.get("unionid")),
                                 (login["openid"], H.APPID, login.get("unionid")), claims)

    def test_forged_headers_with_a_valid_token_never_reach_the_backend(self):
        names = forged_spellings()
        for label, port in self.fronts.items():
            for login in (self.user, self.union):
                for name in names:
                    self.assert_identity(self.through(port, login, [(name, H.FORGED)]), login, f"[{label}] {name}")
                rec = self.through(port, login, [(n, H.FORGED) for n in names])
                self.assert_identity(rec, login, f"[{label}] every spelling at once")

    def test_forged_headers_without_a_token_get_the_gates_401(self):
        before = self.backend.count()
        for port in self.fronts.values():
            for name in forged_spellings():
                r = H.request(port, "GET", "/orders/forged", [(name, H.FORGED)], host=HOST)
                self.assert_refused(r, "unauthorized", 'Bearer realm="wechat"')
        self.assertEqual(self.backend.count(), before, self.backend.paths()[before:])

    def test_no_token_and_bad_token_get_the_gates_401(self):
        before = self.backend.count()
        tok = self.user["token"]
        for port in self.fronts.values():
            r = H.request(port, "GET", "/orders/none", host=HOST)
            self.assert_refused(r, "unauthorized", 'Bearer realm="wechat"')
            self.assertEqual(r.json()["message"], "a bearer token is required: log in first")
            for bad in (tok[:-3] + "abc", "not-a-token", "", tok + "x"):
                r = H.request(port, "GET", "/orders/bad", [("Authorization", "Bearer " + bad)], host=HOST)
                self.assert_refused(r, "invalid_token", 'Bearer realm="wechat", error="invalid_token"')
            now = int(time.time())
            expired = H.mint_session(self.token_key, tok, iat=now - 7200, exp=now - 60)
            r = H.request(port, "GET", "/orders/expired", [("Authorization", "Bearer " + expired)], host=HOST)
            self.assert_refused(r, "invalid_token",
                                'Bearer realm="wechat", error="invalid_token", error_description="the token has expired"')
        self.assertEqual(self.backend.count(), before, self.backend.paths()[before:])

    def test_renewal_reaches_the_client_not_the_backend(self):
        now = int(time.time())
        for label, port in self.fronts.items():
            near = H.mint_session(self.token_key, self.user["token"], iat=now - 6600, exp=now + 600)
            r = H.request(port, "GET", "/orders/renew", [("Authorization", "Bearer " + near),
                                                        ("X-Wechat-Renewal-Token", H.FORGED)], host=HOST)
            self.assertEqual(r.status, 200, r)
            new = r.header("X-Wechat-Token")
            self.assertEqual(len(new), 1, f"{label}: {r}")
            self.assertGreater(int(r.header("X-Wechat-Token-Expires-In")[0]), 7000)
            self.assertEqual(H.jwt_parts(new[0])[1]["sub"], self.user["openid"])
            seen = H.headers_of(r.json())
            self.assertFalse([k for k in seen if k.startswith("x-wechat-token") or k.startswith("x-wechat-renewal")],
                             f"{label}: a renewal header reached the backend: {seen}")
            self.assertNotIn(new[0], str(r.json()))
            r = H.request(port, "GET", "/orders/renewed", [("Authorization", "Bearer " + new[0])], host=HOST)
            self.assertEqual((r.status, r.header("X-Wechat-Token")), (200, []), r)
            # A forged renewal header from the client is no renewal.
            r = H.request(port, "GET", "/orders/x", [("Authorization", "Bearer " + new[0]),
                                                    ("X-Wechat-Renewal-Token", H.FORGED)], host=HOST)
            self.assertEqual((r.status, r.header("X-Wechat-Token")), (200, []), r)

    def test_gate_down_fails_closed(self):
        """Nothing answers at the auth address: 502, and no backend call."""
        before = self.backend.count()
        for headers in ([], [("Authorization", "Bearer " + self.user["token"])], [("X-Openid", H.FORGED)]):
            r = H.request(self.dead, "GET", "/orders/gate-down", headers, host=HOST)
            self.assertEqual(r.status, 502, r)
        self.assertEqual(self.backend.count(), before)

    def test_control_copy_headers_alone(self):
        """forward_auth with copy_headers and nothing else: a client's
        X-Unionid is deleted even when the auth answer has none (Caddy
        v2.11 deletes every copy_headers name first), but on a server that
        allows '_' and '.' names X_Openid and X.Openid reach the backend,
        and on Caddy's default server X-Wechatpay-* does. What the
        snippet's request_header lines are for."""
        for port in (self.control, self.control_default):
            rec = self.through(port, self.user, [("X-Unionid", H.FORGED), ("x-openid", H.FORGED)])
            self.assert_identity(rec, self.user, "control, X-Unionid without a unionid")
        for name in ("X_Openid", "X.Openid", "X_Wechat_Appid", "X_Unionid", "x.wechat.assertion"):
            rec = self.through(self.control, self.user, [(name, H.FORGED)])
            self.assertIn(H.FORGED, str(rec), f"{name} did not pass the control that allows it")
        for name in ("X-Wechatpay-Verified", "x-wechatpay-event-type"):
            rec = self.through(self.control_default, self.user, [(name, H.FORGED)])
            self.assertIn(H.FORGED, str(rec), f"{name} did not pass the default control")
        # The allowlist drops the '-' spelling of an allowed '_' name itself.
        rec = self.through(self.control, self.user, [("X-Wechatpay-Verified", H.FORGED)])
        self.assertNotIn(H.FORGED, str(rec))


if __name__ == "__main__":
    sys.exit(H.Results.run([ForwardAuthRecipeTest]))
