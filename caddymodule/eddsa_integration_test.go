package caddymodule

import (
	"crypto/ed25519"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestEdDSATokens uses a generated Ed25519 key: tokens are EdDSA, verify
// with the public key alone, and HS256 tokens are refused.
func TestEdDSATokens(t *testing.T) {
	up := newUpstream(t)
	wx := newFakeWeChat(t, func(w http.ResponseWriter, r *http.Request, code string, _ int) { okAnswer(w, code) })
	dir := t.TempDir()
	cfg := stdConfig(wx.URL, up.URL)
	cfg = strings.Replace(cfg, "\tsigning_key "+testKey+"\n", "\talgorithm EdDSA\n", 1)
	cfg = strings.Replace(cfg, "\tadmin localhost:2999\n", "\tadmin localhost:2999\n\tstorage file_system "+dir+"\n", 1)
	startCaddy(t, cfg)
	c := newClient()
	tok, _ := login(t, c, "ed1")

	pemBytes, err := os.ReadFile(filepath.Join(dir, "wechat", "token_signing_key_ed25519.pem"))
	if err != nil {
		t.Fatal(err)
	}
	priv, err := parseEd25519(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	pub := priv.Public().(ed25519.PublicKey)
	parsed, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return pub, nil }, jwt.WithValidMethods([]string{"EdDSA"}))
	if err != nil || parsed.Claims.(jwt.MapClaims)["sub"] != "o-ed1" {
		t.Fatalf("EdDSA token does not verify with the public key: %v", err)
	}
	if st, _, _ := do(t, c, "GET", at(mainPort, "/x"), bearer(tok), ""); st != 200 {
		t.Fatalf("gate refused its own EdDSA token: %d", st)
	}
	// An HS256 token made with the public key as the HMAC secret (the
	// classic algorithm-confusion forgery) and one with any other key.
	kid, _ := parsed.Header["kid"].(string)
	claims := jwt.MapClaims{"sub": "attacker", "aud": testAppID, "iss": "caddy-wechat", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
	for _, key := range [][]byte{pub, []byte(testKey)} {
		forged := signWith(t, jwt.SigningMethodHS256, key, claims, kid)
		if st, _, body := do(t, c, "GET", at(mainPort, "/x"), bearer(forged), ""); st != 401 || body["error"] != "invalid_token" {
			t.Fatalf("HS256 token accepted by an EdDSA gate: %d %v", st, body)
		}
	}
}

// TestRevokedTokenRefused revokes a token that is already in the verified
// cache: the next request is refused, so the cache never outlives a
// revocation.
func TestRevokedTokenRefused(t *testing.T) {
	gate, tok := newBareGate(t, algHS256, []byte(testKey))
	r, auth := gateRequest(tok)
	w := httptest.NewRecorder()
	serveOnce(t, gate, r, auth, w)
	id := gate.app.verified.get(tok, time.Now())
	if id == nil {
		t.Fatal("token not cached after a successful check")
	}
	gate.app.revoked.Revoke(id.ID, id.ExpiresAt)
	r, auth = gateRequest(tok)
	w = httptest.NewRecorder()
	serveOnce(t, gate, r, auth, w)
	if w.Code != 401 || r.Header.Get("X-Openid") != "" {
		t.Fatalf("revoked token: status %d, X-Openid %q", w.Code, r.Header.Get("X-Openid"))
	}
}
