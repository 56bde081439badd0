"""Verifies caddy-wechat's X-Wechat-Assertion with PyJWT (Debian: python3-jwt).

The edge signs a short-lived JWT (EdDSA/Ed25519 or ES256/P-256, `kid` in the
header) whose claims repeat the identity headers it set: `sub` (X-Openid),
`appid` (X-Wechat-Appid), `unionid` (X-Unionid, when known), plus `iss`,
`aud`, `sid`, `iat` and `exp`. Its public keys are a JWKS at WECHAT_JWKS_URL.

Written against PyJWT 2.6 (Debian 12), whose PyJWKClient has no timeout and
refetches the JWKS for every unknown kid; JWKSClient below adds both.
"""

import json
import threading
import time
import urllib.request

import jwt
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ALGORITHMS = ("EdDSA", "ES256")
LEEWAY_SECONDS = 10  # clock skew allowed on exp and iat
MAX_LIFETIME_SECONDS = 300  # the contract: exp is at most 5 minutes after iat
MAX_ASSERTION_BYTES = 4096  # as the gate's token limit; refused before parsing


class AssertionRefused(Exception):
    """The assertion is missing, invalid or does not match the headers."""


class JWKSClient(jwt.PyJWKClient):
    """PyJWKClient with a fetch timeout, a size cap, and at most one refetch
    per `cooldown` seconds for a kid the cached JWKS does not have (so
    assertions with random kids cannot make us hammer the JWKS endpoint)."""

    def __init__(self, uri, lifespan=300, timeout=5, cooldown=30):
        if not uri.startswith(("http://", "https://")):
            raise ValueError("WECHAT_JWKS_URL must be an http:// or https:// URL")
        super().__init__(uri, cache_jwk_set=True, lifespan=lifespan)
        self.timeout = timeout
        self.cooldown = cooldown
        self._refreshed = float("-inf")
        self._lock = threading.Lock()

    def fetch_data(self):
        try:
            with urllib.request.urlopen(self.uri, timeout=self.timeout) as resp:
                raw = resp.read(256 * 1024 + 1)
            if len(raw) > 256 * 1024:
                raise ValueError("JWKS over 256 KiB")
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError("JWKS is not a JSON object")
        except (OSError, ValueError) as err:  # URLError, timeouts, bad JSON
            raise jwt.PyJWKClientError(f"cannot fetch the JWKS: {err}") from err
        self.jwk_set_cache.put(data)
        return data

    def get_signing_key(self, kid):
        with self._lock:
            key = self.match_kid(self.get_signing_keys(), kid)
            if key is None and time.monotonic() - self._refreshed >= self.cooldown:
                self._refreshed = time.monotonic()
                key = self.match_kid(self.get_signing_keys(refresh=True), kid)
        if key is None:
            raise jwt.PyJWKClientError("no key in the JWKS has this kid")
        return key


def _key_fits(alg, key):
    """The JWK's key type must be the one its alg needs (no cross-algorithm use)."""
    if alg == "EdDSA":
        return isinstance(key, Ed25519PublicKey)
    if alg == "ES256":
        return isinstance(key, EllipticCurvePublicKey) and isinstance(key.curve, SECP256R1)
    return False


class AssertionVerifier:
    def __init__(self, jwks_url, audience, issuer="caddy-wechat", jwks_client=None):
        if not audience:
            raise ValueError(
                "WECHAT_JWKS_URL is set but WECHAT_ASSERTION_AUDIENCE is not: "
                "set it to the aud the edge signs (the site host by default)"
            )
        self.audience = audience
        self.issuer = issuer or "caddy-wechat"
        self.jwks = jwks_client or JWKSClient(jwks_url)

    def verify(self, assertion, openid, appid="", unionid=""):
        """Return the claims, or raise AssertionRefused with the reason."""
        if not assertion:
            raise AssertionRefused("identity headers without X-Wechat-Assertion")
        if not openid:
            raise AssertionRefused("X-Unionid or X-Wechat-Appid without X-Openid")
        if len(assertion) > MAX_ASSERTION_BYTES:
            raise AssertionRefused("assertion over 4 KiB")
        try:
            header = jwt.get_unverified_header(assertion)
            alg = header.get("alg")
            if alg not in ALGORITHMS:
                raise AssertionRefused(f"alg {alg!r} not allowed")
            if "crit" in header:
                raise AssertionRefused("crit header not supported")
            jwk = self.jwks.get_signing_key(header.get("kid"))
            if not _key_fits(alg, jwk.key):
                raise AssertionRefused(f"key {header.get('kid')!r} is not an {alg} key")
            claims = jwt.decode(
                assertion,
                jwk.key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except (jwt.PyJWTError, TypeError, ValueError) as err:  # PyJWKClientError too; odd claim types
            raise AssertionRefused(f"{type(err).__name__}: {err}") from err
        # Checked here too, whatever the PyJWT version does with iat.
        if not isinstance(claims["iat"], (int, float)) or not isinstance(claims["exp"], (int, float)):
            raise AssertionRefused("iat and exp must be numbers")
        if claims["iat"] > time.time() + LEEWAY_SECONDS:
            raise AssertionRefused("iat in the future")
        if claims["exp"] - claims["iat"] > MAX_LIFETIME_SECONDS:
            raise AssertionRefused("lifetime over 5 minutes")
        if claims["sub"] != openid:
            raise AssertionRefused("sub is not X-Openid")
        if appid and claims.get("appid") != appid:
            raise AssertionRefused("appid is not X-Wechat-Appid")
        if unionid and claims.get("unionid") != unionid:
            raise AssertionRefused("unionid is not X-Unionid")
        return claims
