// Package tokentest mints the session tokens that fuzz targets and
// benchmarks use: a fixed set of valid tokens, and refused ones, each for
// its own reason. It is for tests only.
package tokentest

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/caddy-wechat/caddy-wechat/internal/token"
)

// Fixture appids and keys. Key is the HS256 key of the configuration
// under test; OtherKey is one an attacker might have instead.
const (
	AppID    = "wx0123456789abcdef"
	AppID2   = "wx1111111111111111"
	Key      = "fuzz-signing-key-0123456789-abcdefghijklmnopqrstu"
	OtherKey = "fuzz-other-key-9876543210-zyxwvutsrqponmlkjihgfedc"
	Issuer   = "caddy-wechat"
)

// Ident is what a legitimate token of the fixture says.
type Ident struct{ AppID, UnionID string }

// Fixture holds tokens minted when it is made, so that the valid ones are
// valid whenever a test runs. Inputs name them with placeholders ({A},
// {B}, …) that Expand replaces by the token itself, so committed corpus
// files stay meaningful although tokens expire.
type Fixture struct {
	Keys   *token.KeySet // HS256, the default
	Verify *token.Verifier
	// Valid maps the openid of every token minted with Keys for a known
	// app to its identity. Nothing else may ever be accepted by Verify.
	Valid map[string]Ident
	// The same for an EdDSA configuration.
	EdKeys   *token.KeySet
	EdVerify *token.Verifier
	EdPub    ed25519.PublicKey
	EdValid  map[string]Ident
	// RevokedSID is the session of token {R}: valid, but to be revoked.
	RevokedSID string
	// ByName maps a placeholder letter to its token.
	ByName map[string]string
	Expand *strings.Replacer
}

// Known is the fixture's set of configured apps.
func Known(id string) bool { return id == AppID || id == AppID2 }

// Names are the fixture's placeholder letters, in seed order.
const Names = "ABCRDUEWKGPINHJXFMSLT"

// Sign signs arbitrary claims with an arbitrary method and kid.
func Sign(tb testing.TB, method jwt.SigningMethod, key any, claims jwt.MapClaims, kid string) string {
	tb.Helper()
	t := jwt.NewWithClaims(method, claims)
	if kid != "" {
		t.Header["kid"] = kid
	}
	s, err := t.SignedString(key)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// KeySet makes a one-key set, failing tb on error.
func KeySet(tb testing.TB, issuer, alg string, material []byte) *token.KeySet {
	tb.Helper()
	k, err := token.NewKey(alg, material)
	if err != nil {
		tb.Fatal(err)
	}
	ks, err := token.NewKeySet(issuer, k)
	if err != nil {
		tb.Fatal(err)
	}
	return ks
}

// EdPEM is the fixture's fixed Ed25519 key, so that corpus files signed
// with it stay valid.
func EdPEM(tb testing.TB) ([]byte, ed25519.PublicKey) {
	tb.Helper()
	priv := ed25519.NewKeyFromSeed([]byte("caddy-wechat fuzz ed25519 seed!!"))
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), priv.Public().(ed25519.PublicKey)
}

