"""Tests for app.py and wechat_assertion.py, with Debian's interpreter:

    /usr/bin/python3 -m unittest discover -s examples/flask -v
"""

import base64
import http.client
import json
import socket
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from werkzeug.serving import make_server

import app as backend
from wechat_assertion import AssertionVerifier

AUD = "api.example.com"
ISS = "caddy-wechat"
OPENID = "oNqLNgG-alice"
APPID = "wx0123456789abcdef"
REFUSED = (401, {"error": "invalid_assertion"})


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Key:
    """A signing key with its kid and public JWK."""

    def __init__(self, alg, kid):
        self.alg, self.kid = alg, kid
        if alg == "EdDSA":
            self.private = Ed25519PrivateKey.generate()
            raw = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            self.jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}
        else:
            self.private = ec.generate_private_key(ec.SECP256R1())
            nums = self.private.public_key().public_numbers()
            self.jwk = {"kty": "EC", "crv": "P-256",
                        "x": b64url(nums.x.to_bytes(32, "big")), "y": b64url(nums.y.to_bytes(32, "big"))}
        self.jwk.update(kid=kid, alg=alg, use="sig")

    def mint(self, **over):
        """An assertion as the edge mints it; a claim set to None is left out."""
        now = int(time.time())
        claims = {"iss": ISS, "aud": AUD, "sub": OPENID, "appid": APPID, "sid": "s-1", "iat": now, "exp": now + 60}
        claims.update(over)
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, self.private, algorithm=self.alg, headers={"kid": self.kid})


class JWKSServer:
    """Serves a JWKS on a free port and counts the fetches."""

    def __init__(self, keys):
        body = json.dumps({"keys": [k.jwk for k in keys]}).encode()
        outer = self
        self.hits = 0

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", "max-age=300")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


class ClientMixin:
    def fetch(self, path, headers=None, data=None, method="GET"):
        resp = self.client.open(path, method=method, headers=headers or {}, data=data)
        self.assertEqual(resp.headers["Content-Type"], "application/json")
        return resp.status_code, resp.get_json()


class HeaderTrustTest(ClientMixin, unittest.TestCase):
    """WECHAT_JWKS_URL unset: the same behaviour as the stdlib examples."""

    def setUp(self):
        self.client = backend.create_app({"jwks_url": ""}).test_client()

    def test_me_reads_trusted_headers(self):
        status, body = self.fetch("/api/me", {"X-Openid": "o-123", "X-Unionid": "u-456", "X-Wechat-Appid": "wx-app"})
        self.assertEqual((status, body), (200, {"openid": "o-123", "unionid": "u-456", "appid": "wx-app"}))

    def test_me_header_names_are_case_insensitive(self):
        status, body = self.fetch("/api/me", {"x-OPENID": "o-123", "X-WECHAT-APPID": "wx-app"})
        self.assertEqual((status, body), (200, {"openid": "o-123", "appid": "wx-app"}))

    def test_me_omits_unknown_unionid(self):
        status, body = self.fetch("/api/me", {"X-Openid": "o-123", "X-Wechat-Appid": "wx-app"})
        self.assertEqual(status, 200)
        self.assertNotIn("unionid", body)

    def test_me_anonymous_is_unauthorized(self):
        self.assertEqual(self.fetch("/api/me"), (401, {"error": "unauthorized"}))

    def test_me_rejects_other_methods(self):
        resp = self.client.post("/api/me", headers={"X-Openid": "o-123"}, data=b"x")
        self.assertEqual((resp.status_code, resp.headers["Allow"]), (405, "GET"))

    def test_echo_authenticated(self):
        status, body = self.fetch("/orders/42?x=1", {
            "X-Openid": "o-123", "X-Unionid": "u-456", "X-Wechat-Appid": "wx-app",
            "Content-Type": "application/json",
        }, data=b'{"qty":2}', method="POST")
        self.assertEqual(status, 200)
        for key, want in {
            "backend": "flask", "method": "POST", "path": "/orders/42",
            "openid": "o-123", "unionid": "u-456", "appid": "wx-app", "body": '{"qty":2}',
        }.items():
            self.assertEqual(body[key], want, key)
        self.assertEqual(body["headers"]["X-Openid"], ["o-123"])
        self.assertEqual(body["headers"]["Host"], ["localhost"])

    def test_echo_anonymous(self):
        status, body = self.fetch("/")
        self.assertEqual(status, 200)
        self.assertEqual((body["path"], body["openid"], body["unionid"], body["appid"], body["body"]), ("/", "", "", "", ""))
        self.assertNotIn("X-Openid", body["headers"])

    def test_echo_body_is_capped(self):
        status, body = self.fetch("/upload", data=b"a" * (backend.MAX_ECHO_BODY + 100), method="PUT")
        self.assertEqual(status, 200)
        self.assertEqual(len(body["body"]), backend.MAX_ECHO_BODY)


