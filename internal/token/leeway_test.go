package token_test

import (
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/caddy-wechat/caddy-wechat/internal/token"
	"github.com/caddy-wechat/caddy-wechat/internal/token/tokentest"
)

// TestClockSkewLeeway: exp, iat and nbf are each checked with
// token.Leeway (5 s) of slack, as docs/troubleshooting.md says: a clock
// 2 s off passes, one 9 s off is refused, an expired token as
// jwt.ErrTokenExpired (which the gate turns into "the token has
// expired"). The margins keep the test clear of the boundary.
func TestClockSkewLeeway(t *testing.T) {
	if token.Leeway != 5*time.Second {
		t.Fatalf("Leeway is %v; docs/troubleshooting.md says 5 s", token.Leeway)
	}
	keys := tokentest.KeySet(t, "caddy-wechat", token.HS256, []byte(tokentest.Key))
	v := token.NewVerifier(keys, known)
	sign := func(iat, exp, nbf time.Duration) string {
		now := time.Now()
		c := jwt.MapClaims{"iss": "caddy-wechat", "sub": "oSkew", "aud": tokentest.AppID, "jti": "k1",
			"iat": now.Add(iat).Unix(), "exp": now.Add(exp).Unix()}
		if nbf != 0 {
			c["nbf"] = now.Add(nbf).Unix()
		}
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
		tok.Header["kid"] = keys.Current().ID
		s, err := tok.SignedString([]byte(tokentest.Key))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	h := time.Hour
	for _, c := range []struct {
		name          string
		iat, exp, nbf time.Duration
		want          error // nil: accepted
	}{
		{"exp 2 s ago", -h, -2 * time.Second, 0, nil},
		{"exp 9 s ago", -h, -9 * time.Second, 0, jwt.ErrTokenExpired},
		{"iat 2 s ahead", 2 * time.Second, h, 0, nil},
		{"iat 9 s ahead", 9 * time.Second, h, 0, jwt.ErrTokenUsedBeforeIssued},
		{"nbf 2 s ahead", 0, h, 2 * time.Second, nil},
		{"nbf 9 s ahead", 0, h, 9 * time.Second, jwt.ErrTokenNotValidYet},
	} {
		_, err := v.Verify(sign(c.iat, c.exp, c.nbf))
		switch {
		case c.want == nil && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.want != nil && !errors.Is(err, c.want):
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
}
