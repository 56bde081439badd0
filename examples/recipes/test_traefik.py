#!/usr/bin/python3
"""The Traefik forwardAuth recipe (examples/traefik/dynamic.yml) with a real
Traefik v3, the built ./caddy (the respond gate, the login and the
simulator, examples/nginx/Caddyfile) and a recording backend:

    /usr/bin/python3 examples/recipes/test_traefik.py <traefik binary>

(examples/traefik/test.sh builds Traefik and runs this.) Traefik reads the
recipe's dynamic.yml as it is, from a directory that also holds a control
router (Host control.test) with forwardAuth and authResponseHeaders alone.
"""

import itertools
import os
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as H  # noqa: E402
from harness import spellings  # noqa: E402

RECIPE = os.path.join(H.ROOT, "examples", "traefik")
HOST = "shop.example.test"

CONTROL = """http:
  routers:
    control:
      rule: "Host(`control.test`)"
      priority: 1000
      middlewares: [control-auth]
      service: backend
    gate-down:
      rule: "Host(`gate-down.test`)"
      priority: 1000
      middlewares: [dead-auth]
      service: backend
  middlewares:
    dead-auth:
      forwardAuth:
        address: 'http://{{ env "DEAD_AUTH" }}/_wechat_auth'
        authResponseHeaders: [X-Openid]
    control-auth:
      forwardAuth:
        address: 'http://{{ env "WECHAT_AUTH" }}/_wechat_auth'
        authResponseHeaders: [X-Openid, X-Unionid, X-Wechat-Appid, X-Wechat-Assertion]
"""


def all_spellings(name):
    parts = name.split("-")
    return [parts[0] + "".join(s + p for s, p in zip(seps, parts[1:]))
            for seps in itertools.product("-_.", repeat=len(parts) - 1)]


def forged_spellings():
    return [v for n in spellings.trusted_names() for s in all_spellings(n) for v in H.case_variants(s)]


