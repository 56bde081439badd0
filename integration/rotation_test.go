package integration

import (
	"fmt"
	"net/http"
	"testing"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"

	"github.com/caddy-wechat/caddy-wechat/internal/token"
)

// decryptWith posts open data encrypted with the session_key of code to
// /decrypt with tok, and returns the status.
func decryptWith(t *testing.T, c *http.Client, tok, code string) int {
	t.Helper()
	enc, iv := EncryptFor(t, UDSessionKey(code), AppID, map[string]any{"nickName": "Rotated"})
	st, _, _ := Do(t, c, "POST", At(IDPort, "/decrypt"), Bearer(tok), JSONBody(t, map[string]string{"encryptedData": enc, "iv": iv}))
	return st
}

// TestKeyRotation: tokens issued before a rotation pass after it and still
// carry their session_key; new tokens are signed by the new key; once the
// previous key is removed, its tokens are refused. Each step is a real
// config load of the same Caddy, as an operator's reload is.
func TestKeyRotation(t *testing.T) {
	up := NewUpstream(t)
	wx := NewFakeAPI(t)
	oldPath, oldKey := writeKey(t, token.EdDSA)
	newPath, newKey := writeKey(t, token.ES256)
	c := NewClient()

	// Before: the EdDSA key alone.
	StartCaddy(t, IdentityConfig(wx.URL, up.URL, IdentityOpts{Token: fmt.Sprintf("algorithm EdDSA\n\t\t\tsigning_key {file.%s}", oldPath)}))
	before, _ := LoginAt(t, c, IDPort, "rotate.1", AppID)
	if kid := TokenKID(t, before); kid != oldKey.ID {
		t.Fatalf("the token before is signed by %s, not the EdDSA key %s", kid, oldKey.ID)
	}

	// The rotation: the new key is current, the old one previous.
	StartCaddy(t, IdentityConfig(wx.URL, up.URL, IdentityOpts{Token: fmt.Sprintf("algorithm ES256\n\t\t\tsigning_key {file.%s}\n\t\t\tprevious_key {file.%s}", newPath, oldPath)}))
	if st, _, body := Do(t, c, "GET", At(IDPort, "/api/me"), Bearer(before), ""); st != 200 {
		t.Fatalf("a token of the previous key after the rotation: %d %v", st, body)
	}
	if st := decryptWith(t, c, before, "rotate.1"); st != 200 {
		t.Fatalf("the session_key of a token of the previous key: decrypt %d", st)
	}
	after, _ := LoginAt(t, c, IDPort, "rotate.2", AppID)
	if kid := TokenKID(t, after); kid != newKey.ID {
		t.Fatalf("a token after the rotation is signed by %s, not the new key %s", kid, newKey.ID)
	}
	set, _ := FetchJWKS(t, At(IDPort, "/.well-known/jwks.json"))
	if set[oldKey.ID] == nil || set[newKey.ID] == nil {
		t.Errorf("the JWKS during the rotation lacks a key: %v", set)
	}

	// The previous key removed: its tokens go, the new ones stay.
	StartCaddy(t, IdentityConfig(wx.URL, up.URL, IdentityOpts{Token: fmt.Sprintf("algorithm ES256\n\t\t\tsigning_key {file.%s}", newPath)}))
	if st, _, body := Do(t, c, "GET", At(IDPort, "/api/me"), Bearer(before), ""); st != 401 || body["error"] != "invalid_token" {
		t.Errorf("a token of the removed key: %d %v, want 401 invalid_token", st, body)
	}
	if st := decryptWith(t, c, after, "rotate.2"); st != 200 {
		t.Errorf("a token of the current key after the removal: decrypt %d", st)
	}
	if set, _ := FetchJWKS(t, At(IDPort, "/.well-known/jwks.json")); set[oldKey.ID] != nil {
		t.Error("the JWKS still lists the removed key")
	}
}

// TestRotationFromTheGeneratedKey: the key Caddy generated into storage is
// the current key of the set, and previous keys join it.
func TestRotationFromTheGeneratedKey(t *testing.T) {
	up := NewUpstream(t)
	wx := NewFakeAPI(t)
	c := NewClient()
	StartCaddy(t, IdentityConfig(wx.URL, up.URL, IdentityOpts{Token: "ttl 1h"}))
	generated, _ := LoginAt(t, c, IDPort, "generated.1", AppID)
	StartCaddy(t, IdentityConfig(wx.URL, up.URL, IdentityOpts{Token: "ttl 1h\n\t\t\tprevious_key " + SigningKey}))
	if st, _, _ := Do(t, c, "GET", At(IDPort, "/api/me"), Bearer(generated), ""); st != 200 {
		t.Fatalf("a token of the generated key with a previous key added: %d", st)
	}
	old := SessionTokenNow(t, "o-fixture-key")
	if st, _, _ := Do(t, c, "GET", At(IDPort, "/api/me"), Bearer(old), ""); st != 200 {
		t.Fatalf("a token of the previous key: %d", st)
	}
	if again, _ := LoginAt(t, c, IDPort, "generated.2", AppID); TokenKID(t, again) != TokenKID(t, generated) {
		t.Error("new tokens are not signed by the generated key")
	}
}
