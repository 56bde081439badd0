#!/usr/bin/python3
"""The PHP example behind a real Caddy (with caddy-wechat) and a real php-fpm.

    /usr/bin/python3 examples/php/tests/through_caddy.py ./caddy

(examples/php/test_through_caddy.sh is the entry point.) It proves that CGI
folding cannot be used to forge an identity: X_Openid, x.openid, X_OPENID
... all land on $_SERVER['HTTP_X_OPENID'] in PHP, and the gate keeps every
one of them away from it while the real openid gets through.

Two edge servers serve the same routes: one allows `_` and `.` identity
header names (expected_underscore_headers / expected_dot_headers), so the
forgeries reach the gate, one keeps Caddy's default (it drops them). Unguarded
control routes show that the forgeries do reach PHP when no gate is in front.

Everything runs on free loopback ports in a temporary directory, and is
stopped at the end, also on failure. Needs Debian's php-fpm and, for minting
test assertions, python3-jwt and python3-cryptography (examples/deps.sh).
"""

import base64
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
import http.client

HERE = os.path.dirname(os.path.abspath(__file__))
PUBLIC = os.path.normpath(os.path.join(HERE, "..", "public"))
APPID = "wx0123456789abcdef"
AUD = "127.0.0.1"
FORGED = "oFORGED-by-the-client"
OPENID_SPELLINGS = ["X_Openid", "X-Openid", "x.openid", "X_OPENID", "x_openid", "X.Openid", "X-OPENID", "x-openid"]
OTHER_SPELLINGS = ["X_Unionid", "X.Unionid", "X-Unionid", "X_Wechat_Appid", "X.Wechat.Appid", "X-Wechat-Appid"]


def fail(msg):
    print(f"through_caddy: {msg}", file=sys.stderr)
    sys.exit(1)


def free_ports(n):
    """n distinct free loopback ports, chosen by the kernel (bind port 0)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_port(port, proc, name, log, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{read(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{name} did not listen on 127.0.0.1:{port} within {timeout}s:\n{read(log)}")


def read(path, tail=60):
    try:
        with open(path, errors="replace") as f:
            lines = f.readlines()
    except OSError as err:
        return f"({path}: {err})"
    return "".join(lines[-tail:])


def find_php_fpm():
    found = sorted(glob.glob("/usr/sbin/php-fpm[0-9]*"), key=lambda p: [int(x) for x in re.findall(r"\d+", p)])
    if found:
        return found[-1]
    return shutil.which("php-fpm") or fail("no php-fpm under /usr/sbin or on PATH: run examples/deps.sh")


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_keys(jwks_dir):
    """An Ed25519 and a P-256 key, published as jwks.json; and one that is not."""
    import jwt  # noqa: F401  (python3-jwt; checked here for a clear message)
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    ed, rogue, p256 = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate(), ec.generate_private_key(ec.SECP256R1())
    nums = p256.public_key().public_numbers()
    jwks = {"keys": [
        {"kty": "OKP", "crv": "Ed25519", "kid": "ed-1", "alg": "EdDSA", "use": "sig",
         "x": b64url(ed.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))},
        {"kty": "EC", "crv": "P-256", "kid": "ec-1", "alg": "ES256", "use": "sig",
         "x": b64url(nums.x.to_bytes(32, "big")), "y": b64url(nums.y.to_bytes(32, "big"))},
    ]}
    os.makedirs(os.path.join(jwks_dir, ".well-known"))
    with open(os.path.join(jwks_dir, ".well-known", "jwks.json"), "w") as f:
        json.dump(jwks, f)
    return {"ed": (ed, "EdDSA", "ed-1"), "ec": (p256, "ES256", "ec-1"), "rogue": (rogue, "EdDSA", "ed-1")}


def mint(key, sub, **over):
    import jwt
    private, alg, kid = key
    now = int(time.time())
    claims = {"iss": "caddy-wechat", "aud": AUD, "sub": sub, "appid": APPID, "sid": "s-1", "iat": now, "exp": now + 60}
    claims.update(over)
    return jwt.encode(claims, private, algorithm=alg, headers={"kid": kid})


CADDYFILE = """
{{
	admin localhost:{admin}
	auto_https off
	persist_config off
	# Let `_` and `.` spellings of the identity headers through on one of
	# the two edge servers, so they reach the gate (Caddy drops them by
	# default; the other edge server keeps that default).
	servers 127.0.0.1:{edge_allow} {{
		expected_underscore_headers X_Openid X_Unionid X_Wechat_Appid
		expected_dot_headers X.Openid X.Unionid X.Wechat.Appid
	}}
	wechat {{
		api_base http://127.0.0.1:{mock}
		app {appid} {{
			secret {{env.WECHAT_SECRET}}
		}}
	}}
}}

