"""The README's demo session, as a test against the running demo."""
import json
import sys
import time
import urllib.error
import urllib.request

EDGE = "http://localhost:8080"
MOCK = "http://127.0.0.1:8081"  # the simulator, playing the WeChat client too
INTERNAL = "http://127.0.0.1:2020"  # wechat_api, for backends only
APPID = "wx0123456789abcdef"
JSON = {"Content-Type": "application/json"}


def call(method, path, body=None, headers=None, base=EDGE):
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    req = urllib.request.Request(base + path, method=method, data=body, headers=headers or {})
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
    # A repeat of the same code (a double tap, a retry after a lost
    # response) gets the same answer; a used code after the 30 s window
    # would get 401 invalid_code, as a never-issued one does now.
    st, again = call("POST", "/login", b'{"code":"alice.1"}', {"Content-Type": "application/json"})
    assert st == 200 and again["token"] == login["token"], (st, again)
    st, bad = call("POST", "/login", b'{"code":"err40029"}', {"Content-Type": "application/json"})
    assert st == 401 and bad["error"] == "invalid_code", (st, bad)
    st, anon = call("GET", "/api/me", headers={"X-Openid": "forged"})
    assert st == 401 and anon["error"] == "unauthorized", (st, anon)
    print("demo smoke: login, /api/me as", me["openid"], ", repeated code same answer, bad code 401, forged header 401: ok")
    user_data(login)


def user_data(login):
    """Decrypt, phone number and wechat_api, as in the README."""
    bearer = {"Authorization": "Bearer " + login["token"], **JSON}
    openid = login["openid"]

    # The simulator makes encryptedData for the logged-in user, under the
    # session_key it gave at login, as the WeChat client would.
    st, enc = call("POST", "/mock/encrypt", {"appid": APPID, "openid": openid,
                                             "data": {"nickName": "Alice", "gender": 2}}, JSON, base=MOCK)
    assert st == 200 and enc.get("encryptedData") and enc.get("iv"), (st, enc)
    st, info = call("POST", "/api/decrypt", {"encryptedData": enc["encryptedData"], "iv": enc["iv"]}, bearer)
    assert st == 200 and info["nickName"] == "Alice" and info["watermark"]["appid"] == APPID, (st, info)

    # Forward mode: the backend receives the verified object as the body.
    st, echo = call("POST", "/api/profile", {"encryptedData": enc["encryptedData"], "iv": enc["iv"]}, bearer)
    assert st == 200 and json.loads(echo["body"])["nickName"] == "Alice" and echo["openid"] == openid, (st, echo)

    # Mangled input is a 400 that says why; no token is a 401.
    st, bad = call("POST", "/api/decrypt", {"encryptedData": enc["encryptedData"].replace("+", " "), "iv": enc["iv"]}, bearer)
    assert (st == 400 and "'+'" in bad["message"]) or "+" not in enc["encryptedData"], (st, bad)
    st, anon = call("POST", "/api/decrypt", {"encryptedData": enc["encryptedData"], "iv": enc["iv"]}, JSON)
    assert st == 401 and anon["error"] == "unauthorized", (st, anon)

    # A phone number from a getPhoneNumber code; the code is single use.
    st, phone = call("POST", "/api/phone", {"code": "phone.1"}, bearer)
    assert st == 200 and len(phone["phoneNumber"]) == 11 and phone["countryCode"] == "86", (st, phone)
    st, again = call("POST", "/api/phone", {"code": "phone.1"}, bearer)
    assert st == 200 and again == phone, (st, again)
    st, used = call("POST", "/api/phone", {"code": "err40029.1"}, bearer)
    assert st == 400 and used["error"] == "invalid_code", (st, used)

    # A backend calls a WeChat API through the internal listener, without
    # an access_token; after the simulator makes the token stale, the
    # call still succeeds (40001, new token, one retry).
    st, ips = call("GET", "/cgi-bin/get_api_domain_ip", base=INTERNAL)
    assert st == 200 and ips["ip_list"], (st, ips)
    st, _ = call("POST", "/mock/expire_token", {"appid": APPID}, JSON, base=MOCK)
    assert st == 200
    st, echo = call("POST", "/wxa/mock/echo", {"hello": "wechat"}, JSON, base=INTERNAL)
    assert st == 200 and echo["errcode"] == 0 and json.loads(echo["body"]) == {"hello": "wechat"}, (st, echo)
    print("demo smoke: decrypt, forward, phone", phone["purePhoneNumber"], ", wechat_api with token retry: ok")


if __name__ == "__main__":
    main()
