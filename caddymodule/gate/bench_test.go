package gate

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddy-wechat/caddy-wechat/internal/token"
	"github.com/caddy-wechat/caddy-wechat/internal/token/tokentest"
)

// TestGateHitAllocs holds the gate's cache-hit path to its budget of at
// most 5 allocations (issue: performance budgets).
func TestGateHitAllocs(t *testing.T) {
	gate, tok := newBareGate(t, token.HS256, []byte(tokentest.Key))
	r, auth := gateRequest(tok)
	w := httptest.NewRecorder()
	serveOnce(t, gate, r, auth, w) // fill the cache
	if r.Header.Get("X-Openid") != "oBenchUser0123456789abcdefgh" || r.Header.Get("X_openid") != "" {
		t.Fatalf("gate did not set or strip: %v", r.Header)
	}
	allocs := testing.AllocsPerRun(1000, func() { serveOnce(t, gate, r, auth, w) })
	if allocs > 5 {
		t.Fatalf("cache hit allocates %.0f times, budget 5", allocs)
	}
	t.Logf("cache hit: %.0f allocations", allocs)
}

// TestGateColdHitAllocs: a cached token whose hot slot went to another
// token (8,192 users round-robin over 4,096 slots) is made into an
// identity again from its record, and the whole hit still stays within
// the budget of 5 allocations, unionid included.
func TestGateColdHitAllocs(t *testing.T) {
	gate, _ := newBareGate(t, token.HS256, []byte(tokentest.Key))
	r, _ := gateRequest("x")
	w := httptest.NewRecorder()
	toks := cachedUsers(t, gate, r, w, 8192, true)
	i := 0
	allocs := testing.AllocsPerRun(len(toks), func() {
		serveOnce(t, gate, r, toks[i%len(toks)], w)
		i++
	})
	if want := fmt.Sprintf("oUser%023d", (i-1)%len(toks)); r.Header.Get("X-Openid") != want {
		t.Fatalf("X-Openid %q, want %q", r.Header.Get("X-Openid"), want)
	}
	if allocs > 5 {
		t.Fatalf("a cold cache hit allocates %.1f times, budget 5", allocs)
	}
	t.Logf("cold cache hit: %.1f allocations", allocs)
}

func BenchmarkGateCacheHit(b *testing.B) {
	gate, tok := newBareGate(b, token.HS256, []byte(tokentest.Key))
	r, auth := gateRequest(tok)
	w := httptest.NewRecorder()
	serveOnce(b, gate, r, auth, w)
	b.ReportAllocs()
	for b.Loop() {
		serveOnce(b, gate, r, auth, w)
	}
}

func benchmarkVerify(b *testing.B, alg string, material []byte) {
	gate, tok := newBareGate(b, alg, material)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := gate.App.Verifier().Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyHS256(b *testing.B) { benchmarkVerify(b, token.HS256, []byte(tokentest.Key)) }

func BenchmarkVerifyEdDSA(b *testing.B) {
	pem, err := token.GenerateKey(token.EdDSA)
	if err != nil {
		b.Fatal(err)
	}
	benchmarkVerify(b, token.EdDSA, pem)
}

func BenchmarkStripIdentity(b *testing.B) {
	r, _ := gateRequest("x")
	b.ReportAllocs()
	for b.Loop() {
		r.Header["X-Openid"] = []string{"forged"}
		Scrub(r)
	}
}

func BenchmarkMintToken(b *testing.B) {
	keys := tokentest.KeySet(b, "caddy-wechat", token.HS256, []byte(tokentest.Key))
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := keys.Mint(token.Session{AppID: tokentest.AppID, OpenID: "oBenchUser0123456789abcdefgh", SessionKey: "tiihtNczf5v6AKRyjwEUhQ=="}, now, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGateCacheHitManyUsers is the hit path with 100,000 users'
// tokens in the cache, requests cycling through them all: what a popular
// app's gate does, memory latency included.
func BenchmarkGateCacheHitManyUsers(b *testing.B) {
	gate, _ := newBareGate(b, token.HS256, []byte(tokentest.Key))
	r, _ := gateRequest("x")
	w := httptest.NewRecorder()
	toks := cachedUsers(b, gate, r, w, token.DefaultCacheSize, false)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		serveOnce(b, gate, r, toks[i], w)
		if i++; i == len(toks) {
			i = 0
		}
	}
}

// cachedUsers mints the tokens of n users, with unionids or without, and
// sends each through the gate once, so that the cache holds them all. It
// returns their Authorization headers.
func cachedUsers(tb testing.TB, gate *Auth, r *http.Request, w http.ResponseWriter, n int, unionIDs bool) [][]string {
	now := time.Now()
	toks := make([][]string, n)
	for i := range toks {
		s := token.Session{AppID: tokentest.AppID, OpenID: fmt.Sprintf("oUser%023d", i), SessionKey: "tiihtNczf5v6AKRyjwEUhQ=="}
		if unionIDs {
			s.UnionID = fmt.Sprintf("uUser%023d", i)
		}
		tok, _, err := gate.App.Keys().Mint(s, now, time.Hour)
		if err != nil {
			tb.Fatal(err)
		}
		toks[i] = []string{"Bearer " + tok}
		serveOnce(tb, gate, r, toks[i], w)
	}
	return toks
}
