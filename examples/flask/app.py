#!/usr/bin/python3
"""Flask upstream for the caddy-wechat plugin (Debian: python3-flask, python3-jwt).

Run it with Debian's interpreter, /usr/bin/python3, which sees the Debian
packages.

Caddy authenticates the WeChat session and proxies the request here with the
trusted headers X-Openid, X-Unionid (only when known) and X-Wechat-Appid.
Anonymous requests (allowed with `optional`) arrive with none of them.

Without WECHAT_JWKS_URL these headers are trusted as they are, which is safe
only because this server listens on loopback (or a private network) where
nothing but Caddy can reach it. With WECHAT_JWKS_URL set, every request that
carries an identity header must also carry a valid X-Wechat-Assertion that
matches them (see wechat_assertion.py), or it gets
401 {"error":"invalid_assertion"} before any view runs.

Like every WSGI (and CGI/FastCGI) server, Werkzeug turns header names into
HTTP_* keys, so X_Openid and X.Openid-style names land on HTTP_X_OPENID;
Werkzeug's own server joins two such headers with ",". Caddy's gate strips
every spelling; the assertion check also refuses a joined value.
"""

import argparse
import json
import os

from flask import Flask, Response, request

from wechat_assertion import AssertionRefused, AssertionVerifier

MAX_ECHO_BODY = 64 * 1024
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
IDENTITY_HEADERS = ("X-Openid", "X-Unionid", "X-Wechat-Appid")


def canonical(name):
    """Canonical header name, as Go writes it: x-openid -> X-Openid."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def json_response(status, obj, extra_headers=None):
    headers = {"Cache-Control": "no-store", **(extra_headers or {})}
    return Response(json.dumps(obj), status=status, mimetype="application/json", headers=headers)


def config_from_env(env=os.environ):
    """The verification settings; jwks_url "" means header trust only."""
    return {
        "jwks_url": env.get("WECHAT_JWKS_URL", ""),
        "audience": env.get("WECHAT_ASSERTION_AUDIENCE", ""),
        "issuer": env.get("WECHAT_ASSERTION_ISSUER") or "caddy-wechat",
    }


def create_app(config=None, verifier=None):
    config = config_from_env() if config is None else config
    app = Flask(__name__)
    if verifier is None and config.get("jwks_url"):
        verifier = AssertionVerifier(config["jwks_url"], config.get("audience"), config.get("issuer"))
    # verifier None: header trust only, as the stdlib examples; keep this
    # server reachable through Caddy alone.

    def identity():
        # request.headers.get is case-insensitive; an empty value counts as absent.
        return {name: request.headers.get(name, "") for name in IDENTITY_HEADERS}

    @app.before_request
    def check_assertion():
        if verifier is None:
            return None
        ids = identity()
        if not any(ids.values()):
            return None  # anonymous
        try:
            verifier.verify(
                request.headers.get("X-Wechat-Assertion", ""),
                ids["X-Openid"], ids["X-Wechat-Appid"], ids["X-Unionid"],
            )
        except AssertionRefused as err:
            app.logger.warning("flask backend: refused %s %s: %s", request.method, request.path, err)
            return json_response(401, {"error": "invalid_assertion"})
        return None

    @app.route("/api/me", methods=ALL_METHODS, provide_automatic_options=False)
    def me():
        if request.method != "GET":
            return json_response(405, {"error": "method not allowed"}, {"Allow": "GET"})
        ids = identity()
        if not ids["X-Openid"]:
            return json_response(401, {"error": "unauthorized"})
        body = {"openid": ids["X-Openid"], "appid": ids["X-Wechat-Appid"]}
        if ids["X-Unionid"]:
            body["unionid"] = ids["X-Unionid"]
        return json_response(200, body)

    @app.route("/", defaults={"path": ""}, methods=ALL_METHODS, provide_automatic_options=False)
    @app.route("/<path:path>", methods=ALL_METHODS, provide_automatic_options=False)
    def echo(path):
        ids = identity()
        headers = {}
        for name, value in request.headers.items():
            headers.setdefault(canonical(name), []).append(value)
        raw_uri = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
        return json_response(200, {
            "backend": "flask",
            "method": request.method,
            "path": raw_uri.split("?", 1)[0] if raw_uri else request.path,
            "openid": ids["X-Openid"],
            "unionid": ids["X-Unionid"],
            "appid": ids["X-Wechat-Appid"],
            "headers": headers,
            "body": request.stream.read(MAX_ECHO_BODY).decode("utf-8", "replace"),
        })

    return app


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--addr",
        default=os.environ.get("ADDR") or "127.0.0.1:9004",
        help="listen address; keep it on loopback or a private network so only Caddy can reach it",
    )
    args = parser.parse_args()
    host, _, port = args.addr.rpartition(":")
    config = config_from_env()
    app = create_app(config)
    mode = f"verifying X-Wechat-Assertion with {config['jwks_url']}" if config["jwks_url"] else \
        "trusting the headers (WECHAT_JWKS_URL unset)"
    print(f"flask backend listening on http://{args.addr}, {mode}", flush=True)
    # Flask's built-in server; behind Caddy in production, prefer a WSGI
    # server such as gunicorn (Debian: python3-gunicorn): gunicorn 'app:create_app()'.
    app.run(host=host.strip("[]"), port=int(port), threaded=True)


if __name__ == "__main__":
    main()
