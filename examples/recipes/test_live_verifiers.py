#!/usr/bin/python3
"""The Express (jose createRemoteJWKSet) and Flask (PyJWT PyJWKClient)
backends verifying X-Wechat-Assertion against the LIVE JWKS of the built
./caddy:

    /usr/bin/python3 examples/recipes/test_live_verifiers.py

Caddy runs with an assertion key this test generated (`caddy wechat keygen
--algorithm EdDSA`, given as `assertion { signing_key {file.…} }`),
`wechat_jwks`, and a gate with `assertion` in front of each backend; the
backends run as their READMEs say, with WECHAT_JWKS_URL pointing at that
JWKS and WECHAT_ASSERTION_AUDIENCE the site's host. A request through the
gate passes; sent straight to the backend with a matching X-Openid, an
expired assertion (minted here with the same key), one for another aud,
one signed by a key that is not in the JWKS, and one whose sub is not
X-Openid are each refused.
"""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as H  # noqa: E402

HOST = "api.example.test"  # the site's host: the assertion's default aud
REFUSED = (401, {"error": "invalid_assertion"})

CADDYFILE = """{{
	admin localhost:{admin}
	wechat {{
		api_base http://127.0.0.1:{mock}
		app {appid} {{
			secret {{env.WECHAT_SECRET}}
		}}
		token {{
			signing_key {{env.WECHAT_TOKEN_KEY}}
		}}
		assertion {{
			signing_key {{file.{assertion_key}}}
		}}
	}}
}}

:{edge} {{
	bind 127.0.0.1
	wechat_login /login
	wechat_jwks /.well-known/jwks.json
}}

:{express} {{
	bind 127.0.0.1
	wechat_auth {{
		assertion
	}}
	reverse_proxy 127.0.0.1:{express_backend}
}}

:{flask} {{
	bind 127.0.0.1
	wechat_auth {{
		assertion
	}}
	reverse_proxy 127.0.0.1:{flask_backend}
}}

http://127.0.0.1:{mock} {{
	bind 127.0.0.1
	wechat_mock
}}
"""


class LiveJWKSTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.svc = H.Services("live-verifiers-")
        try:
            cls.start()
        except BaseException:
            cls.svc.stop(failed=True)
            raise

    @classmethod
    def start(cls):
        import jwt  # noqa: F401  (python3-jwt, for a clear failure here)

        svc = cls.svc
        caddy = H.caddy_binary()
        (admin, mock, cls.edge, express, flask, cls.express_be, cls.flask_be) = H.free_ports(7)
        cls.assertion_pem = H.generate_key(caddy, "EdDSA", svc.path("assertion.pem"))
        path = svc.path("Caddyfile")
        with open(path, "w") as f:
            f.write(CADDYFILE.format(admin=admin, mock=mock, appid=H.APPID, assertion_key=svc.path("assertion.pem"),
                                     edge=cls.edge, express=express, flask=flask,
                                     express_backend=cls.express_be, flask_backend=cls.flask_be))
        token_key = H.generate_key(caddy, "HS256", svc.path("token.key")).strip()
        svc.caddy("caddy", caddy, path, [mock, cls.edge, express, flask], env={"WECHAT_TOKEN_KEY": token_key})
        cls.jwks_url = f"http://127.0.0.1:{cls.edge}/.well-known/jwks.json"
        env = dict(os.environ, WECHAT_JWKS_URL=cls.jwks_url, WECHAT_ASSERTION_AUDIENCE=HOST)
        env.pop("WECHAT_ASSERTION_ISSUER", None)
        node_modules = os.path.join(H.ROOT, "examples", "express", "node_modules")
        if not os.path.isdir(node_modules):
            raise RuntimeError(f"{node_modules} is missing: run examples/deps.sh")
        p = svc.spawn("express", ["node", os.path.join(H.ROOT, "examples", "express", "app.js"),
                                  "--addr", f"127.0.0.1:{cls.express_be}"], env=env)
        svc.wait_port(cls.express_be, p, "express")
        p = svc.spawn("flask", ["/usr/bin/python3", os.path.join(H.ROOT, "examples", "flask", "app.py"),
                                "--addr", f"127.0.0.1:{cls.flask_be}"], env=env)
        svc.wait_port(cls.flask_be, p, "flask")
        cls.fronts = {"express": (express, cls.express_be), "flask": (flask, cls.flask_be)}
        cls.user = H.login(cls.edge, "verifier.1")
        cls.union = H.login(cls.edge, "unionverifier.1")

    @classmethod
    def tearDownClass(cls):
        cls.svc.stop(failed=getattr(cls, "_failed", False))

    def run(self, result=None):
        result = super().run(result)
        if result is not None and not result.wasSuccessful():
            type(self)._failed = True
        return result

    # --- helpers ---------------------------------------------------------

    def edge_assertion(self, front, login):
        """The assertion the gate sent for login, as the backend's echo saw it."""
        r = H.request(front, "GET", "/orders", [("Authorization", "Bearer " + login["token"])], host=HOST)
        self.assertEqual(r.status, 200, r)
        values = r.json()["headers"].get("X-Wechat-Assertion")
        self.assertEqual(len(values or []), 1, r)
        return values[0]

    def mint(self, like, private=None, kid=None, **over):
        """An assertion with the claims of the edge's `like`, changed by
        over, signed with the test's assertion key (or `private`)."""
        import jwt

        header, claims = H.jwt_parts(like)
        claims.update(over)
        return jwt.encode(claims, private or self.assertion_pem, algorithm="EdDSA",
                          headers={"kid": kid or header["kid"], "typ": "JWT"})

    def direct(self, backend, openid, assertion, extra=()):
        headers = [("X-Openid", openid), ("X-Wechat-Appid", H.APPID)] + list(extra)
        if assertion:
            headers.append(("X-Wechat-Assertion", assertion))
        r = H.request(backend, "GET", "/api/me", headers)
        try:
            return r.status, r.json()
        except ValueError:
            return r.status, r.body

    # --- tests -----------------------------------------------------------

    def test_the_jwks_is_the_generated_key(self):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        jwks = H.fetch_jwks(self.edge)
        self.assertEqual(len(jwks["keys"]), 1, jwks)  # HS256 tokens: the assertion key alone
        key = jwks["keys"][0]
        pub = serialization.load_pem_private_key(self.assertion_pem.encode(), None).public_key()
        raw = pub.public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.assertEqual((key["kty"], key["crv"], key["alg"], key["use"]), ("OKP", "Ed25519", "EdDSA", "sig"))
        self.assertEqual(H.b64url_decode(key["x"]), raw, "the JWKS does not hold the key the test generated")

    def test_through_the_gate_a_valid_assertion_passes(self):
        for name, (front, _) in self.fronts.items():
            for login in (self.user, self.union):
                r = H.request(front, "GET", "/api/me", [("Authorization", "Bearer " + login["token"]),
                                                       ("X-Openid", H.FORGED), ("X-Wechat-Assertion", H.FORGED)],
                              host=HOST)
                want = {"openid": login["openid"], "appid": H.APPID}
                if login.get("unionid"):
                    want["unionid"] = login["unionid"]
                self.assertEqual((r.status, r.json()), (200, want), f"{name}: {r}")
                claims = H.verify_assertion(self.edge_assertion(front, login), self.jwks_url, HOST)
                self.assertEqual(claims["sub"], login["openid"])

    def test_direct_requests_need_a_valid_assertion(self):
        import jwt
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

        other = Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
        oid = self.user["openid"]
        for name, (front, backend) in self.fronts.items():
            real = self.edge_assertion(front, self.user)
            now = int(time.time())
            with self.subTest(backend=name):
                # The edge's own assertion, replayed directly while valid:
                # it names this user, so it passes (a short ttl bounds that).
                self.assertEqual(self.direct(backend, oid, real), (200, {"openid": oid, "appid": H.APPID}))
                # The same key, the same claims, ours: passes too (the minting is right).
                self.assertEqual(self.direct(backend, oid, self.mint(real))[0], 200)
                cases = {
                    "no assertion": None,
                    "expired": self.mint(real, iat=now - 120, exp=now - 60),
                    "another aud": self.mint(real, aud="other.example.test"),
                    "a key not in the JWKS (same kid)": self.mint(real, private=other),
                    "a key not in the JWKS (its own kid)": self.mint(real, private=other, kid="not-in-the-jwks"),
                    "sub is not X-Openid": self.mint(real, sub="oSomebodyElse"),
                    "HS256 with the token key": jwt.encode(H.jwt_parts(real)[1], "k" * 32, algorithm="HS256",
                                                           headers={"kid": H.jwt_parts(real)[0]["kid"]}),
                }
                for what, assertion in cases.items():
                    self.assertEqual(self.direct(backend, oid, assertion), REFUSED, f"{name}: {what}")
                # The real assertion with somebody else's X-Openid.
                self.assertEqual(self.direct(backend, "oSomebodyElse", real), REFUSED, f"{name}: other X-Openid")


if __name__ == "__main__":
    sys.exit(H.Results.run([LiveJWKSTest]))
