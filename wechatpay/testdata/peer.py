#!/usr/bin/python3
"""Independent peer for the wechatpay package's tests (peer_test.go).

It re-implements, from WeChat Pay's documentation and with the
`cryptography` library, the three things the Go package must agree on:

  * a request's Authorization header (parsed here with our own regex, the
    message METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n built here);
  * wx.requestPayment's paySign over appId\\ntimeStamp\\nnonceStr\\npackage\\n;
  * an answer signature over TIMESTAMP\\nNONCE\\nBODY\\n, which it makes for
    the Go verifier to check.

Input is one JSON object on stdin, output one JSON object on stdout.
Exit status 3 means the `cryptography` module is missing.
"""

import base64
import json
import re
import sys

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
except ImportError as e:  # pragma: no cover - depends on the machine
    sys.stderr.write(
        "peer.py: cannot import cryptography (%s); install it with: "
        "apt-get install -y python3-cryptography\n" % e
    )
    sys.exit(3)

AUTH = re.compile(
    r'^WECHATPAY2-SHA256-RSA2048 mchid="([0-9]+)",nonce_str="([^"]+)",'
    r'timestamp="([0-9]+)",serial_no="([0-9A-F]+)",signature="([A-Za-z0-9+/=]+)"$'
)


def verify(pub, message, signature_b64):
    try:
        sig = base64.b64decode(signature_b64, validate=True)
        pub.verify(sig, message, padding.PKCS1v15(), hashes.SHA256())
        return True
    except (InvalidSignature, ValueError):
        return False


def check_request(pub, r):
    m = AUTH.match(r["authorization"])
    if not m or m.group(1) != r["mchid"] or m.group(4) != r["serial"]:
        return False
    _, nonce, ts, _, sig = m.groups()
    body = base64.b64decode(r["body_b64"])
    message = b"\n".join(
        [r["method"].encode(), r["path"].encode(), ts.encode(), nonce.encode(), body]
    ) + b"\n"
    return verify(pub, message, sig)


def check_payment(pub, p):
    q = p["params"]
    if q.get("signType") != "RSA" or not q["package"].startswith("prepay_id="):
        return False
    message = "%s\n%s\n%s\n%s\n" % (p["appId"], q["timeStamp"], q["nonceStr"], q["package"])
    return verify(pub, message.encode(), q["paySign"])


def sign_answer(key, s):
    message = s["timestamp"].encode() + b"\n" + s["nonce"].encode() + b"\n" + base64.b64decode(s["body_b64"]) + b"\n"
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def main():
    req = json.load(sys.stdin)
    pub = serialization.load_pem_public_key(req["public_key_pem"].encode())
    key = serialization.load_pem_private_key(req["private_key_pem"].encode(), password=None)
    out = {
        "requests": [check_request(pub, r) for r in req.get("requests", [])],
        "payments": [check_payment(pub, p) for p in req.get("payments", [])],
        "signatures": [sign_answer(key, s) for s in req.get("to_sign", [])],
        "cryptography": __import__("cryptography").__version__,
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