class TraefikRecipeTest(H.IdentityChecks, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.svc = H.Services("traefik-recipe-")
        try:
            cls.start()
        except BaseException:
            cls.svc.stop(failed=True)
            raise

    @classmethod
    def start(cls):
        svc = cls.svc
        traefik = os.path.abspath(os.environ.get("RECIPES_TRAEFIK") or os.path.join(H.ROOT, ".build", "traefik", "traefik"))
        if not os.access(traefik, os.X_OK):
            raise RuntimeError(f"{traefik} is not an executable: build it with examples/traefik/test.sh")
        cls.version = subprocess.run([traefik, "version"], capture_output=True, text=True).stdout
        cls.backend = H.Recorder()
        (admin, mock, cls.edge, cls.auth, cls.port) = H.free_ports(5)
        cls.token_key = H.generate_key(H.caddy_binary(), "HS256", svc.path("token.key")).strip()
        svc.caddy("caddy", H.caddy_binary(), os.path.join(H.ROOT, "examples", "nginx", "Caddyfile"),
                  [mock, cls.edge, cls.auth], env={
                      "CADDY_ADMIN_PORT": str(admin), "WECHAT_MOCK_PORT": str(mock),
                      "WECHAT_EDGE_PORT": str(cls.edge), "WECHAT_AUTH_PORT": str(cls.auth),
                      "WECHAT_TOKEN_KEY": cls.token_key})
        dyn = svc.path("dynamic")
        os.makedirs(dyn)
        shutil.copy(os.path.join(RECIPE, "dynamic.yml"), dyn)
        with open(os.path.join(dyn, "control.yml"), "w") as f:
            f.write(CONTROL)
        env = dict(os.environ, WECHAT_AUTH=f"127.0.0.1:{cls.auth}", DEAD_AUTH=f"127.0.0.1:{H.free_ports(1)[0]}", WECHAT_EDGE=f"127.0.0.1:{cls.edge}",
                   BACKEND=f"127.0.0.1:{cls.backend.port}", HOME=svc.tmp)
        # The static configuration of examples/traefik/traefik.yml, as flags
        # (a free port, the directory above).
        proc = svc.spawn("traefik", [traefik, f"--entryPoints.web.address=127.0.0.1:{cls.port}",
                                     f"--providers.file.directory={dyn}", "--log.level=INFO", "--log.noColor=true",
                                     # No calls out of this machine.
                                     "--global.checkNewVersion=false", "--global.sendAnonymousUsage=false"], env=env)
        svc.wait_port(cls.port, proc, "traefik")
        # The file provider loads after the entry point listens: wait until
        # both routers answer as configured (the gate's 401).
        deadline = time.monotonic() + 20
        while True:
            a = H.request(cls.port, "GET", "/ready", host=HOST)
            b = H.request(cls.port, "GET", "/ready", host="control.test")
            if a.status == 401 and b.status == 401:
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"Traefik's routers did not come up: {a} {b}\n{svc.logs()}")
            time.sleep(0.05)
        cls.user = H.login(cls.port, "traefikuser.1", HOST)
        cls.union = H.login(cls.port, "uniontraefik.1", HOST)

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

    def through(self, login, extra=(), path="/orders/42", host=HOST):
        before = self.backend.count()
        r = H.request(self.port, "GET", path, [("Authorization", "Bearer " + login["token"])] + list(extra), host=host)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.backend.count(), before + 1, "one backend call")
        return r.json()

    def test_valid_token_reaches_the_backend_with_a_verifiable_assertion(self):
        jwks = f"http://127.0.0.1:{self.edge}/.well-known/jwks.json"
        for login in (self.user, self.union):
            rec = self.through(login)
            assertion = self.assert_identity(rec, login)
            self.assertNotIn("authorization", H.headers_of(rec), "the session token reached the backend")
            claims = H.verify_assertion(assertion, jwks, HOST)
            self.assertEqual((claims["sub"], claims.get("unionid")), (login["openid"], login.get("unionid")))

    def test_forged_headers_with_a_valid_token_never_reach_the_backend(self):
        names = forged_spellings()
        for login in (self.user, self.union):
            for name in names:
                self.assert_identity(self.through(login, [(name, H.FORGED)]), login, name)
            self.assert_identity(self.through(login, [(n, H.FORGED) for n in names]), login, "every spelling at once")

    def test_forged_headers_without_a_token_get_the_gates_401(self):
        before = self.backend.count()
        for name in forged_spellings():
            r = H.request(self.port, "GET", "/orders/forged", [(name, H.FORGED)], host=HOST)
            self.assert_refused(r, "unauthorized", 'Bearer realm="wechat"')
        self.assertEqual(self.backend.count(), before)

    def test_no_token_and_bad_token_get_the_gates_401(self):
        before = self.backend.count()
        r = H.request(self.port, "GET", "/orders/none", host=HOST)
        self.assert_refused(r, "unauthorized", 'Bearer realm="wechat"')
        self.assertEqual(r.json()["message"], "a bearer token is required: log in first")
        tok = self.user["token"]
        for bad in (tok[:-3] + "abc", "not-a-token", tok + "x"):
            r = H.request(self.port, "GET", "/orders/bad", [("Authorization", "Bearer " + bad)], host=HOST)
            self.assert_refused(r, "invalid_token", 'Bearer realm="wechat", error="invalid_token"')
        now = int(time.time())
        expired = H.mint_session(self.token_key, tok, iat=now - 7200, exp=now - 60)
        r = H.request(self.port, "GET", "/orders/expired", [("Authorization", "Bearer " + expired)], host=HOST)
        self.assert_refused(r, "invalid_token",
                            'Bearer realm="wechat", error="invalid_token", error_description="the token has expired"')
        self.assertEqual(self.backend.count(), before)

    def test_a_bearer_renewal_reaches_neither_the_backend_nor_the_client(self):
        """The documented limitation: Traefik copies auth response headers
        onto the request only, and the recipe copies no renewal header, so a
        renewed token is dropped (the old one keeps working until its exp)."""
        now = int(time.time())
        near = H.mint_session(self.token_key, self.user["token"], iat=now - 6600, exp=now + 600)
        r = H.request(self.port, "GET", "/orders/renew", [("Authorization", "Bearer " + near)], host=HOST)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("X-Wechat-Token"), [])
        self.assertFalse([k for k in H.headers_of(r.json()) if k.startswith("x-wechat-token")], r)

    def test_gate_down_fails_closed(self):
        """Nothing answers at the auth address: 500, and no backend call."""
        before = self.backend.count()
        for headers in ([], [("Authorization", "Bearer " + self.user["token"])], [("X-Openid", H.FORGED)]):
            r = H.request(self.port, "GET", "/orders/gate-down", headers, host="gate-down.test")
            self.assertEqual(r.status, 500, r)
        self.assertEqual(self.backend.count(), before)

    def test_control_authresponseheaders_alone(self):
        """forwardAuth with authResponseHeaders and no regex: a client's
        X-Unionid is deleted even when the answer lacks it, but X_Openid,
        X.Openid and X-Wechatpay-* reach the backend. What the recipe's
        authResponseHeadersRegex is for."""
        rec = self.through(self.user, [("X-Unionid", H.FORGED), ("x-openid", H.FORGED)], host="control.test")
        self.assertEqual(H.headers_of(rec).get("x-openid"), [self.user["openid"]])
        self.assertNotIn("x-unionid", H.headers_of(rec))
        for name in ("X_Openid", "X.Openid", "x_wechat_appid", "X-Wechatpay-Verified"):
            rec = self.through(self.user, [(name, H.FORGED)], host="control.test")
            self.assertIn(H.FORGED, str(rec), f"{name} did not pass the control")


if __name__ == "__main__":
    sys.exit(H.Results.run([TraefikRecipeTest]))
