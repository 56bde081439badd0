package integration

import (
	"strings"
	"testing"
	"time"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"

	"github.com/golang-jwt/jwt/v5"

	"github.com/caddy-wechat/caddy-wechat/internal/token"
	"github.com/caddy-wechat/caddy-wechat/internal/token/tokentest"
)

// verifyAssertion checks an X-Wechat-Assertion against the live JWKS as a
// backend would, and returns its claims.
func verifyAssertion(t *testing.T, set JWKSet, assertion, aud string) jwt.MapClaims {
	t.Helper()
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(assertion, claims, func(tk *jwt.Token) (any, error) {
		kid, _ := tk.Header["kid"].(string)
		return set.PublicKey(t, kid), nil
	}, jwt.WithValidMethods([]string{"EdDSA", "ES256"}), jwt.WithIssuer("caddy-wechat"), jwt.WithAudience(aud), jwt.WithExpirationRequired())
	if err != nil {
		t.Fatalf("the assertion does not verify against the JWKS: %v", err)
	}
	return claims
}

// TestAssertionReachesTheBackend: the gate adds an X-Wechat-Assertion that
// verifies against wechat_jwks, with the identity's claims, for the
// site's host by default; a client's own is stripped in every spelling,
// also where assertions are off.
func TestAssertionReachesTheBackend(t *testing.T) {
	up := NewUpstream(t)
	wx := NewFakeAPI(t)
	StartCaddy(t, IdentityConfig(wx.URL, up.URL, IdentityOpts{}))
	c := NewClient()
	set, _ := FetchJWKS(t, At(IDPort, "/.well-known/jwks.json"))
	tok, _ := LoginAt(t, c, IDPort, "uasserted.1", AppID)

	forged := Bearer(tok)
	for _, name := range []string{"X-Wechat-Assertion", "x-wechat-assertion", "X_Wechat_Assertion", "X.Wechat.Assertion", "X-Wechat_Assertion"} {
		forged[name] = []string{"forged"}
	}
	if st, _, _ := Do(t, c, "GET", At(IDPort, "/api/me"), forged, ""); st != 200 {
		t.Fatalf("status %d", st)
	}
	got, _ := up.Received()
	assertNoForgery(t, got, "assertion")
	vals := got["X-Wechat-Assertion"]
	if len(vals) != 1 {
		t.Fatalf("X-Wechat-Assertion reached the backend %d times: %v", len(vals), got)
	}
	claims := verifyAssertion(t, set, vals[0], "localhost")
	tc := Claims(t, tok)
	iat, _ := claims["iat"].(float64)
	exp, _ := claims["exp"].(float64)
	if claims["sub"] != got.Get("X-Openid") || claims["sub"] != "o-uasserted" || claims["appid"] != AppID || claims["sid"] != tc["sid"] || exp-iat > 60 || exp-iat < 59 || claims["iss"] != "caddy-wechat" {
		t.Errorf("assertion claims %v", claims)
	}
	if _, has := claims["unionid"]; has {
		t.Errorf("unionid %v in the assertion of a user without one", claims["unionid"])
	}
	if strings.Contains(vals[0], tok) {
		t.Error("the assertion holds the session token")
	}

	// Cached with the verified token: the same assertion again.
	Do(t, c, "GET", At(IDPort, "/api/me"), Bearer(tok), "")
	if again, _ := up.Received(); again.Get("X-Wechat-Assertion") != vals[0] {
		t.Error("a second request of the same token got another assertion")
	}
	// Another user's token, another assertion.
	tok2, _ := LoginAt(t, c, IDPort, "other.1", AppID)
	Do(t, c, "GET", At(IDPort, "/api/me"), Bearer(tok2), "")
	if other, _ := up.Received(); other.Get("X-Wechat-Assertion") == vals[0] || verifyAssertion(t, set, other.Get("X-Wechat-Assertion"), "localhost")["sub"] != "o-other" {
		t.Error("another token's assertion")
	}

	// Where the gate makes none, a client's own is stripped all the same.
	h := Bearer(tok)
	h["X-Wechat-Assertion"] = []string{"forged"}
	Do(t, c, "GET", At(IDPort, "/decrypt"), h, "") // the plain gate answers itself
	StartCaddy(t, StdConfig(wx.URL, up.URL))
	plain, _ := Login(t, c, "plain.1")
	h = Bearer(plain)
	h["X_Wechat_Assertion"] = []string{"forged"}
	h["X-Wechat-Assertion"] = []string{"forged"}
	Do(t, c, "GET", At(MainPort, "/x"), h, "")
	if got, _ := up.Received(); got.Get("X-Wechat-Assertion") != "" || got.Get("X_Wechat_Assertion") != "" {
		t.Errorf("a forged assertion passed a gate without assertions: %v", got)
	}
}

