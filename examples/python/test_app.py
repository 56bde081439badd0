"""Tests for app.py: python3 -m unittest discover -s examples/python -v"""

import http.client
import json
import threading
import unittest
import urllib.error
import urllib.request

import app


class QuietHandler(app.Handler):
    def log_message(self, format, *args):
        pass


class BackendTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = app.make_server("127.0.0.1:0", QuietHandler)
        cls.port = cls.server.server_address[1]
        cls.thread = threading.Thread(target=cls.server.serve_forever, daemon=True)
        cls.thread.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()
        cls.thread.join()

    def fetch(self, path, headers=None, data=None, method=None):
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=data, headers=headers or {}, method=method
        )
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                status, body, ctype = resp.status, resp.read(), resp.headers["Content-Type"]
        except urllib.error.HTTPError as err:
            status, body, ctype = err.code, err.read(), err.headers["Content-Type"]
        self.assertEqual(ctype, "application/json")
        return status, json.loads(body)

    def test_me_reads_trusted_headers(self):
        status, body = self.fetch("/api/me", {
            "X-Openid": "o-123", "X-Unionid": "u-456", "X-Wechat-Appid": "wx-app",
        })
        self.assertEqual(status, 200)
        self.assertEqual(body, {"openid": "o-123", "unionid": "u-456", "appid": "wx-app"})

    def test_me_header_names_are_case_insensitive(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.putrequest("GET", "/api/me")
            conn.putheader("x-OPENID", "o-123")
            conn.putheader("x-wechat-appid", "wx-app")
            conn.endheaders()
            resp = conn.getresponse()
            self.assertEqual(resp.status, 200)
            self.assertEqual(json.loads(resp.read()), {"openid": "o-123", "appid": "wx-app"})
        finally:
            conn.close()

    def test_me_omits_unknown_unionid(self):
        status, body = self.fetch("/api/me", {"X-Openid": "o-123", "X-Wechat-Appid": "wx-app"})
        self.assertEqual(status, 200)
        self.assertNotIn("unionid", body)

    def test_me_anonymous_is_unauthorized(self):
        self.assertEqual(self.fetch("/api/me"), (401, {"error": "unauthorized"}))

    def test_me_rejects_other_methods(self):
        status, _ = self.fetch("/api/me", {"X-Openid": "o-123"}, data=b"x", method="POST")
        self.assertEqual(status, 405)

    def test_echo_authenticated(self):
        status, body = self.fetch("/orders/42?x=1", {
            "X-Openid": "o-123", "X-Unionid": "u-456", "X-Wechat-Appid": "wx-app",
            "Content-Type": "application/json",
        }, data=b'{"qty":2}', method="POST")
        self.assertEqual(status, 200)
        for key, want in {
            "backend": "python", "method": "POST", "path": "/orders/42",
            "openid": "o-123", "unionid": "u-456", "appid": "wx-app", "body": '{"qty":2}',
        }.items():
            self.assertEqual(body[key], want, key)
        self.assertEqual(body["headers"]["X-Openid"], ["o-123"])
        self.assertEqual(body["headers"]["Host"], [f"127.0.0.1:{self.port}"])

    def test_echo_anonymous(self):
        status, body = self.fetch("/public")
        self.assertEqual(status, 200)
        self.assertEqual((body["openid"], body["unionid"], body["appid"], body["body"]), ("", "", "", ""))
        self.assertNotIn("X-Openid", body["headers"])

    def test_echo_body_is_capped(self):
        status, body = self.fetch("/upload", data=b"a" * (app.MAX_ECHO_BODY + 100), method="PUT")
        self.assertEqual(status, 200)
        self.assertEqual(len(body["body"]), app.MAX_ECHO_BODY)

    def test_echo_chunked_body(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            # An iterable body without Content-Length is sent chunked.
            conn.request("POST", "/stream", body=iter([b"hello ", b"world"]))
            resp = conn.getresponse()
            self.assertEqual(resp.status, 200)
            self.assertEqual(json.loads(resp.read())["body"], "hello world")
            # The connection stays usable after a chunked body.
            conn.request("GET", "/again")
            resp = conn.getresponse()
            self.assertEqual(json.loads(resp.read())["path"], "/again")
        finally:
            conn.close()


if __name__ == "__main__":
    unittest.main()
