package token_test

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/caddy-wechat/caddy-wechat/internal/token"
	"github.com/caddy-wechat/caddy-wechat/internal/token/tokentest"
)

// TestVerifierIsStrict: tokens only the key holder could make, but that
// RFC 7515/7519 or our own format do not allow, are refused (hardening
// round 2, defect 9).
func TestVerifierIsStrict(t *testing.T) {
	keys := tokentest.KeySet(t, "caddy-wechat", token.HS256, []byte(tokentest.Key))
	v := token.NewVerifier(keys, known)
	now := time.Now()
	claims := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": "caddy-wechat", "sub": "oStrict", "aud": tokentest.AppID, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": "s1"}
	}
	sign := func(c jwt.MapClaims, hdr map[string]any) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
		tok.Header["kid"] = keys.Current().ID
		for k, val := range hdr {
			tok.Header[k] = val
		}
		s, err := tok.SignedString([]byte(tokentest.Key))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	if _, err := v.Verify(sign(claims(), nil)); err != nil {
		t.Fatalf("a plain token is refused: %v", err)
	}
	past := claims()
	past["nbf"] = now.Add(-time.Minute).Unix()
	if _, err := v.Verify(sign(past, nil)); err != nil {
		t.Fatalf("a token with a past nbf is refused: %v", err)
	}

	refused := map[string]string{}
	c := claims()
	c["exp"] = "9999999999"
	refused["exp as a string"] = sign(c, nil)
	c = claims()
	c["iat"] = "1"
	refused["iat as a string"] = sign(c, nil)
	c = claims()
	c["nbf"] = now.Add(time.Hour).Unix()
	refused["nbf in the future"] = sign(c, nil)
	c = claims()
	c["nbf"] = "0"
	refused["nbf as a string"] = sign(c, nil)
	c = claims()
	c["exp"] = true
	refused["exp as a bool"] = sign(c, nil)
	refused["crit header"] = sign(claims(), map[string]any{"crit": []string{"exp"}})
	refused["crit of an unknown extension"] = sign(claims(), map[string]any{"crit": []string{"x-ours"}, "x-ours": 1})
	refused["empty crit"] = sign(claims(), map[string]any{"crit": []string{}})

	// The signature's last base64 character carries 2 bits of padding,
	// which lenient decoding ignores: a token with them set decodes to the
	// same bytes and would verify.
	good := sign(claims(), nil)
	last := good[len(good)-1]
	i := strings.IndexByte(alphabet, last)
	if i%4 != 0 {
		t.Fatalf("the canonical last character %q has padding bits set", last)
	}
	nonCanonical := good[:len(good)-1] + string(alphabet[i+1])
	if a, _ := base64.RawURLEncoding.DecodeString(good[strings.LastIndexByte(good, '.')+1:]); a == nil {
		t.Fatal("bad fixture")
	}
	refused["non-canonical signature"] = nonCanonical
	refused["padded signature"] = good + "="

	for name, tok := range refused {
		if id, err := v.Verify(tok); err == nil {
			t.Errorf("%s: accepted as %+v", name, id)
		}
	}
}

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