// New mints the fixture's tokens.
func New(tb testing.TB) *Fixture {
	tb.Helper()
	keys := KeySet(tb, Issuer, token.HS256, []byte(Key))
	edPEM, edPub := EdPEM(tb)
	edKeys := KeySet(tb, Issuer, token.EdDSA, edPEM)
	fx := &Fixture{
		Keys:     keys,
		Verify:   token.NewVerifier(keys, Known),
		Valid:    map[string]Ident{},
		EdKeys:   edKeys,
		EdVerify: token.NewVerifier(edKeys, Known),
		EdPub:    edPub,
		EdValid:  map[string]Ident{},
		ByName:   map[string]string{},
	}
	now := time.Now()
	mint := func(ks *token.KeySet, appID, openID, unionID, sk string, at time.Time, ttl time.Duration) string {
		s, _, err := ks.Mint(token.Session{AppID: appID, OpenID: openID, UnionID: unionID, SessionKey: sk}, at, ttl)
		if err != nil {
			tb.Fatal(err)
		}
		return s
	}
	kid := keys.Current().ID
	claims := func(sub string) jwt.MapClaims {
		return jwt.MapClaims{"iss": Issuer, "sub": sub, "aud": AppID, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": "fuzz"}
	}
	good := func(name, appID, openID, unionID, sk string) {
		fx.ByName[name] = mint(keys, appID, openID, unionID, sk, now, time.Hour)
		fx.Valid[openID] = Ident{appID, unionID}
	}
	// Legitimate tokens: the only identities that may ever pass.
	good("A", AppID, "oFuzzAlice", "uFuzzAlice", "tiihtNczf5v6AKRyjwEUhQ==")
	good("B", AppID, "oFuzzBob", "", "")
	good("C", AppID2, "oFuzzCarol", "uFuzzCarol", "o0q0otL8aEzpcZL/FT9WsQ==")
	// Valid, but a test's revocation list holds its jti.
	good("R", AppID, "oFuzzRevoked", "", "")
	rid, err := fx.Verify.Verify(fx.ByName["R"])
	if err != nil {
		tb.Fatal(err)
	}
	fx.RevokedSID = rid.SID
	// The EdDSA configuration's own token.
	fx.ByName["D"] = mint(edKeys, AppID, "oFuzzDora", "uFuzzDora", "tiihtNczf5v6AKRyjwEUhQ==", now, time.Hour)
	fx.EdValid["oFuzzDora"] = Ident{AppID, "uFuzzDora"}

	// Refused tokens, each for its own reason.
	fx.ByName["U"] = mint(keys, "wxffffffffffffffff", "oFuzzUnknownApp", "", "", now, time.Hour)
	fx.ByName["E"] = mint(keys, AppID, "oFuzzExpired", "", "", now.Add(-3*time.Hour), time.Hour)
	other := KeySet(tb, Issuer, token.HS256, []byte(OtherKey))
	fx.ByName["W"] = mint(other, AppID, "oFuzzWrongKey", "", "", now, time.Hour)
	fx.ByName["K"] = Sign(tb, jwt.SigningMethodHS256, []byte(OtherKey), claims("oFuzzWrongKeyOurKid"), kid)
	// EdDSA's public key used as an HS256 secret, and an HS256 token sent
	// to the EdDSA configuration under its kid.
	fx.ByName["G"] = Sign(tb, jwt.SigningMethodHS256, []byte(edPub), claims("oFuzzAlgConfusion"), edKeys.Current().ID)
	fx.ByName["P"] = Sign(tb, jwt.SigningMethodHS256, []byte(Key), claims("oFuzzHSForEd"), edKeys.Current().ID)
	evil := KeySet(tb, "evil", token.HS256, []byte(Key))
	fx.ByName["I"] = mint(evil, AppID, "oFuzzWrongIssuer", "", "", now, time.Hour)
	fx.ByName["N"] = Sign(tb, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims("oFuzzAlgNone"), kid)
	fx.ByName["H"] = Sign(tb, jwt.SigningMethodHS512, []byte(Key), claims("oFuzzHS512"), kid)
	fx.ByName["J"] = Sign(tb, jwt.SigningMethodHS256, []byte(Key), claims("oFuzzNoKid"), "")
	noExp := claims("oFuzzNoExp")
	delete(noExp, "exp")
	fx.ByName["X"] = Sign(tb, jwt.SigningMethodHS256, []byte(Key), noExp, kid)
	future := claims("oFuzzFutureIat")
	future["iat"], future["exp"] = now.Add(time.Hour).Unix(), now.Add(2*time.Hour).Unix()
	fx.ByName["F"] = Sign(tb, jwt.SigningMethodHS256, []byte(Key), future, kid)
	multi := claims("oFuzzMultiAud")
	multi["aud"] = []string{AppID, AppID2}
	fx.ByName["M"] = Sign(tb, jwt.SigningMethodHS256, []byte(Key), multi, kid)
	fx.ByName["S"] = Sign(tb, jwt.SigningMethodHS256, []byte(Key), claims(""), kid)
	// A correctly signed token over the length cap.
	long := claims("oFuzzLong")
	long["unionid"] = strings.Repeat("u", 20<<10)
	fx.ByName["L"] = Sign(tb, jwt.SigningMethodHS256, []byte(Key), long, kid)
	// Alice's signature over Bob-shaped claims of the attacker's choosing.
	parts := strings.Split(fx.ByName["A"], ".")
	forged := base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"caddy-wechat","sub":"oFuzzTampered","aud":"` + AppID + `","exp":9999999999,"iat":1}`))
	fx.ByName["T"] = parts[0] + "." + forged + "." + parts[2]

	var pairs []string
	for name, tok := range fx.ByName {
		pairs = append(pairs, "{"+name+"}", tok)
	}
	fx.Expand = strings.NewReplacer(pairs...)
	return fx
}
