package integration

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"

	"github.com/caddy-wechat/caddy-wechat/internal/token"
)

// writeKey writes new key material of alg to a file, for {file.*}.
func writeKey(t *testing.T, alg string) (string, *token.Key) {
	t.Helper()
	material, err := token.GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	k, err := token.NewKey(alg, material)
	if err != nil {
		t.Fatal(err)
	}
	// Not ".key": caddytest rewrites paths ending so to its own directory.
	path := filepath.Join(t.TempDir(), strings.ToLower(alg)+"-key.pem")
	if err := os.WriteFile(path, material, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, k
}

// TestJWKSListsPublicKeysOnly: with HS256 token keys the set holds the
// assertion key alone; with asymmetric token keys, current and previous,
// it lists them too, as RFC 7517/8037 write them, and never a secret.
func TestJWKSListsPublicKeysOnly(t *testing.T) {
	up := NewUpstream(t)
	wx := NewFakeAPI(t)
	asPath, asKey := writeKey(t, token.ES256)
	StartCaddy(t, IdentityConfig(wx.URL, up.URL, IdentityOpts{Assertion: "signing_key {file." + asPath + "}\n\t\t\talgorithm ES256"}))
	set, h := FetchJWKS(t, At(IDPort, "/.well-known/jwks.json"))
	if len(set) != 1 || set[asKey.ID] == nil {
		t.Fatalf("HS256 tokens: JWKS %v, want the assertion key %s alone", set, asKey.ID)
	}
	if h.Get("Cache-Control") != "max-age=300" || !strings.Contains(h.Get("Content-Type"), "json") {
		t.Errorf("JWKS headers: %v", h)
	}
	if k := set[asKey.ID]; k["kty"] != "EC" || k["crv"] != "P-256" || k["alg"] != "ES256" || k["use"] != "sig" || k["x"] == nil || k["y"] == nil {
		t.Errorf("ES256 JWK %v", k)
	}

	curPath, cur := writeKey(t, token.EdDSA)
	prevPath, prev := writeKey(t, token.ES256)
	hsPrev := "an-old-hs256-key-0123456789-abcdefghijklmnop"
	StartCaddy(t, IdentityConfig(wx.URL, up.URL, IdentityOpts{
		Token: "algorithm EdDSA\n\t\t\tsigning_key {file." + curPath + "}\n\t\t\tprevious_key {file." + prevPath + "}\n\t\t\tprevious_key " + hsPrev,
	}))
	resp, err := NewClient().Get(At(IDPort, "/.well-known/jwks.json"))
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, 1<<16)
	n, _ := resp.Body.Read(raw)
	resp.Body.Close()
	body := string(raw[:n])
	set, _ = FetchJWKS(t, At(IDPort, "/.well-known/jwks.json"))
	if len(set) != 3 || set[cur.ID]["kty"] != "OKP" || set[cur.ID]["crv"] != "Ed25519" || set[cur.ID]["alg"] != "EdDSA" || set[prev.ID]["alg"] != "ES256" {
		t.Fatalf("EdDSA + ES256 + HS256 keys: JWKS %s", body)
	}
	for _, secret := range []string{`"d"`, `"k"`, "PRIVATE", hsPrev, SigningKey} {
		if strings.Contains(body, secret) {
			t.Errorf("the JWKS holds %q: %s", secret, body)
		}
	}
	if st, _, _ := Do(t, NewClient(), "POST", At(IDPort, "/.well-known/jwks.json"), nil, ""); st != http.StatusMethodNotAllowed {
		t.Errorf("POST to the JWKS: %d, want 405", st)
	}
}

// TestKeyConfigErrors: two keys of one kid, and an assertion key that is
// not asymmetric, are config errors.
func TestKeyConfigErrors(t *testing.T) {
	up := NewUpstream(t)
	wx := NewFakeAPI(t)
	StartCaddy(t, IdentityConfig(wx.URL, up.URL, IdentityOpts{}))
	for name, o := range map[string]IdentityOpts{
		"previous_key equal to signing_key": {Token: "signing_key " + SigningKey + "\n\t\t\tprevious_key " + SigningKey},
		"an HS256 assertion algorithm":      {Assertion: "algorithm HS256"},
		"an assertion key that is no PEM":   {Assertion: "signing_key not-a-pem-key"},
		"ES256 tokens with an EdDSA key":    {Token: "algorithm ES256\n\t\t\tsigning_key {file." + must(writeKey(t, token.EdDSA)) + "}"},
	} {
		if err := LoadConfigErr(t, IdentityConfig(wx.URL, up.URL, o)); err == nil {
			t.Errorf("%s: the config loaded", name)
		}
	}
}

func must(path string, _ *token.Key) string { return path }
