package gate

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-wechat/caddy-wechat/internal/token"
	"github.com/caddy-wechat/caddy-wechat/internal/token/tokentest"
)

// assertionGate is a gate with assertions on, keyed by a new EdDSA key.
func assertionGate(tb testing.TB) (*Auth, string) {
	gate, tok := newBareGate(tb, token.HS256, []byte(tokentest.Key))
	pem, err := token.GenerateKey(token.EdDSA)
	if err != nil {
		tb.Fatal(err)
	}
	if gate.assertionKey, err = token.NewKey(token.EdDSA, pem); err != nil {
		tb.Fatal(err)
	}
	gate.Assertion = &AssertionOptions{Audience: "api.internal", TTL: caddy.Duration(time.Minute)}
	return gate, tok
}

// TestGateAssertionHitAllocs: with assertions on, a cache hit reuses the
// assertion minted for the token and stays within the hit path's budget.
func TestGateAssertionHitAllocs(t *testing.T) {
	gate, tok := assertionGate(t)
	r, auth := gateRequest(tok)
	w := httptest.NewRecorder()
	serveOnce(t, gate, r, auth, w)
	first := r.Header.Get(HeaderAssertion)
	if first == "" {
		t.Fatal("no assertion")
	}
	serveOnce(t, gate, r, auth, w)
	if r.Header.Get(HeaderAssertion) != first {
		t.Fatal("the second request got another assertion: not cached")
	}
	if allocs := testing.AllocsPerRun(1000, func() { serveOnce(t, gate, r, auth, w) }); allocs > 5 {
		t.Fatalf("assertion hit allocates %.0f times, budget 5", allocs)
	}
}

func BenchmarkGateAssertionHit(b *testing.B) {
	gate, tok := assertionGate(b)
	r, auth := gateRequest(tok)
	w := httptest.NewRecorder()
	serveOnce(b, gate, r, auth, w)
	b.ReportAllocs()
	for b.Loop() {
		serveOnce(b, gate, r, auth, w)
	}
}

func BenchmarkMintAssertion(b *testing.B) {
	gate, tok := assertionGate(b)
	id, err := gate.App.Verifier().Verify(tok)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := token.MintAssertion(gate.assertionKey, "caddy-wechat", "api.internal", id, now, time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}