class AssertionTest(ClientMixin, unittest.TestCase):
    """WECHAT_JWKS_URL set: identity headers need a matching X-Wechat-Assertion."""

    @classmethod
    def setUpClass(cls):
        cls.ed, cls.ec = Key("EdDSA", "ed-1"), Key("ES256", "ec-1")
        cls.rogue = Key("EdDSA", "ed-1")  # same kid as a published key, another key
        cls.unknown = Key("EdDSA", "ed-unknown")
        cls.jwks = JWKSServer([cls.ed, cls.ec])
        cls.app = backend.create_app({"jwks_url": cls.jwks.url, "audience": AUD, "issuer": ISS})

    @classmethod
    def tearDownClass(cls):
        cls.jwks.close()

    def setUp(self):
        self.client = self.app.test_client()

    def me(self, assertion, **headers):
        h = {"X-Openid": OPENID, "X-Wechat-Appid": APPID, **{k.replace("_", "-"): v for k, v in headers.items()}}
        if assertion:
            h["X-Wechat-Assertion"] = assertion
        return self.fetch("/api/me", h)

    def refused(self, assertion, reason, **headers):
        """Asserts a 401 invalid_assertion and that the log gives `reason`."""
        with self.assertLogs(self.app.logger, "WARNING") as logs:
            self.assertEqual(self.me(assertion, **headers), REFUSED)
        self.assertIn(reason, "\n".join(logs.output))

    def test_valid_eddsa_passes(self):
        self.assertEqual(self.me(self.ed.mint()), (200, {"openid": OPENID, "appid": APPID}))

    def test_valid_es256_passes(self):
        self.assertEqual(self.me(self.ec.mint()), (200, {"openid": OPENID, "appid": APPID}))

    def test_valid_with_unionid_passes(self):
        self.assertEqual(self.me(self.ed.mint(unionid="u-1"), X_Unionid="u-1"),
                         (200, {"openid": OPENID, "unionid": "u-1", "appid": APPID}))

    def test_missing_assertion_refused(self):
        self.refused("", "without X-Wechat-Assertion")

    def test_expired_refused(self):
        now = int(time.time())
        self.refused(self.ed.mint(iat=now - 120, exp=now - 60), "ExpiredSignatureError")

    def test_other_audience_refused(self):
        self.refused(self.ed.mint(aud="other.example.com"), "InvalidAudienceError")

    def test_other_issuer_refused(self):
        self.refused(self.ed.mint(iss="someone-else"), "InvalidIssuerError")

    def test_sub_not_openid_refused(self):
        self.refused(self.ed.mint(sub="oSomebodyElse"), "sub is not X-Openid")

    def test_appid_mismatch_refused(self):
        self.refused(self.ed.mint(appid="wxffffffffffffffff"), "appid is not X-Wechat-Appid")

    def test_unionid_mismatch_refused(self):
        self.refused(self.ed.mint(unionid="u-1"), "unionid is not X-Unionid", X_Unionid="u-2")
        self.refused(self.ed.mint(), "unionid is not X-Unionid", X_Unionid="u-2")

    def test_key_not_in_jwks_refused(self):
        self.refused(self.rogue.mint(), "InvalidSignatureError")
        self.refused(self.unknown.mint(), "PyJWKClientError")

    def test_lifetime_future_iat_missing_exp_refused(self):
        now = int(time.time())
        self.refused(self.ed.mint(exp=now + 600), "lifetime over 5 minutes")
        self.refused(self.ed.mint(iat=now + 120, exp=now + 150), "ImmatureSignatureError")
        self.refused(self.ed.mint(exp=None), "MissingRequiredClaimError")
        self.refused(self.ed.mint(exp=[now + 60]), "Error")

    def test_wrong_alg_refused(self):
        hs = jwt.encode({"sub": OPENID}, "x" * 32, algorithm="HS256", headers={"kid": "ed-1"})
        self.refused(hs, "alg 'HS256' not allowed")
        none = b64url(b'{"alg":"none","kid":"ed-1"}') + "." + b64url(json.dumps({"sub": OPENID}).encode()) + "."
        self.refused(none, "alg 'none' not allowed")
        # An ES256 header naming the Ed25519 key.
        h = b64url(b'{"alg":"ES256","kid":"ed-1"}')
        self.refused(h + "." + self.ed.mint().split(".", 1)[1], "is not an ES256 key")

    def test_garbage_and_oversize_refused(self):
        self.refused("not-a-jwt", "DecodeError")
        self.refused("a" * 5000, "over 4 KiB")

    def test_refused_request_never_reaches_the_view(self):
        with self.assertLogs(self.app.logger, "WARNING") as logs:
            self.assertEqual(self.fetch("/orders", {"X-Openid": OPENID}, data=b"x", method="POST"), REFUSED)
        self.assertIn("POST /orders", "\n".join(logs.output))

    def test_other_identity_headers_alone_need_an_assertion(self):
        with self.assertLogs(self.app.logger, "WARNING"):
            self.assertEqual(self.fetch("/x", {"X-Wechat-Appid": APPID}), REFUSED)
            self.assertEqual(self.fetch("/x", {"X-Unionid": "u-1"}), REFUSED)

    def test_assertion_without_openid_refused(self):
        with self.assertLogs(self.app.logger, "WARNING") as logs:
            self.assertEqual(self.fetch("/x", {"X-Wechat-Appid": APPID, "X-Wechat-Assertion": self.ed.mint()}), REFUSED)
        self.assertIn("without X-Openid", "\n".join(logs.output))

    def test_anonymous_passes_as_anonymous(self):
        status, body = self.fetch("/public")
        self.assertEqual((status, body["openid"]), (200, ""))
        self.assertEqual(self.fetch("/api/me"), (401, {"error": "unauthorized"}))

    def test_jwks_is_cached(self):
        for _ in range(3):
            self.assertEqual(self.me(self.ed.mint())[0], 200)
        # One fetch, plus at most one refetch for an unknown kid (then a 30 s cooldown).
        self.assertIn(self.jwks.hits, (1, 2))
        with self.assertLogs(self.app.logger, "WARNING"):
            for _ in range(5):
                self.assertEqual(self.me(self.unknown.mint()), REFUSED)
        self.assertIn(self.jwks.hits, (1, 2))


