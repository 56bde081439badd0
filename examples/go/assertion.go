package main

// Verification of caddy-wechat's X-Wechat-Assertion, with
// github.com/golang-jwt/jwt/v5 and a small JWKS cache.
//
// The edge signs a short-lived JWT (EdDSA/Ed25519 or ES256/P-256, kid in the
// header) whose claims repeat the identity headers it set: sub (X-Openid),
// appid (X-Wechat-Appid), unionid (X-Unionid, when known), plus iss, aud,
// sid, iat and exp. Its public keys are a JWKS at WECHAT_JWKS_URL.

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	assertionLeeway      = 10 * time.Second // clock skew allowed on exp and iat
	assertionMaxLifetime = 5 * time.Minute  // the contract: exp at most 5 minutes after iat
	assertionMaxBytes    = 4096             // as the gate's token limit; refused before parsing
	jwksTTL              = 5 * time.Minute  // as the edge's Cache-Control max-age=300
	jwksCooldown         = 30 * time.Second // at most one refetch per 30 s for an unknown kid
	jwksMaxBytes         = 256 << 10
)

type assertionClaims struct {
	Appid   string `json:"appid,omitempty"`
	Unionid string `json:"unionid,omitempty"`
	Sid     string `json:"sid,omitempty"`
	jwt.RegisteredClaims
}

type assertionVerifier struct {
	jwksURL string
	parser  *jwt.Parser
	client  *http.Client
	logf    func(format string, args ...any)

	mu        sync.Mutex
	keys      map[string]any // kid -> ed25519.PublicKey or *ecdsa.PublicKey
	fetched   time.Time
	refreshed time.Time // last refetch for an unknown kid
}

// newAssertionVerifier returns nil, nil when jwksURL is empty: header trust
// only.
func newAssertionVerifier(jwksURL, audience, issuer string) (*assertionVerifier, error) {
	if jwksURL == "" {
		return nil, nil
	}
	if audience == "" {
		return nil, errors.New("WECHAT_JWKS_URL is set but WECHAT_ASSERTION_AUDIENCE is not: set it to the aud the edge signs (the site host by default)")
	}
	if !strings.HasPrefix(jwksURL, "http://") && !strings.HasPrefix(jwksURL, "https://") {
		return nil, errors.New("WECHAT_JWKS_URL must be an http:// or https:// URL")
	}
	if issuer == "" {
		issuer = "caddy-wechat"
	}
	return &assertionVerifier{
		jwksURL: jwksURL,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{"EdDSA", "ES256"}),
			jwt.WithIssuer(issuer),
			jwt.WithAudience(audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(assertionLeeway),
		),
		client: &http.Client{
			Timeout:       5 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		logf: log.Printf,
	}, nil
}

// middleware refuses a request that carries identity headers without a
// matching, valid assertion: 401 {"error":"invalid_assertion"}, and next
// never runs. A request without identity headers is anonymous and passes.
func (v *assertionVerifier) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		openid, appid, unionid := r.Header.Get("X-Openid"), r.Header.Get("X-Wechat-Appid"), r.Header.Get("X-Unionid")
		if openid == "" && appid == "" && unionid == "" {
			next.ServeHTTP(w, r)
			return
		}
		if err := v.verify(r.Header.Get("X-Wechat-Assertion"), openid, appid, unionid); err != nil {
			v.logf("go backend: refused %s %s: %v", r.Method, r.URL.Path, err)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_assertion"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (v *assertionVerifier) verify(assertion, openid, appid, unionid string) error {
	if assertion == "" {
		return errors.New("identity headers without X-Wechat-Assertion")
	}
	if openid == "" {
		return errors.New("X-Unionid or X-Wechat-Appid without X-Openid")
	}
	if len(assertion) > assertionMaxBytes {
		return errors.New("assertion over 4 KiB")
	}
	var c assertionClaims
	_, err := v.parser.ParseWithClaims(assertion, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if _, ok := t.Header["crit"]; ok {
			return nil, errors.New("crit header not supported")
		}
		return v.key(kid, t.Method.Alg())
	})
	if err != nil {
		return err
	}
	if c.IssuedAt == nil {
		return errors.New("missing iat")
	}
	if c.ExpiresAt.Sub(c.IssuedAt.Time) > assertionMaxLifetime {
		return errors.New("lifetime over 5 minutes")
	}
	if c.Subject != openid {
		return errors.New("sub is not X-Openid")
	}
	if appid != "" && c.Appid != appid {
		return errors.New("appid is not X-Wechat-Appid")
	}
	if unionid != "" && c.Unionid != unionid {
		return errors.New("unionid is not X-Unionid")
	}
	return nil
}

// key returns the JWKS key named kid, which must be of alg's type.
func (v *assertionVerifier) key(kid, alg string) (any, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := time.Now()
	if v.keys == nil || now.Sub(v.fetched) >= jwksTTL {
		if err := v.fetchLocked(now); err != nil {
			return nil, err
		}
	}
	k, ok := v.keys[kid]
	if !ok && now.Sub(v.refreshed) >= jwksCooldown {
		v.refreshed = now
		if err := v.fetchLocked(now); err != nil {
			return nil, err
		}
		k, ok = v.keys[kid]
	}
	if !ok {
		return nil, fmt.Errorf("no key in the JWKS has kid %q", kid)
	}
	switch k.(type) {
	case ed25519.PublicKey:
		if alg == "EdDSA" {
			return k, nil
		}
	case *ecdsa.PublicKey:
		if alg == "ES256" {
			return k, nil
		}
	}
	return nil, fmt.Errorf("key %q is not an %s key", kid, alg)
}

func (v *assertionVerifier) fetchLocked(now time.Time) error {
	resp, err := v.client.Get(v.jwksURL)
	if err != nil {
		return fmt.Errorf("cannot fetch the JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("cannot fetch the JWKS: HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, jwksMaxBytes+1))
	if err != nil || len(body) > jwksMaxBytes {
		return fmt.Errorf("cannot fetch the JWKS: read %d bytes: %v", len(body), err)
	}
	var set struct {
		Keys []struct {
			Kty, Crv, X, Y, Kid, Alg, Use string
		} `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return fmt.Errorf("cannot fetch the JWKS: %w", err)
	}
	keys := make(map[string]any, len(set.Keys))
	for _, j := range set.Keys {
		if j.Kid == "" || (j.Use != "" && j.Use != "sig") {
			continue
		}
		x, errX := base64.RawURLEncoding.DecodeString(j.X)
		switch {
		case j.Kty == "OKP" && j.Crv == "Ed25519" && (j.Alg == "" || j.Alg == "EdDSA"):
			if errX == nil && len(x) == ed25519.PublicKeySize {
				keys[j.Kid] = ed25519.PublicKey(x)
			}
		case j.Kty == "EC" && j.Crv == "P-256" && (j.Alg == "" || j.Alg == "ES256"):
			y, errY := base64.RawURLEncoding.DecodeString(j.Y)
			if errX == nil && errY == nil && len(x) == 32 && len(y) == 32 {
				pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
				if err == nil {
					keys[j.Kid] = pub
				}
			}
		}
	}
	v.keys, v.fetched = keys, now
	return nil
}