http://127.0.0.1:{mock} {{
	bind 127.0.0.1
	wechat_mock
}}

http://127.0.0.1:{edge_allow}, http://127.0.0.1:{edge_default} {{
	bind 127.0.0.1
	root * {public}
	wechat_login /login

	handle /optional/* {{
		wechat_auth {{
			optional
		}}
		php_fastcgi 127.0.0.1:{fpm}
	}}
	# Controls: no gate, so forged headers reach PHP as they are.
	handle /unguarded/* {{
		php_fastcgi 127.0.0.1:{fpm}
	}}
	# No gate either, but PHP verifies X-Wechat-Assertion.
	handle /verified/* {{
		php_fastcgi 127.0.0.1:{fpm} {{
			env WECHAT_JWKS_URL http://127.0.0.1:{jwks}/.well-known/jwks.json
			env WECHAT_ASSERTION_AUDIENCE {aud}
		}}
	}}
	handle {{
		wechat_auth
		php_fastcgi 127.0.0.1:{fpm}
	}}
}}

http://127.0.0.1:{jwks} {{
	bind 127.0.0.1
	root * {jwks_dir}
	header Cache-Control max-age=300
	file_server
}}
"""

FPM_CONF = """
[global]
pid = {tmp}/php-fpm.pid
error_log = {tmp}/php-fpm.log
daemonize = no

[test]
listen = 127.0.0.1:{fpm}
listen.allowed_clients = 127.0.0.1
pm = static
pm.max_children = 2
access.log = {tmp}/php-fpm-access.log
access.format = "%m %{{REQUEST_URI}}e %s"
catch_workers_output = yes
decorate_workers_output = no
php_admin_flag[log_errors] = on
php_admin_value[error_log] = {tmp}/php-errors.log
; the JWKS cache goes to a private directory under this TMPDIR
env[TMPDIR] = {tmp}
"""


class Harness:
    def __init__(self, caddy):
        self.caddy = caddy
        self.tmp = tempfile.mkdtemp(prefix="php-through-caddy-")
        self.procs = []
        (self.admin, self.mock, self.edge_allow, self.edge_default, self.fpm, self.jwks) = free_ports(6)

    def start(self):
        self.keys = make_keys(os.path.join(self.tmp, "jwks"))
        conf = os.path.join(self.tmp, "php-fpm.conf")
        with open(conf, "w") as f:
            f.write(FPM_CONF.lstrip().format(tmp=self.tmp, fpm=self.fpm))
        fpm = find_php_fpm()
        cmd = [fpm, "-y", conf, "-F"] + (["-R"] if os.geteuid() == 0 else [])
        fpm_out = os.path.join(self.tmp, "php-fpm.out")
        self.fpm_proc = self.spawn(cmd, fpm_out)
        wait_port(self.fpm, self.fpm_proc, os.path.basename(fpm), fpm_out)

        caddyfile = os.path.join(self.tmp, "Caddyfile")
        with open(caddyfile, "w") as f:
            f.write(CADDYFILE.lstrip().format(
                admin=self.admin, mock=self.mock, edge_allow=self.edge_allow, edge_default=self.edge_default,
                fpm=self.fpm, jwks=self.jwks, public=PUBLIC, jwks_dir=os.path.join(self.tmp, "jwks"),
                appid=APPID, aud=AUD))
        env = dict(os.environ,
                   XDG_DATA_HOME=os.path.join(self.tmp, "data"), XDG_CONFIG_HOME=os.path.join(self.tmp, "config"),
                   HOME=self.tmp, WECHAT_SECRET="php-test-secret")
        self.caddy_log = os.path.join(self.tmp, "caddy.log")
        self.caddy_proc = self.spawn([self.caddy, "run", "--config", caddyfile, "--adapter", "caddyfile"],
                                     self.caddy_log, env)
        for port in (self.mock, self.edge_allow, self.edge_default, self.jwks):
            wait_port(port, self.caddy_proc, "caddy", self.caddy_log)

    def spawn(self, cmd, log, env=None):
        out = open(log, "ab")
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
        out.close()
        self.procs.append(proc)
        return proc

    def stop(self):
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def logs(self):
        return "".join(f"--- {name} ---\n{read(os.path.join(self.tmp, name))}\n" for name in
                       ("caddy.log", "php-fpm.out", "php-fpm.log", "php-errors.log", "php-fpm-access.log"))

    # --- HTTP -------------------------------------------------------------

    def request(self, port, method, path, headers=(), body=None):
        """Sends header names exactly as given (http.client keeps X_Openid, x.openid ...)."""
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            for name, value in headers:
                conn.putheader(name, value)
            if body is not None:
                conn.putheader("Content-Type", "application/json")
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            raw = resp.read()
            try:
                data = json.loads(raw)
            except ValueError:
                data = raw.decode(errors="replace")
            return resp.status, data, resp
        finally:
            conn.close()

    def login(self, code):
        status, data, _ = self.request(self.edge_default, "POST", "/login", body=json.dumps({"code": code}).encode())
        if status != 200 or "token" not in data:
            raise AssertionError(f"login with {code!r}: {status} {data}")
        return data

    def access_log(self):
        return read(os.path.join(self.tmp, "php-fpm-access.log"), tail=100000)


def php_echo(h, port, path, headers):
    status, data, _ = h.request(port, "GET", path, headers)
    if status != 200 or not isinstance(data, dict) or data.get("backend") != "php":
        raise AssertionError(f"GET {path} on :{port}: expected PHP's echo, got {status} {data}")
    return data


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


def main():
    if len(sys.argv) != 2:
        fail("usage: through_caddy.py <caddy-binary>")
    caddy = os.path.abspath(sys.argv[1])
    if not os.access(caddy, os.X_OK):
        fail(f"{caddy} is not an executable (build it with: make -f xcaddy.mk build)")
    mods = subprocess.run([caddy, "list-modules"], capture_output=True, text=True)
    if "http.handlers.wechat_auth" not in mods.stdout:
        fail(f"{caddy} has no caddy-wechat modules (list-modules said: {mods.stdout[-500:]}{mods.stderr[-500:]})")
    try:
        import jwt  # noqa: F401
        import cryptography  # noqa: F401
    except ImportError as err:
        fail(f"{err}: run with Debian's /usr/bin/python3 after examples/deps.sh (python3-jwt, python3-cryptography)")

    # SIGTERM/SIGHUP unwind through the finally below, so Caddy and php-fpm
    # (in their own sessions) are stopped too.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: sys.exit(128 + signum))
    h = Harness(caddy)
    passed, failed = 0, 0
    try:
        try:
            h.start()
        except Exception as err:  # noqa: BLE001
            print(f"through_caddy: could not start the services: {err}\n{h.logs()}", file=sys.stderr)
            return 1
        user = h.login("phpuser.1")
        union = h.login("unionphp.1")
        expect("unionid" in union and "unionid" not in user, f"simulator users: {user} {union}")
        servers = {"allowing _ and .": h.edge_allow, "default": h.edge_default}

        def case(name, fn):
            nonlocal passed, failed
            try:
                fn()
                passed += 1
                print(f"ok - {name}")
            except Exception:  # noqa: BLE001
                failed += 1
                print(f"not ok - {name}\n    " + traceback.format_exc().strip().replace("\n", "\n    "))

        for label, port in servers.items():
            def forged_each(port=port):
                for login in (user, union):
                    bearer = ("Authorization", "Bearer " + login["token"])
                    for spelling in OPENID_SPELLINGS + OTHER_SPELLINGS:
                        e = php_echo(h, port, "/echo", [bearer, (spelling, FORGED)])
                        got = (e["openid"], e["unionid"], e["appid"])
                        want = (login["openid"], login.get("unionid", ""), APPID)
                        expect(got == want, f"{spelling}: PHP saw (openid, unionid, appid) {got}, want {want}")
                        expect(e["headers"].get("X-Openid") == [login["openid"]], f"{spelling}: {e['headers']}")
                        expect(FORGED not in json.dumps(e), f"{spelling}: the forged value reached PHP: {e}")

            def forged_all(port=port):
                headers = [("Authorization", "Bearer " + user["token"])] + \
                    [(n, FORGED) for n in ("X-Openid", "X_Openid", "X.Openid", "X_Unionid", "X.Wechat.Appid")]
                e = php_echo(h, port, "/echo", headers)
                expect((e["openid"], e["unionid"], e["appid"]) == (user["openid"], "", APPID), f"PHP saw {e}")
                expect(FORGED not in json.dumps(e), f"the forged value reached PHP: {e}")
                status, me, _ = h.request(port, "GET", "/api/me", headers)
                expect((status, me) == (200, {"openid": user["openid"], "appid": APPID}), f"/api/me: {status} {me}")

            def optional_anonymous(port=port):
                for spelling in OPENID_SPELLINGS + OTHER_SPELLINGS:
                    e = php_echo(h, port, "/optional/echo", [(spelling, FORGED)])
                    expect((e["openid"], e["unionid"], e["appid"]) == ("", "", ""), f"{spelling}: PHP saw {e}")
                    ids = [k for k in e["headers"] if k.lower() in ("x-openid", "x-unionid", "x-wechat-appid")]
                    expect(not ids, f"{spelling}: identity variables reached PHP anonymously: {ids}")
                status, me, _ = h.request(port, "GET", "/optional/api/me", [("X_Openid", FORGED)])
                expect(status == 200 and me.get("backend") == "php" and me["openid"] == "", f"{status} {me}")
                e = php_echo(h, port, "/optional/echo", [("Authorization", "Bearer " + union["token"]), ("X.Openid", FORGED)])
                expect((e["openid"], e["unionid"]) == (union["openid"], union["unionid"]), f"with a token: {e}")

            def required_no_token(port=port):
                marker = f"/required-{uuid.uuid4().hex}"
                for spelling in ("X_Openid", "X-Openid", "x.openid"):
                    status, data, resp = h.request(port, "GET", marker, [(spelling, FORGED)])
                    expect(status == 401 and isinstance(data, dict) and data.get("error") == "unauthorized",
                           f"{spelling}: {status} {data}")
                    expect(resp.getheader("WWW-Authenticate", "").startswith("Bearer"), "Caddy's 401, not PHP's")
                # The optional route's request shows in php-fpm's access log; this one must not.
                seen = f"/optional/seen-{uuid.uuid4().hex}"
                php_echo(h, port, seen, [])
                deadline = time.monotonic() + 2
                while seen not in h.access_log() and time.monotonic() < deadline:
                    time.sleep(0.05)
                expect(seen in h.access_log(), f"php-fpm's access log lacks {seen}:\n{h.access_log()[-2000:]}")
                expect(marker not in h.access_log(), f"PHP was called for {marker}")

            case(f"[{label}] a valid token with a forged identity header, each spelling: PHP sees the token's", forged_each)
            case(f"[{label}] a valid token with X-Openid, X_Openid and X.Openid at once: PHP sees the token's", forged_all)
            case(f"[{label}] optional route, no token, forged spellings: PHP sees no HTTP_X_OPENID at all", optional_anonymous)
            case(f"[{label}] required route, no token: 401 from Caddy, PHP not called", required_no_token)

        def controls():
            # Without a gate the folding is plain: every spelling Caddy lets
            # through becomes HTTP_X_OPENID. This is what the gate stands between.
            for spelling in ("X_Openid", "x.openid", "X_OPENID", "X.Openid"):
                e = php_echo(h, h.edge_allow, "/unguarded/echo", [(spelling, FORGED)])
                expect(e["openid"] == FORGED, f"{spelling} on the allowing server: PHP saw {e['openid']!r}")
                e = php_echo(h, h.edge_default, "/unguarded/echo", [(spelling, FORGED)])
                expect(e["openid"] == "", f"{spelling} on the default server: Caddy should drop it, PHP saw {e['openid']!r}")
            e = php_echo(h, h.edge_default, "/unguarded/echo", [("X-Openid", FORGED)])
            expect(e["openid"] == FORGED, f"X-Openid without a gate: PHP saw {e['openid']!r}")

        def verified():
            # No gate on /verified/, as a route that forgot it: PHP refuses an
            # identity without a valid assertion (minted here with PyJWT, checked
            # in PHP with sodium/openssl against a JWKS that Caddy serves).
            port, oid = h.edge_default, "oVerified-user"
            for name, key, over, headers, want in [
                ("no assertion", None, {}, [], 401),
                ("EdDSA", "ed", {}, [], 200),
                ("ES256", "ec", {}, [], 200),
                ("expired", "ed", {"iat": int(time.time()) - 120, "exp": int(time.time()) - 60}, [], 401),
                ("another aud", "ed", {"aud": "other.example.com"}, [], 401),
                ("sub is not X-Openid", "ed", {"sub": FORGED}, [], 401),
                ("key not in the JWKS", "rogue", {}, [], 401),
                ("appid mismatch", "ed", {}, [("X-Wechat-Appid", "wxffffffffffffffff")], 401),
            ]:
                hdrs = [("X-Openid", oid)] + headers
                if key:
                    hdrs.append(("X-Wechat-Assertion", mint(h.keys[key], over.pop("sub", oid), **over)))
                status, data, _ = h.request(port, "GET", "/verified/echo", hdrs)
                if want == 200:
                    expect(status == 200 and data.get("backend") == "php" and data["openid"] == oid,
                           f"{name}: {status} {data}")
                else:
                    expect((status, data) == (401, {"error": "invalid_assertion"}), f"{name}: {status} {data}")
            e = php_echo(h, port, "/verified/echo", [])
            expect(e["openid"] == "", f"anonymous: {e}")
            cache = glob.glob(os.path.join(h.tmp, "caddy-wechat-jwks-*", "*.json"))
            expect(len(cache) == 1, f"php-fpm's JWKS cache file: {cache}")

        case("controls: without a gate, X_Openid and x.openid reach PHP as HTTP_X_OPENID (and Caddy's default drops them)", controls)
        case("verification in php-fpm: valid EdDSA/ES256 pass; none, expired, other aud, other sub, unknown key, other appid: 401", verified)
    except (KeyboardInterrupt, SystemExit) as err:
        failed += 1
        print(f"not ok - interrupted ({type(err).__name__} {err}); stopping Caddy and php-fpm", flush=True)
        raise
    except Exception:  # noqa: BLE001
        failed += 1
        print("not ok - harness\n    " + traceback.format_exc().strip().replace("\n", "\n    "))
    finally:
        h.stop()
        if failed:
            sys.stdout.flush()
            print(h.logs(), file=sys.stderr, flush=True)
        if os.environ.get("KEEP_TMP"):
            print(f"kept {h.tmp}")
        else:
            shutil.rmtree(h.tmp, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
