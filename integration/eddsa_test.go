package integration

import (
	"crypto/ed25519"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"
	"github.com/caddy-wechat/caddy-wechat/internal/token"

	"github.com/golang-jwt/jwt/v5"
)

// TestEdDSATokens uses a generated Ed25519 key: tokens are EdDSA, verify
// with the public key alone, and HS256 tokens are refused.
func TestEdDSATokens(t *testing.T) {
	up := NewUpstream(t)
	wx := NewFakeWeChat(t, func(w http.ResponseWriter, r *http.Request, code string, _ int) { OKAnswer(w, code) })
	dir := t.TempDir()
	cfg := StdConfig(wx.URL, up.URL)
	cfg = strings.Replace(cfg, "\tsigning_key "+SigningKey+"\n", "\talgorithm EdDSA\n", 1)
	cfg = strings.Replace(cfg, "\tadmin localhost:2999\n", "\tadmin localhost:2999\n\tstorage file_system "+dir+"\n", 1)
	StartCaddy(t, cfg)
	c := NewClient()
	tok, _ := Login(t, c, "ed1")

	pemBytes, err := os.ReadFile(filepath.Join(dir, "wechat", "token_signing_key_ed25519.pem"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := token.NewKey(token.EdDSA, pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	pub := key.PublicKey().(ed25519.PublicKey)
	parsed, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return pub, nil }, jwt.WithValidMethods([]string{"EdDSA"}))
	if err != nil || parsed.Claims.(jwt.MapClaims)["sub"] != "o-ed1" {
		t.Fatalf("EdDSA token does not verify with the public key: %v", err)
	}
	if st, _, _ := Do(t, c, "GET", At(MainPort, "/x"), Bearer(tok), ""); st != 200 {
		t.Fatalf("gate refused its own EdDSA token: %d", st)
	}
	// An HS256 token made with the public key as the HMAC secret (the
	// classic algorithm-confusion forgery) and one with any other key.
	kid, _ := parsed.Header["kid"].(string)
	claims := jwt.MapClaims{"sub": "attacker", "aud": AppID, "iss": "caddy-wechat", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
	for _, key := range [][]byte{pub, []byte(SigningKey)} {
		forged := signWith(t, jwt.SigningMethodHS256, key, claims, kid)
		if st, _, body := Do(t, c, "GET", At(MainPort, "/x"), Bearer(forged), ""); st != 401 || body["error"] != "invalid_token" {
			t.Fatalf("HS256 token accepted by an EdDSA gate: %d %v", st, body)
		}
	}
}
