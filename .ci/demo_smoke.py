"""The README's demo session, as a test against the running demo."""
import json
import sys
import time
import urllib.error
import urllib.request

EDGE = "http://localhost:8080"


def call(method, path, body=None, headers=None):
    req = urllib.request.Request(EDGE + path, method=method, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def wait_up():
    for _ in range(100):
        try:
            urllib.request.urlopen(EDGE + "/", timeout=1)
            return
        except Exception:
            time.sleep(0.2)
    sys.exit("demo did not start on :8080")


def main():
    wait_up()
    st, login = call("POST", "/login", b'{"code":"alice.1"}', {"Content-Type": "application/json"})
    assert st == 200 and login["token_type"] == "Bearer", (st, login)
    auth = {"Authorization": "Bearer " + login["token"], "X-Openid": "forged"}
    st, me = call("GET", "/api/me", headers=auth)
    assert st == 200 and me["openid"] == login["openid"], (st, me)
    st, again = call("POST", "/login", b'{"code":"alice.1"}', {"Content-Type": "application/json"})
    assert st == 401 and again["error"] == "invalid_code", (st, again)
    st, anon = call("GET", "/api/me", headers={"X-Openid": "forged"})
    assert st == 401 and anon["error"] == "unauthorized", (st, anon)
    print("demo smoke: login, /api/me as", me["openid"], ", code reuse 401, forged header 401: ok")


if __name__ == "__main__":
    main()
