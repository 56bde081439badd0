#!/usr/bin/env python3
"""Minimal upstream for the caddy-wechat plugin (Python 3 standard library only).

Caddy authenticates the WeChat session and proxies the request here with the
trusted headers X-Openid, X-Unionid (only when known) and X-Wechat-Appid.
Anonymous requests (allowed with `optional`) arrive with none of them.

These headers are trustworthy only because this server listens on loopback
(or a private network) where nothing but Caddy can reach it.
"""

import argparse
import json
import os
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_ECHO_BODY = 64 * 1024


def canonical(name):
    """Canonical header name, as Go writes it: x-openid -> X-Openid."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "caddy-wechat-example"

    def handle_any(self):
        # self.headers.get is case-insensitive; an empty value counts as absent.
        openid = self.headers.get("X-Openid", "")
        unionid = self.headers.get("X-Unionid", "")
        appid = self.headers.get("X-Wechat-Appid", "")
        path = self.path.split("?", 1)[0]
        try:
            body = self.read_body(MAX_ECHO_BODY)
        except ValueError:
            self.close_connection = True
            return self.send_json(400, {"error": "bad request body"})

        if path == "/api/me":
            if self.command != "GET":
                return self.send_json(405, {"error": "method not allowed"}, {"Allow": "GET"})
            if not openid:
                return self.send_json(401, {"error": "unauthorized"})
            me = {"openid": openid, "appid": appid}
            if unionid:
                me["unionid"] = unionid
            return self.send_json(200, me)

        headers = {}
        for name, value in self.headers.items():
            headers.setdefault(canonical(name), []).append(value)
        self.send_json(200, {
            "backend": "python",
            "method": self.command,
            "path": path,
            "openid": openid,
            "unionid": unionid,
            "appid": appid,
            "headers": headers,
            "body": body.decode("utf-8", "replace"),
        })

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = handle_any

    def read_body(self, keep, drain=256 * 1024):
        """Return the first `keep` bytes of the body (Content-Length or chunked).

        Up to `drain` further bytes are read and discarded so the keep-alive
        connection stays usable; if even more was sent, it is closed instead.
        """
        budget = keep + drain
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = bytearray()
            while True:
                size = int(self.rfile.readline(1024).split(b";", 1)[0], 16)
                if size == 0:
                    while self.rfile.readline(1024).strip():  # trailers
                        pass
                    return bytes(data)
                if size > budget:
                    self.close_connection = True
                    return bytes(data)
                chunk = self.rfile.read(size)
                budget -= size
                data += chunk[: max(0, keep - len(data))]
                self.rfile.readline(1024)  # CRLF after the chunk data
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        data = self.rfile.read(min(length, keep))
        if length > budget:
            self.close_connection = True
        elif length > keep:
            self.rfile.read(length - keep)
        return data

    def send_json(self, status, obj, extra_headers=None):
        payload = json.dumps(obj).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


def make_server(addr, handler=Handler):
    """Create (but do not start) the server; addr is "host:port" or "[v6]:port"."""
    host, _, port = addr.rpartition(":")
    host = host.strip("[]")

    class Server(ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    return Server((host, int(port)), handler)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--addr",
        default=os.environ.get("ADDR") or "127.0.0.1:9001",
        help="listen address; keep it on loopback or a private network so only Caddy can reach it",
    )
    args = parser.parse_args()
    server = make_server(args.addr)
    print(f"python backend listening on http://{args.addr}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