// TestAssertionOptions: audience and ttl are the gate's; ES256 the app's;
// an assertion never outlives its token.
func TestAssertionOptions(t *testing.T) {
	up := NewUpstream(t)
	wx := NewFakeAPI(t)
	StartCaddy(t, IdentityConfig(wx.URL, up.URL, IdentityOpts{
		Assertion: "algorithm ES256",
		Gate:      "assertion {\n\t\t\t\taudience orders.internal\n\t\t\t\tttl 5m\n\t\t\t}",
	}))
	c := NewClient()
	set, _ := FetchJWKS(t, At(IDPort, "/.well-known/jwks.json"))
	tok, _ := LoginAt(t, c, IDPort, "uopts.1", AppID)
	Do(t, c, "GET", At(IDPort, "/api/me"), Bearer(tok), "")
	got, _ := up.Received()
	claims := verifyAssertion(t, set, got.Get("X-Wechat-Assertion"), "orders.internal")
	iat, _ := claims["iat"].(float64)
	exp, _ := claims["exp"].(float64)
	parsed, _, _ := jwt.NewParser().ParseUnverified(got.Get("X-Wechat-Assertion"), jwt.MapClaims{})
	if parsed.Method.Alg() != "ES256" || exp-iat < 299 || exp-iat > 300 {
		t.Errorf("ES256, ttl 5m: alg %s, %v", parsed.Method.Alg(), claims)
	}

	// A user with a unionid: the assertion names it.
	ks := tokentest.KeySet(t, "caddy-wechat", token.HS256, []byte(SigningKey))
	withUnion, _, err := ks.Mint(token.Session{AppID: AppID, OpenID: "o-union", UnionID: "u-union"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	Do(t, c, "GET", At(IDPort, "/api/me"), Bearer(withUnion), "")
	got, _ = up.Received()
	if claims := verifyAssertion(t, set, got.Get("X-Wechat-Assertion"), "orders.internal"); claims["unionid"] != "u-union" || got.Get("X-Unionid") != "u-union" {
		t.Errorf("unionid: %v", claims)
	}

	// A token ending in 30 s gets an assertion that ends with it.
	now := time.Now()
	short := SessionToken(t, "o-short", Unique("sid-short"), now, now.Add(-time.Hour+30*time.Second), time.Hour)
	Do(t, c, "GET", At(IDPort, "/api/me"), Bearer(short), "")
	got, _ = up.Received()
	claims = verifyAssertion(t, set, got.Get("X-Wechat-Assertion"), "orders.internal")
	if exp, _ := claims["exp"].(float64); exp > Claims(t, short)["exp"].(float64) {
		t.Errorf("the assertion outlives its token: %v > %v", exp, Claims(t, short)["exp"])
	}

	if err := LoadConfigErr(t, IdentityConfig(wx.URL, up.URL, IdentityOpts{Gate: "assertion {\n\t\t\t\tttl 6m\n\t\t\t}"})); err == nil {
		t.Error("assertion ttl 6m was accepted")
	}
}
