package gate

import (
	"net/http"
	"testing"

	"github.com/caddy-wechat/caddy-wechat/caddymodule"
)

// TestBearerTokenParsing reads Authorization as RFC 9110 does: the scheme
// in any case, then spaces or tabs. Anything that names Bearer but is not
// one usable caddymodule.Credential is malformed, never "no token" (hardening round
// 2, defect 3).
func TestBearerTokenParsing(t *testing.T) {
	cases := []struct {
		vals  []string
		token string
		cred  caddymodule.Credential
	}{
		{nil, "", caddymodule.CredNone},
		{[]string{"Basic dXNlcjpwYXNz"}, "", caddymodule.CredNone},
		{[]string{"Bearerish abc"}, "", caddymodule.CredNone},
		{[]string{"Bearer-Token abc"}, "", caddymodule.CredNone},
		{[]string{"Digest username=\"x\", realm=\"y\""}, "", caddymodule.CredNone},
		{[]string{"Bearer abc"}, "abc", caddymodule.CredBearer},
		{[]string{"bearer abc"}, "abc", caddymodule.CredBearer},
		{[]string{"BEARER abc"}, "abc", caddymodule.CredBearer},
		{[]string{"Bearer\tabc"}, "abc", caddymodule.CredBearer},
		{[]string{"Bearer \t  abc \t"}, "abc", caddymodule.CredBearer},
		{[]string{" \tBearer abc"}, "abc", caddymodule.CredBearer},
		{[]string{"Bearer"}, "", caddymodule.CredMalformed},
		{[]string{"Bearer "}, "", caddymodule.CredMalformed},
		{[]string{"Bearer\t"}, "", caddymodule.CredMalformed},
		{[]string{"Bearerabc"}, "", caddymodule.CredNone}, // another scheme's name
		{[]string{"Bearer:abc"}, "", caddymodule.CredMalformed},
		{[]string{"Bearer\x0babc"}, "", caddymodule.CredMalformed},
		{[]string{"Bearer\u00a0abc"}, "", caddymodule.CredMalformed},
		{[]string{"Bearer abc, Bearer def"}, "", caddymodule.CredMalformed},
		{[]string{"Basic x, Bearer abc"}, "", caddymodule.CredMalformed},
		{[]string{"Bearer abc", "Basic x"}, "", caddymodule.CredMalformed},
		{[]string{"Basic x", "bearer\tabc"}, "", caddymodule.CredMalformed},
		{[]string{"Bearer abc", "Bearer abc"}, "", caddymodule.CredMalformed},
		{[]string{"Basic a", "Basic b"}, "", caddymodule.CredNone},
	}
	for _, tc := range cases {
		h := http.Header{}
		if tc.vals != nil {
			h["Authorization"] = tc.vals
		}
		token, cred := caddymodule.BearerToken(h)
		if token != tc.token || cred != tc.cred {
			t.Errorf("%q: got %q, %d; want %q, %d", tc.vals, token, cred, tc.token, tc.cred)
		}
	}
}
