"""What the forward-auth recipe tests share: free ports, processes in a
temporary directory, a recording backend, raw HTTP, logins through the
simulator, and assertion checks with PyJWT against the live JWKS.

Run with Debian's /usr/bin/python3 (python3-jwt, python3-cryptography).
Every process is started in its own session and stopped by stop(), which
the tests call from tearDownClass, also on failure; on a failure the logs
of every process are printed.
"""

import base64
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "examples", "nginx"))
import spellings  # noqa: E402  (the trusted names, from the gate's own list)
APPID = "wx0123456789abcdef"
SECRET = "recipes-test-secret"
FORGED = "oFORGED-by-the-client"


def caddy_binary():
    """The plugin's ./caddy (RECIPES_CADDY overrides), checked."""
    path = os.path.abspath(os.environ.get("RECIPES_CADDY") or os.path.join(ROOT, "caddy"))
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"{path} is not an executable: build it with make -f xcaddy.mk build")
    return path


def free_ports(n):
    """n distinct free loopback ports, chosen by the kernel."""
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


def read(path, tail=80):
    try:
        with open(path, errors="replace") as f:
            lines = f.readlines()
    except OSError as err:
        return f"({path}: {err})\n"
    return "".join(lines[-tail:])


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jwt_parts(tok):
    """The header and the claims of a JWT, unverified."""
    h, c, _ = tok.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(c))


