package main

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	testAud    = "api.example.com"
	testOpenid = "oNqLNgG-alice"
	testAppid  = "wx0123456789abcdef"
)

type testKey struct {
	alg, kid string
	private  any
	jwk      map[string]string
}

func newTestKey(t *testing.T, alg, kid string) testKey {
	t.Helper()
	b64 := base64.RawURLEncoding.EncodeToString
	jwk := map[string]string{"kid": kid, "alg": alg, "use": "sig"}
	var private any
	if alg == "EdDSA" {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		private = priv
		jwk["kty"], jwk["crv"], jwk["x"] = "OKP", "Ed25519", b64(pub)
	} else {
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		private = priv
		point, err := priv.PublicKey.Bytes() // 0x04 || x || y
		if err != nil {
			t.Fatal(err)
		}
		jwk["kty"], jwk["crv"], jwk["x"], jwk["y"] = "EC", "P-256", b64(point[1:33]), b64(point[33:])
	}
	return testKey{alg: alg, kid: kid, private: private, jwk: jwk}
}

// mint signs an assertion as the edge does; a nil value in over removes a claim.
func (k testKey) mint(t *testing.T, over map[string]any) string {
	t.Helper()
	now := time.Now().Unix()
	claims := jwt.MapClaims{"iss": "caddy-wechat", "aud": testAud, "sub": testOpenid, "appid": testAppid, "sid": "s-1", "iat": now, "exp": now + 60}
	for name, v := range over {
		if v == nil {
			delete(claims, name)
		} else {
			claims[name] = v
		}
	}
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(k.alg), claims)
	tok.Header["kid"] = k.kid
	s, err := tok.SignedString(k.private)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type assertionFixture struct {
	ed, ec, rogue, unknown testKey
	hits                   atomic.Int32
	handler                http.Handler
	logs                   []string
}

func newAssertionFixture(t *testing.T) *assertionFixture {
	f := &assertionFixture{
		ed: newTestKey(t, "EdDSA", "ed-1"), ec: newTestKey(t, "ES256", "ec-1"),
		rogue: newTestKey(t, "EdDSA", "ed-1"), unknown: newTestKey(t, "EdDSA", "ed-unknown"),
	}
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{f.ed.jwk, f.ec.jwk}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=300")
		_, _ = w.Write(jwks)
	}))
	t.Cleanup(srv.Close)
	v, err := newAssertionVerifier(srv.URL+"/.well-known/jwks.json", testAud, "")
	if err != nil {
		t.Fatal(err)
	}
	v.logf = func(format string, args ...any) { f.logs = append(f.logs, fmt.Sprintf(format, args...)) }
	f.handler = v.middleware(newHandler())
	return f
}

// me calls /api/me with the identity headers; extra replaces or adds headers.
func (f *assertionFixture) me(t *testing.T, assertion string, extra map[string]string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/api/me", nil)
	req.Header.Set("X-Openid", testOpenid)
	req.Header.Set("X-Wechat-Appid", testAppid)
	if assertion != "" {
		req.Header.Set("X-Wechat-Assertion", assertion)
	}
	for k, v := range extra {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	var got map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("invalid JSON %q: %v", rec.Body.String(), err)
	}
	return rec.Code, got
}

func (f *assertionFixture) refused(t *testing.T, assertion, reason string, extra map[string]string) {
	t.Helper()
	f.logs = nil
	code, got := f.me(t, assertion, extra)
	if code != http.StatusUnauthorized || got["error"] != "invalid_assertion" || len(got) != 1 {
		t.Fatalf("want 401 invalid_assertion, got %d %v", code, got)
	}
	if log := strings.Join(f.logs, "\n"); !strings.Contains(log, reason) {
		t.Errorf("log should say %q, says %q", reason, log)
	}
}

func TestAssertionValid(t *testing.T) {
	f := newAssertionFixture(t)
	for _, k := range []testKey{f.ed, f.ec} {
		code, got := f.me(t, k.mint(t, nil), nil)
		if code != http.StatusOK || got["openid"] != testOpenid || got["appid"] != testAppid {
			t.Errorf("%s: %d %v", k.alg, code, got)
		}
	}
	code, got := f.me(t, f.ed.mint(t, map[string]any{"unionid": "u-1"}), map[string]string{"X-Unionid": "u-1"})
	if code != http.StatusOK || got["unionid"] != "u-1" {
		t.Errorf("with unionid: %d %v", code, got)
	}
	if n := f.hits.Load(); n != 1 {
		t.Errorf("JWKS fetched %d times, want 1 (cached)", n)
	}
}

