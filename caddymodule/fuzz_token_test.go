package caddymodule

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// fuzzKey is the signing key of the fuzz fixtures; fuzzOtherKey is a key
// an attacker might have instead.
const (
	fuzzKey      = "fuzz-signing-key-0123456789-abcdefghijklmnopqrstu"
	fuzzOtherKey = "fuzz-other-key-9876543210-zyxwvutsrqponmlkjihgfedc"
)

// fuzzIdent is what a legitimate token of the fixture says.
type fuzzIdent struct{ appID, unionID string }

// tokenFixture holds tokens minted at the start of a fuzz run, so that the
// valid ones are valid whenever the run happens. Fuzz inputs name them with
// placeholders ({A}, {B}, …) that expand to the token itself; committed
// corpus files stay meaningful although tokens expire.
type tokenFixture struct {
	keys   *keyring // HS256, the default
	verify *verifier
	// valid maps the openid of every token this test minted with the
	// configured key for a known app to its identity. Nothing else may
	// ever be accepted by verify.
	valid map[string]fuzzIdent
	// The same for an EdDSA configuration.
	edKeys   *keyring
	edVerify *verifier
	edPub    ed25519.PublicKey
	edValid  map[string]fuzzIdent
	// revokedJTI is the jti of token {R}: valid, but revoked.
	revokedJTI string
	// byName maps a placeholder letter to its token.
	byName map[string]string
	expand *strings.Replacer
}

func fuzzKnownApp(id string) bool { return id == testAppID || id == testAppID2 }

