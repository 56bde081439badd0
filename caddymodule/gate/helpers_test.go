package gate

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-wechat/caddy-wechat/caddymodule"
	"github.com/caddy-wechat/caddy-wechat/internal/token"
	"github.com/caddy-wechat/caddy-wechat/internal/token/tokentest"
)

// newApp provisions a wechat app with the fixture's two apps and a key of
// alg, without a Caddy server around it.
func newApp(tb testing.TB, alg string, material []byte) *caddymodule.App {
	return newAppWith(tb, alg, material, nil)
}

// newAppWith is newApp with more configuration, set by with before the
// app is provisioned.
func newAppWith(tb testing.TB, alg string, material []byte, with func(*caddymodule.App)) *caddymodule.App {
	tb.Helper()
	app := &caddymodule.App{
		Apps: []*caddymodule.MiniProgram{
			{AppID: tokentest.AppID, Secret: "s"},
			{AppID: tokentest.AppID2, Secret: "s"},
		},
		Token: &caddymodule.TokenConfig{SigningKey: string(material), Algorithm: alg},
	}
	if with != nil {
		with(app)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	tb.Cleanup(cancel)
	if err := app.Provision(ctx); err != nil {
		tb.Fatal(err)
	}
	return app
}

// newBareGate builds a gate without Caddy around it, for benchmarks and
// allocation counts of the per-request path, and a token it accepts.
func newBareGate(tb testing.TB, alg string, material []byte) (*Auth, string) {
	return newBareGateOf(tb, newApp(tb, alg, material))
}

// newBareGateOf is newBareGate for an app of the caller's.
func newBareGateOf(tb testing.TB, app *caddymodule.App) (*Auth, string) {
	tb.Helper()
	gate := &Auth{AppRef: caddymodule.AppRef{Logger: zap.NewNop()}}
	gate.use(app)
	tok, _, err := app.Keys().Mint(token.Session{AppID: tokentest.AppID, OpenID: "oBenchUser0123456789abcdefgh", UnionID: "oBenchUnion0123456789abcdefg", SessionKey: "tiihtNczf5v6AKRyjwEUhQ=="}, time.Now(), time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	return gate, tok
}

var okNext = caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })

// gateRequest is a request as Caddy hands it to a handler: a replacer and
// a vars map in its context, a few ordinary headers plus a forged one.
func gateRequest(tok string) (*http.Request, []string) {
	r := httptest.NewRequest("GET", "/api/orders?page=2", nil)
	ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer())
	ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{})
	r = r.WithContext(ctx)
	r.Header.Set("User-Agent", "Mozilla/5.0 (iPhone) MicroMessenger/8.0.50")
	r.Header.Set("Accept", "application/json")
	r.Header.Set("Referer", "https://servicewechat.com/wx0123456789abcdef/1/page-frame.html")
	return r, []string{"Bearer " + tok}
}

func serveOnce(tb testing.TB, gate *Auth, r *http.Request, auth []string, w http.ResponseWriter) {
	r.Header["Authorization"] = auth
	r.Header["X_openid"] = auth[:1] // a forged variant, stripped every time
	if err := gate.ServeHTTP(w, r, okNext); err != nil {
		tb.Fatal(err)
	}
}