func TestAssertionRefused(t *testing.T) {
	f := newAssertionFixture(t)
	now := time.Now().Unix()
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": testOpenid})
	hs.Header["kid"] = "ed-1"
	hsToken, _ := hs.SignedString([]byte(strings.Repeat("x", 32)))
	payload := strings.Split(f.ed.mint(t, nil), ".")[1]
	crossAlg := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"ES256","kid":"ed-1"}`)) + "." + payload + "." +
		base64.RawURLEncoding.EncodeToString(make([]byte, 64))
	for _, c := range []struct {
		name, assertion, reason string
		extra                   map[string]string
	}{
		{"missing", "", "without X-Wechat-Assertion", nil},
		{"expired", f.ed.mint(t, map[string]any{"iat": now - 120, "exp": now - 60}), "token is expired", nil},
		{"another aud", f.ed.mint(t, map[string]any{"aud": "other.example.com"}), "aud", nil},
		{"another iss", f.ed.mint(t, map[string]any{"iss": "someone-else"}), "iss", nil},
		{"sub is not X-Openid", f.ed.mint(t, map[string]any{"sub": "oSomebodyElse"}), "sub is not X-Openid", nil},
		{"appid mismatch", f.ed.mint(t, map[string]any{"appid": "wxffffffffffffffff"}), "appid is not X-Wechat-Appid", nil},
		{"unionid mismatch", f.ed.mint(t, map[string]any{"unionid": "u-1"}), "unionid is not X-Unionid", map[string]string{"X-Unionid": "u-2"}},
		{"unionid not asserted", f.ed.mint(t, nil), "unionid is not X-Unionid", map[string]string{"X-Unionid": "u-2"}},
		{"key not in the JWKS (same kid)", f.rogue.mint(t, nil), "signature is invalid", nil},
		{"key not in the JWKS (unknown kid)", f.unknown.mint(t, nil), "no key in the JWKS", nil},
		{"lifetime over 5 minutes", f.ed.mint(t, map[string]any{"exp": now + 600}), "lifetime over 5 minutes", nil},
		{"iat in the future", f.ed.mint(t, map[string]any{"iat": now + 120, "exp": now + 150}), "used before issued", nil},
		{"no exp", f.ed.mint(t, map[string]any{"exp": nil}), "exp claim is required", nil},
		{"no iat", f.ed.mint(t, map[string]any{"iat": nil}), "missing iat", nil},
		{"HS256", hsToken, "signing method HS256 is invalid", nil},
		{"ES256 header on the Ed25519 key", crossAlg, "is not an ES256 key", nil},
		{"garbage", "not-a-jwt", "malformed", nil},
		{"over 4 KiB", strings.Repeat("a", 5000), "over 4 KiB", nil},
	} {
		t.Run(c.name, func(t *testing.T) { f.refused(t, c.assertion, c.reason, c.extra) })
	}
}

func TestAssertionRefusalSkipsTheHandler(t *testing.T) {
	ran := false
	v, _ := newAssertionVerifier("http://127.0.0.1:1/jwks.json", testAud, "")
	v.logf = func(string, ...any) {}
	guarded := v.middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { ran = true }))
	for _, hdr := range []string{"X-Openid", "X-Unionid", "X-Wechat-Appid"} {
		req := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader("x"))
		req.Header.Set(hdr, "v")
		rec := httptest.NewRecorder()
		guarded.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized || ran {
			t.Fatalf("%s alone: status %d, handler ran %v", hdr, rec.Code, ran)
		}
	}
	// Anonymous requests pass without touching the JWKS.
	rec := httptest.NewRecorder()
	guarded.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/public", nil))
	if !ran {
		t.Fatal("an anonymous request did not reach the handler")
	}
}

func TestAssertionUnknownKidRefetchCooldown(t *testing.T) {
	f := newAssertionFixture(t)
	for i := 0; i < 5; i++ {
		f.refused(t, f.unknown.mint(t, nil), "no key in the JWKS", nil)
	}
	if n := f.hits.Load(); n != 2 {
		t.Errorf("JWKS fetched %d times for 5 unknown kids, want 2 (one refetch, then the cooldown)", n)
	}
}

func TestAssertionUnreachableJWKS(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	v, _ := newAssertionVerifier("http://"+addr+"/jwks.json", testAud, "")
	var logs []string
	v.logf = func(format string, args ...any) { logs = append(logs, fmt.Sprintf(format, args...)) }
	req := httptest.NewRequest(http.MethodGet, "/api/me", nil)
	req.Header.Set("X-Openid", testOpenid)
	req.Header.Set("X-Wechat-Assertion", newTestKey(t, "EdDSA", "k").mint(t, nil))
	rec := httptest.NewRecorder()
	v.middleware(newHandler()).ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized || !strings.Contains(strings.Join(logs, ""), "cannot fetch the JWKS") {
		t.Fatalf("status %d, logs %q", rec.Code, logs)
	}
}

func TestAssertionConfig(t *testing.T) {
	if v, err := newAssertionVerifier("", "", ""); v != nil || err != nil {
		t.Errorf("unset URL: %v %v, want header trust (nil, nil)", v, err)
	}
	if _, err := newAssertionVerifier("http://h/j", "", ""); err == nil || !strings.Contains(err.Error(), "WECHAT_ASSERTION_AUDIENCE") {
		t.Errorf("no audience: %v", err)
	}
	if _, err := newAssertionVerifier("file:///etc/passwd", "a", ""); err == nil {
		t.Error("file URL accepted")
	}
}
