package token_test

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/caddy-wechat/caddy-wechat/internal/token"
	"github.com/caddy-wechat/caddy-wechat/internal/token/tokentest"
)

// literalSeeds are fixed strings that do not depend on the fixture:
// structure the parser must survive.
var literalSeeds = []string{
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
	fx := tokentest.New(f)
	for _, name := range tokentest.Names {
		f.Add("{" + string(name) + "}")
	}
	for _, s := range []string{" {A}", "{A} ", "{A}=", "{A}.", ".{A}", "{D}.{D}"} {
		f.Add(s)
	}
	for _, s := range literalSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		tok := fx.Expand.Replace(in)
		checkVerify(t, in, tok, fx.Verify, fx.Valid, token.HS256, []byte(tokentest.Key), fx.Keys.Current().ID)
		checkVerify(t, in, tok, fx.EdVerify, fx.EdValid, token.EdDSA, fx.EdPub, fx.EdKeys.Current().ID)
	})
}

func checkVerify(t *testing.T, in, tok string, v *token.Verifier, valid map[string]tokentest.Ident, alg string, key any, kid string) {
	t.Helper()
	id, err := v.Verify(tok)
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
	if id.AppID != want.AppID || id.UnionID != want.UnionID {
		t.Fatalf("%s: identity %+v does not match the minted %+v", alg, id, want)
	}
	if len(tok) > token.MaxBytes {
		t.Fatalf("%s: accepted a %d-byte token", alg, len(tok))
	}
	parsed, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return key, nil },
		jwt.WithValidMethods([]string{alg}), jwt.WithExpirationRequired(), jwt.WithIssuer(tokentest.Issuer))
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
	if aud, _ := parsed.Claims.GetAudience(); len(aud) != 1 || aud[0] != id.AppID || !tokentest.Known(aud[0]) {
		t.Fatalf("%s: aud %v, identity app %q", alg, aud, id.AppID)
	}
}