class WerkzeugServerTest(unittest.TestCase):
    """Through Werkzeug's real HTTP server: WSGI folds header spellings."""

    def serve(self, app):
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        self.addCleanup(thread.join)
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        return server.server_port

    def get(self, port, headers):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.putrequest("GET", "/api/me")
            for name, value in headers:
                conn.putheader(name, value)
            conn.endheaders()
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read())
        finally:
            conn.close()

    def test_underscore_header_lands_on_x_openid(self):
        # Header trust only: X_Openid reaches the view as X-Openid. This is why
        # the gate strips every spelling, and why the backend must be reachable
        # through Caddy alone.
        port = self.serve(backend.create_app({"jwks_url": ""}))
        self.assertEqual(self.get(port, [("X_Openid", "o-forged")]), (200, {"openid": "o-forged", "appid": ""}))

    def test_assertion_refuses_a_folded_forgery(self):
        ed = Key("EdDSA", "ed-1")
        jwks = JWKSServer([ed])
        self.addCleanup(jwks.close)
        app = backend.create_app({"jwks_url": jwks.url, "audience": AUD})
        port = self.serve(app)
        good = [("X-Openid", OPENID), ("X-Wechat-Appid", APPID), ("X-Wechat-Assertion", ed.mint())]
        self.assertEqual(self.get(port, good), (200, {"openid": OPENID, "appid": APPID}))
        # Werkzeug joins X-Openid and X_Openid into "real,forged": not the sub.
        with self.assertLogs(app.logger, "WARNING") as logs:
            self.assertEqual(self.get(port, good + [("X_Openid", "o-forged")]), REFUSED)
        self.assertIn("sub is not X-Openid", "\n".join(logs.output))


class ConfigTest(unittest.TestCase):
    def test_jwks_url_without_audience_is_an_error(self):
        with self.assertRaisesRegex(ValueError, "WECHAT_ASSERTION_AUDIENCE"):
            backend.create_app({"jwks_url": "http://127.0.0.1:1/jwks.json", "audience": ""})

    def test_env(self):
        cfg = backend.config_from_env({"WECHAT_JWKS_URL": "http://h/j", "WECHAT_ASSERTION_AUDIENCE": "a"})
        self.assertEqual(cfg, {"jwks_url": "http://h/j", "audience": "a", "issuer": "caddy-wechat"})

    def test_non_http_jwks_url_is_an_error(self):
        with self.assertRaisesRegex(ValueError, "http"):
            AssertionVerifier("file:///etc/passwd", AUD)

    def test_unreachable_jwks_refuses(self):
        with socket.socket() as s:  # a port nothing listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        app = backend.create_app({"jwks_url": f"http://127.0.0.1:{port}/jwks.json", "audience": AUD})
        client = app.test_client()
        with self.assertLogs(app.logger, "WARNING") as logs:
            resp = client.get("/api/me", headers={"X-Openid": OPENID, "X-Wechat-Assertion": Key("EdDSA", "k").mint()})
        self.assertEqual((resp.status_code, resp.get_json()), REFUSED)
        self.assertIn("cannot fetch the JWKS", "\n".join(logs.output))


if __name__ == "__main__":
    unittest.main()
