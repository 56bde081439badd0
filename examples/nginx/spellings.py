#!/usr/bin/env python3
"""The spellings of caddy-wechat's trusted header names that nginx can pass.

    python3 examples/nginx/spellings.py            # the names, one a line
    python3 examples/nginx/spellings.py --nginx    # the proxy_set_header lines of wechat-identity.conf

The trusted names are read from the gate's own list (trustedNames in
caddymodule/gate/inbound.go), so that a name added there shows up here and
the recipe test fails until wechat-identity.conf clears it too.

With `underscores_in_headers on`, nginx passes a client's header whose name
uses `_` where ours uses `-` (X_Openid, X-Wechat_Appid, ...) and keeps it
apart from ours: proxy_set_header X-Openid replaces X-Openid only, in any
letter case, and X_Openid goes through to the backend as it came. Any
separator may be either, so a name with n separators has 2**n spellings.
Letter case needs no spelling of its own: nginx compares names in lower
case. `.` needs none either: nginx drops a name with `.` as invalid, as long
as `ignore_invalid_headers` stays on (its default); never turn it off.
"""

import itertools
import os
import re
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
INBOUND = os.path.join(ROOT, "caddymodule", "gate", "inbound.go")

# The names the gate sets and the recipe passes on with their values; every
# other spelling, and every X-Wechatpay-* name, is cleared.
SET = {"X-Openid", "X-Unionid", "X-Wechat-Appid", "X-Wechat-Assertion"}


def trusted_names(path=INBOUND):
    """The canonical names (X-Openid, ...) of the gate's trustedNames."""
    with open(path) as f:
        src = f.read()
    block = re.search(r"var trustedNames = \[\.\.\.\]string\{(.*?)\n\}", src, re.S)
    if not block:
        raise SystemExit(f"spellings.py: no trustedNames list in {path}")
    names = re.findall(r'"([a-z0-9-]+)"', block.group(1))
    return ["-".join(p.capitalize() for p in n.split("-")) for n in names]


def spellings(name):
    """Every -/_ spelling of name, the canonical one first."""
    parts = name.split("-")
    out = []
    for seps in itertools.product("-_", repeat=len(parts) - 1):
        out.append(parts[0] + "".join(s + p for s, p in zip(seps, parts[1:])))
    return out


def cleared():
    """The spellings wechat-identity.conf sets to "" (all but the four it sets)."""
    return [s for n in trusted_names() for s in spellings(n) if s not in SET]


def nginx_lines():
    return [f'proxy_set_header {s:<26} "";' for s in cleared()]


if __name__ == "__main__":
    if sys.argv[1:] == ["--nginx"]:
        print("\n".join(nginx_lines()))
    else:
        print("\n".join(s for n in trusted_names() for s in spellings(n)))