// fuzzSign signs arbitrary claims with an arbitrary method and kid.
func fuzzSign(tb testing.TB, method jwt.SigningMethod, key any, claims jwt.MapClaims, kid string) string {
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

func newTokenFixture(tb testing.TB) *tokenFixture {
	tb.Helper()
	keys, err := newKeyring(algHS256, []byte(fuzzKey), "caddy-wechat")
	if err != nil {
		tb.Fatal(err)
	}
	// A fixed Ed25519 key, so that corpus files signed with it stay valid.
	edPriv := ed25519.NewKeyFromSeed([]byte("caddy-wechat fuzz ed25519 seed!!"))
	der, err := x509.MarshalPKCS8PrivateKey(edPriv)
	if err != nil {
		tb.Fatal(err)
	}
	edKeys, err := newKeyring(algEdDSA, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), "caddy-wechat")
	if err != nil {
		tb.Fatal(err)
	}
	fx := &tokenFixture{
		keys:     keys,
		verify:   newVerifier(keys, fuzzKnownApp),
		valid:    map[string]fuzzIdent{},
		edKeys:   edKeys,
		edVerify: newVerifier(edKeys, fuzzKnownApp),
		edPub:    edPriv.Public().(ed25519.PublicKey),
		edValid:  map[string]fuzzIdent{},
		byName:   map[string]string{},
	}
	now := time.Now()
	mint := func(k *keyring, appID, openID, unionID, sk string, at time.Time, ttl time.Duration) string {
		s, _, err := k.mint(appID, openID, unionID, sk, at, ttl)
		if err != nil {
			tb.Fatal(err)
		}
		return s
	}
	claims := func(sub string) jwt.MapClaims {
		return jwt.MapClaims{"iss": "caddy-wechat", "sub": sub, "aud": testAppID, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": "fuzz"}
	}
	good := func(name, appID, openID, unionID, sk string) {
		fx.byName[name] = mint(keys, appID, openID, unionID, sk, now, time.Hour)
		fx.valid[openID] = fuzzIdent{appID, unionID}
	}
	// Legitimate tokens: the only identities that may ever pass.
	good("A", testAppID, "oFuzzAlice", "uFuzzAlice", "tiihtNczf5v6AKRyjwEUhQ==")
	good("B", testAppID, "oFuzzBob", "", "")
	good("C", testAppID2, "oFuzzCarol", "uFuzzCarol", "o0q0otL8aEzpcZL/FT9WsQ==")
	// Valid, but the gate's revocation list holds its jti.
	good("R", testAppID, "oFuzzRevoked", "", "")
	rid, err := fx.verify.verify(fx.byName["R"])
	if err != nil {
		tb.Fatal(err)
	}
	fx.revokedJTI = rid.ID
	// The EdDSA configuration's own token.
	fx.byName["D"] = mint(edKeys, testAppID, "oFuzzDora", "uFuzzDora", "tiihtNczf5v6AKRyjwEUhQ==", now, time.Hour)
	fx.edValid["oFuzzDora"] = fuzzIdent{testAppID, "uFuzzDora"}

	// Refused tokens, each for its own reason.
	fx.byName["U"] = mint(keys, "wxffffffffffffffff", "oFuzzUnknownApp", "", "", now, time.Hour)
	fx.byName["E"] = mint(keys, testAppID, "oFuzzExpired", "", "", now.Add(-3*time.Hour), time.Hour)
	other, err := newKeyring(algHS256, []byte(fuzzOtherKey), "caddy-wechat")
	if err != nil {
		tb.Fatal(err)
	}
	fx.byName["W"] = mint(other, testAppID, "oFuzzWrongKey", "", "", now, time.Hour)
	sameKid := &keyring{method: other.method, kid: keys.kid, sign: other.sign, verify: other.verify, seal: other.seal, issuer: "caddy-wechat"}
	fx.byName["K"] = mint(sameKid, testAppID, "oFuzzWrongKeyOurKid", "", "", now, time.Hour)
	evil, err := newKeyring(algHS256, []byte(fuzzKey), "evil")
	if err != nil {
		tb.Fatal(err)
	}
	fx.byName["I"] = mint(evil, testAppID, "oFuzzWrongIssuer", "", "", now, time.Hour)
	fx.byName["N"] = fuzzSign(tb, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims("oFuzzAlgNone"), keys.kid)
	fx.byName["H"] = fuzzSign(tb, jwt.SigningMethodHS512, []byte(fuzzKey), claims("oFuzzHS512"), keys.kid)
	fx.byName["J"] = fuzzSign(tb, jwt.SigningMethodHS256, []byte(fuzzKey), claims("oFuzzNoKid"), "")
	noExp := claims("oFuzzNoExp")
	delete(noExp, "exp")
	fx.byName["X"] = fuzzSign(tb, jwt.SigningMethodHS256, []byte(fuzzKey), noExp, keys.kid)
	future := claims("oFuzzFutureIat")
	future["iat"], future["exp"] = now.Add(time.Hour).Unix(), now.Add(2*time.Hour).Unix()
	fx.byName["F"] = fuzzSign(tb, jwt.SigningMethodHS256, []byte(fuzzKey), future, keys.kid)
	multi := claims("oFuzzMultiAud")
	multi["aud"] = []string{testAppID, testAppID2}
	fx.byName["M"] = fuzzSign(tb, jwt.SigningMethodHS256, []byte(fuzzKey), multi, keys.kid)
	fx.byName["S"] = fuzzSign(tb, jwt.SigningMethodHS256, []byte(fuzzKey), claims(""), keys.kid)
	// A correctly signed token over the length cap.
	long := claims("oFuzzLong")
	long["unionid"] = strings.Repeat("u", 20<<10)
	fx.byName["L"] = fuzzSign(tb, jwt.SigningMethodHS256, []byte(fuzzKey), long, keys.kid)
	// Alice's signature over Bob-shaped claims of the attacker's choosing.
	parts := strings.Split(fx.byName["A"], ".")
	forged := base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"caddy-wechat","sub":"oFuzzTampered","aud":"` + testAppID + `","exp":9999999999,"iat":1}`))
	fx.byName["T"] = parts[0] + "." + forged + "." + parts[2]

	var pairs []string
	for name, tok := range fx.byName {
		pairs = append(pairs, "{"+name+"}", tok)
	}
	fx.expand = strings.NewReplacer(pairs...)
	return fx
}

// fuzzTokenNames are the fixture's placeholder letters, in seed order.
const fuzzTokenNames = "ABCRDUEWKGPINHJXFMSLT"

// literalTokenSeeds are fixed strings that do not depend on the fixture:
// structure the parser must survive.
var literalTokenSeeds = []string{
	"",
	".",
	"..",
	"a.b.c",
	"not-a-jwt",
	"eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhdHRhY2tlciJ9.",
	"eyJhbGciOiJIUzI1NiJ9.e30.",
	"eyJhbGciOiJIUzI1NiIsImtpZCI6W119.e30.AAAA",
	"eyJhbGciOiJIUzI1NiIsImtpZCI6bnVsbH0.bnVsbA.AAAA",
	"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOiIxIn0.AAAA",
	"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjEuNWUzMDh9.AAAA",
	"=.=.=",
	strings.Repeat("A", 5000),
	"{A}.{B}",
	"{A}{A}",
}

// FuzzVerifyToken feeds arbitrary strings to the verifier of an HS256 and
// of an EdDSA configuration. Nothing may panic, and whatever a verifier
// accepts must be a token this test minted with that configuration's key
// for a known app: its algorithm only, its kid, iss, a future exp, and
// verifiable by jwt.Parse on its own.
func FuzzVerifyToken(f *testing.F) {
	fx := newTokenFixture(f)
	for _, name := range fuzzTokenNames {
		f.Add("{" + string(name) + "}")
	}
	f.Add(" {A}")
	f.Add("{A} ")
	f.Add("{A}=")
	f.Add("{A}.")
	f.Add(".{A}")
	f.Add("{D}.{D}")
	for _, s := range literalTokenSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		tok := fx.expand.Replace(in)
		fuzzCheckVerify(t, in, tok, fx.verify, fx.valid, "HS256", []byte(fuzzKey), fx.keys.kid)
		fuzzCheckVerify(t, in, tok, fx.edVerify, fx.edValid, "EdDSA", fx.edPub, fx.edKeys.kid)
	})
}

func fuzzCheckVerify(t *testing.T, in, tok string, v *verifier, valid map[string]fuzzIdent, alg string, key any, kid string) {
	t.Helper()
	id, err := v.verify(tok)
	if err != nil {
		if id != nil {
			t.Fatalf("%s: identity %+v returned with error %v", alg, id, err)
		}
		return
	}
	want, ok := valid[id.OpenID]
	if !ok {
		t.Fatalf("%s: accepted a token this test never minted with its key: openid %q (input %q)", alg, id.OpenID, in)
	}
	if id.AppID != want.appID || id.UnionID != want.unionID {
		t.Fatalf("%s: identity %+v does not match the minted %+v", alg, id, want)
	}
	if len(tok) > maxTokenBytes {
		t.Fatalf("%s: accepted a %d-byte token", alg, len(tok))
	}
	parsed, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return key, nil },
		jwt.WithValidMethods([]string{alg}), jwt.WithExpirationRequired(), jwt.WithIssuer("caddy-wechat"))
	if err != nil {
		t.Fatalf("%s: verifier accepted what jwt.Parse refuses: %v", alg, err)
	}
	if parsed.Method.Alg() != alg {
		t.Fatalf("%s: accepted alg %q", alg, parsed.Method.Alg())
	}
	if k, _ := parsed.Header["kid"].(string); k != kid {
		t.Fatalf("%s: accepted kid %q", alg, parsed.Header["kid"])
	}
	exp, err := parsed.Claims.GetExpirationTime()
	if err != nil || exp == nil || !exp.After(time.Now()) {
		t.Fatalf("%s: accepted exp %v (%v)", alg, exp, err)
	}
	if sub, _ := parsed.Claims.GetSubject(); sub != id.OpenID {
		t.Fatalf("%s: sub %q, identity %q", alg, sub, id.OpenID)
	}
	if aud, _ := parsed.Claims.GetAudience(); len(aud) != 1 || aud[0] != id.AppID || !fuzzKnownApp(aud[0]) {
		t.Fatalf("%s: aud %v, identity app %q", alg, aud, id.AppID)
	}
}
