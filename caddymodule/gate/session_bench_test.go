package gate

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddy-wechat/caddy-wechat/caddymodule"
	"github.com/caddy-wechat/caddy-wechat/internal/token"
	"github.com/caddy-wechat/caddy-wechat/internal/token/tokentest"
)

// cookieGate is a gate with cookie sessions on, and the Cookie line of a
// request whose token is in the cookie, next to two of the backend's own.
func cookieGate(tb testing.TB) (*Auth, string) {
	app := newAppWith(tb, token.HS256, []byte(tokentest.Key), func(a *caddymodule.App) {
		a.Cookie = &caddymodule.CookieConfig{}
	})
	gate, tok := newBareGateOf(tb, app)
	return gate, "theme=dark; wechat_session=" + tok + "; lang=zh-CN"
}

// revokedGate is a gate whose app holds n ended sessions.
func revokedGate(tb testing.TB, n int) (*Auth, string) {
	app := newApp(tb, token.HS256, []byte(tokentest.Key))
	for i := range n {
		id := &token.Identity{SID: fmt.Sprintf("sid-%08d", i), AuthTime: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
		if err := app.RevokeSession(context.Background(), id); err != nil {
			tb.Fatal(err)
		}
	}
	if app.Revoked().Len() != n {
		tb.Fatalf("%d revocations, want %d", app.Revoked().Len(), n)
	}
	return newBareGateOf(tb, app)
}

// TestGateSessionHitAllocs holds the cookie path and the path with
// revocations present to the hit path's budget of 5 allocations.
func TestGateSessionHitAllocs(t *testing.T) {
	gate, cookie := cookieGate(t)
	r, _ := gateRequest("")
	w := httptest.NewRecorder()
	lines := make([]string, 1)
	serveCookie(t, gate, r, cookie, lines, w)
	if r.Header.Get("X-Openid") != "oBenchUser0123456789abcdefgh" || r.Header.Get("Cookie") != "theme=dark; lang=zh-CN" {
		t.Fatalf("cookie gate: %v", r.Header)
	}
	if allocs := testing.AllocsPerRun(1000, func() { serveCookie(t, gate, r, cookie, lines, w) }); allocs > 5 {
		t.Errorf("cookie hit allocates %.0f times, budget 5", allocs)
	}

	gate, tok := revokedGate(t, 10_000)
	r, auth := gateRequest(tok)
	serveOnce(t, gate, r, auth, w)
	if allocs := testing.AllocsPerRun(1000, func() { serveOnce(t, gate, r, auth, w) }); allocs > 5 {
		t.Errorf("hit with 10,000 revocations allocates %.0f times, budget 5", allocs)
	}
}

// serveCookie is serveOnce with the token in the cookie: lines, of one
// element, is the Cookie header, which the gate edits in place.
func serveCookie(tb testing.TB, gate *Auth, r *http.Request, cookie string, lines []string, w http.ResponseWriter) {
	lines[0] = cookie
	r.Header["Cookie"] = lines
	r.Header["X_openid"] = lines[:1]
	if err := gate.ServeHTTP(w, r, okNext); err != nil {
		tb.Fatal(err)
	}
}

func BenchmarkGateCookieHit(b *testing.B) {
	gate, cookie := cookieGate(b)
	r, _ := gateRequest("")
	w := httptest.NewRecorder()
	lines := make([]string, 1)
	serveCookie(b, gate, r, cookie, lines, w)
	b.ReportAllocs()
	for b.Loop() {
		serveCookie(b, gate, r, cookie, lines, w)
	}
}

func BenchmarkGateHitWith10000Revocations(b *testing.B) {
	gate, tok := revokedGate(b, 10_000)
	r, auth := gateRequest(tok)
	w := httptest.NewRecorder()
	serveOnce(b, gate, r, auth, w)
	b.ReportAllocs()
	for b.Loop() {
		serveOnce(b, gate, r, auth, w)
	}
}