class Recorder:
    """The backend: records every request it gets (method, path, and each
    header name and value exactly as received) and answers 200 with that
    record as JSON. In-process, so a test reads self.requests directly."""

    def __init__(self):
        self.requests = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # One write per answer, sent at once (no Nagle, no delayed-ACK stall).
            wbufsize = 1 << 16
            disable_nagle_algorithm = True

            def handle_one(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                rec = {"method": self.command, "path": self.path,
                       "headers": [[k, v] for k, v in self.headers.raw_items()],
                       "body": body.decode("utf-8", "replace")}
                with outer.lock:
                    outer.requests.append(rec)
                out = json.dumps(rec).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_one

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def count(self):
        with self.lock:
            return len(self.requests)

    def last(self):
        with self.lock:
            return self.requests[-1]

    def paths(self):
        with self.lock:
            return [r["path"] for r in self.requests]

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def headers_of(rec):
    """{lower-case name: [values]} of a recorded request."""
    out = {}
    for k, v in rec["headers"]:
        out.setdefault(k.lower(), []).append(v)
    return out


class Services:
    """Processes on free ports in one temporary directory."""

    def __init__(self, prefix):
        self.tmp = tempfile.mkdtemp(prefix=prefix)
        self.procs = []  # (name, Popen, log path)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def spawn(self, name, cmd, env=None, cwd=None):
        log = self.path(f"{name}.log")
        out = open(log, "ab")
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                env=env, cwd=cwd, start_new_session=True)
        out.close()
        self.procs.append((name, proc, log))
        return proc

    def wait_port(self, port, proc, name, timeout=30):
        """Waits until something accepts on port, or proc exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.logs()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{name} did not listen on 127.0.0.1:{port} within {timeout}s:\n{self.logs()}")

    def caddy(self, name, binary, caddyfile, ports, env=None):
        """Runs `binary run` on caddyfile (a path), with its own XDG dirs
        (so a generated key never lands in the user's storage), and waits
        for every port in ports."""
        e = dict(os.environ, XDG_DATA_HOME=self.path(name, "data"), XDG_CONFIG_HOME=self.path(name, "config"),
                 HOME=self.path(name), WECHAT_SECRET=SECRET)
        e.update(env or {})
        os.makedirs(self.path(name), exist_ok=True)
        proc = self.spawn(name, [binary, "run", "--config", caddyfile, "--adapter", "caddyfile"], env=e)
        for p in ports:
            self.wait_port(p, proc, name)
        return proc

    def logs(self):
        out = []
        for name, proc, log in self.procs:
            state = "running" if proc.poll() is None else f"exited {proc.returncode}"
            out.append(f"--- {name} ({state}) {log} ---\n{read(log)}")
        for extra in sorted(os.listdir(self.tmp)):
            if extra.endswith(".err.log"):
                out.append(f"--- {extra} ---\n{read(self.path(extra))}")
        return "\n".join(out)

    def stop(self, failed=False):
        for _, proc, _ in reversed(self.procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for _, proc, _ in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if failed:
            print(self.logs(), file=sys.stderr, flush=True)
        if os.environ.get("KEEP_TMP"):
            print(f"kept {self.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def header(self, name):
        """Every value of name (any case)."""
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.headers} {self.body[:300]!r}>"


def request(port, method, path, headers=(), body=None, host=None):
    """One request with header names exactly as given (X_Openid, x.openid
    ...), on a new connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest(method, path, skip_host=host is not None, skip_accept_encoding=True)
        if host is not None:
            conn.putheader("Host", host)
        for name, value in headers:
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        return Response(resp.status, resp.getheaders(), resp.read().decode("utf-8", "replace"))
    finally:
        conn.close()


def login(port, code, host=None):
    """A session from the simulator through whatever listens on port."""
    r = request(port, "POST", "/login", [("Content-Type", "application/json")], json.dumps({"code": code}).encode(), host)
    if r.status != 200:
        raise AssertionError(f"login {code!r} on :{port}: {r}")
    return r.json()


def generate_key(caddy, alg, path):
    """`caddy wechat keygen --algorithm alg` into path; returns the PEM/secret."""
    out = subprocess.run([caddy, "wechat", "keygen", "--algorithm", alg], capture_output=True, text=True, check=True)
    with open(path, "w") as f:
        f.write(out.stdout)
    os.chmod(path, 0o600)
    return out.stdout


def fetch_jwks(port, path="/.well-known/jwks.json"):
    r = request(port, "GET", path)
    if r.status != 200:
        raise AssertionError(f"JWKS on :{port}{path}: {r}")
    return r.json()


def verify_assertion(assertion, jwks_url, audience):
    """Verifies as a backend would, with PyJWT's PyJWKClient against the
    live JWKS; returns the claims or raises."""
    import jwt

    client = jwt.PyJWKClient(jwks_url, cache_jwk_set=False)
    key = client.get_signing_key_from_jwt(assertion)
    return jwt.decode(assertion, key.key, algorithms=["EdDSA", "ES256"], audience=audience, issuer="caddy-wechat",
                      options={"require": ["exp", "iat", "iss", "aud", "sub"]})


def mint_session(key, like, **over):
    """A session token signed with the HS256 signing key, with the header
    and claims of the real token `like`, changed by over."""
    import jwt

    header, claims = jwt_parts(like)
    claims.update(over)
    return jwt.encode(claims, key.encode(), algorithm="HS256", headers={"kid": header["kid"], "typ": header.get("typ", "JWT")})


def fold(name):
    """A header name as CGI and the gate compare it: lower case, '-' for '_' and '.'."""
    return name.lower().replace("_", "-").replace(".", "-")


TRUSTED = {n.lower() for n in spellings.trusted_names()}


def case_variants(name):
    return sorted({name, name.lower(), name.upper()})


class IdentityChecks:
    """Assertions shared by the recipe tests (a unittest.TestCase mixin)."""

    def assert_identity(self, rec, login, what=""):
        """The backend got exactly the gate's identity, and no forged value
        under any spelling of any trusted name; returns the assertion."""
        got = {}
        for k, v in rec["headers"]:
            if fold(k) in TRUSTED:
                got.setdefault(k, []).append(v)
        want = {"X-Openid": [login["openid"]], "X-Wechat-Appid": [APPID]}
        if login.get("unionid"):
            want["X-Unionid"] = [login["unionid"]]
        assertion = got.pop("X-Wechat-Assertion", None)
        self.assertEqual(got, want, f"{what}: trusted headers at the backend")
        self.assertIsNotNone(assertion, f"{what}: no X-Wechat-Assertion")
        self.assertEqual(len(assertion), 1, what)
        self.assertNotIn(FORGED, str(rec), f"{what}: a forged value reached the backend")
        return assertion[0]

    def assert_refused(self, r, error, challenge):
        """A 401 with exactly one challenge, a JSON body, and no identity."""
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.header("WWW-Authenticate"), [challenge], r)
        self.assertEqual(r.header("Content-Type"), ["application/json; charset=utf-8"], r)  # as the gate sends it
        self.assertEqual(r.json()["error"], error, r)
        self.assertEqual(r.header("X-Openid"), [], r)


class Results:
    """unittest's result, and a closing line 'N passed, N failed'."""

    @staticmethod
    def run(suite_classes):
        import unittest

        loader = unittest.TestLoader()
        suite = unittest.TestSuite(loader.loadTestsFromTestCase(c) for c in suite_classes)
        res = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
        failed = len(res.failures) + len(res.errors) + len(res.unexpectedSuccesses)
        skipped = len(res.skipped)
        passed = max(res.testsRun - failed - skipped, 0)
        line = f"{passed} passed, {failed} failed"
        if skipped:
            line += f", {skipped} skipped"
        print(line, flush=True)
        return 0 if failed == 0 and res.testsRun > 0 else 1
