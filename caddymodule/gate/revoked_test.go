package gate

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddy-wechat/caddy-wechat/internal/store"
	"github.com/caddy-wechat/caddy-wechat/internal/token"
	"github.com/caddy-wechat/caddy-wechat/internal/token/tokentest"
)

// TestRevokedTokenRefused revokes a token that is already in the verified
// cache: the next request is refused, so the cache never outlives a
// revocation.
func TestRevokedTokenRefused(t *testing.T) {
	gate, tok := newBareGate(t, token.HS256, []byte(tokentest.Key))
	r, auth := gateRequest(tok)
	w := httptest.NewRecorder()
	serveOnce(t, gate, r, auth, w)
	id := gate.App.VerifiedCache().Get(tok, time.Now())
	if id == nil {
		t.Fatal("token not cached after a successful check")
	}
	if err := gate.App.Store().Revocations().Revoke(context.Background(), store.Revocation{SID: id.SID, Until: id.ExpiresAt}); err != nil {
		t.Fatal(err)
	}
	r, auth = gateRequest(tok)
	w = httptest.NewRecorder()
	serveOnce(t, gate, r, auth, w)
	if w.Code != 401 || r.Header.Get("X-Openid") != "" {
		t.Fatalf("revoked token: status %d, X-Openid %q", w.Code, r.Header.Get("X-Openid"))
	}
}
