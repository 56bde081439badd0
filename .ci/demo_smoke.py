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
    payment(login)


def payment(login):
    """WeChat Pay end to end, as in the README: the backend's order goes
    through wechatpay_api to the simulator, the client pays with the
    request_payment it got, and the notification reaches the backend,
    through wechatpay_notify, once."""
    bearer = {"Authorization": "Bearer " + login["token"], **JSON}
    st, order = call("POST", "/api/pay/order", {"description": "caddy-wechat demo tea", "total": 250}, bearer)
    rp = order.get("request_payment") if isinstance(order, dict) else None
    assert st == 200 and rp and rp["signType"] == "RSA" and rp["package"].startswith("prepay_id="), (st, order)
    assert sorted(rp) == ["nonceStr", "package", "paySign", "signType", "timeStamp"], rp
    no = order["out_trade_no"]

    # wx.requestPayment(rp): the simulator checks paySign as the WeChat
    # client does, pays, and notifies the demo's notify_url.
    tampered = dict(rp, nonceStr="0" * 32)
    st, bad = call("POST", "/mock/pay", tampered, JSON, base=MOCK)
    assert st == 400 and bad["error"] == "invalid_pay_sign", (st, bad)
    st, paid = call("POST", "/mock/pay", rp, JSON, base=MOCK)
    assert st == 200 and paid["notify_status"] == 204, (st, paid)

    st, mine = call("GET", "/api/pay/order/" + no, headers=bearer)
    assert st == 200 and mine["state"] == "paid" and mine["transaction_id"] == paid["transaction_id"], (st, mine)
    assert mine["notifications"] == 1 and mine["total"] == 250, mine

    # WeChat Pay sending it again: acknowledged by the edge, not forwarded.
    st, again = call("POST", "/mock/pay/resend", {"notification_id": paid["notification_id"]}, JSON, base=MOCK)
    assert st == 200 and again["notify_status"] == 204, (st, again)
    # A forged notification: refused, nothing forwarded.
    forged = {"id": paid["notification_id"] + "-forged", "event_type": "TRANSACTION.SUCCESS", "resource": {}}
    st, refused = call("POST", "/pay/notify", forged, {"Wechatpay-Serial": "PUB_KEY_ID_0100000000000000000000000000000001", **JSON})
    assert st == 401 and refused["code"] == "FAIL", (st, refused)
    st, mine = call("GET", "/api/pay/order/" + no, headers=bearer)
    assert mine["notifications"] == 1, mine

    # The backend's query, through the internal listener: signed by the
    # edge, the simulator's answer verified.
    st, q = call("GET", "/v3/pay/transactions/out-trade-no/" + no, base=INTERNAL)
    assert st == 200 and q["trade_state"] == "SUCCESS" and q["amount"]["total"] == 250, (st, q)
    # A refund, and its notification.
    st, rf = call("POST", "/v3/refund/domestic/refunds", {"out_trade_no": no, "out_refund_no": "R" + no[1:], "amount": {"refund": 250, "total": 250, "currency": "CNY"}}, JSON, base=INTERNAL)
    assert st == 200 and rf["status"] == "PROCESSING", (st, rf)
    for _ in range(50):
        st, mine = call("GET", "/api/pay/order/" + no, headers=bearer)
        if mine["state"] == "refunded":
            break
        time.sleep(0.1)
    assert mine["state"] == "refunded" and mine["refunds"] == 1 and mine["notifications"] == 1, mine
    print("demo smoke: order", no, "prepaid, paid with request_payment, notified once (resend acknowledged, forgery refused), queried, refunded: ok")


if __name__ == "__main__":
    main()
