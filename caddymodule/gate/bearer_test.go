package gate

import (
	"net/http"
	"testing"
)

// TestBearerTokenParsing reads Authorization as RFC 9110 does: the scheme
// in any case, then spaces or tabs. Anything that names Bearer but is not
// one usable credential is malformed, never "no token" (hardening round
// 2, defect 3).
func TestBearerTokenParsing(t *testing.T) {
	cases := []struct {
		vals  []string
		token string
		cred  credential
	}{
		{nil, "", credNone},
		{[]string{"Basic dXNlcjpwYXNz"}, "", credNone},
		{[]string{"Bearerish abc"}, "", credNone},
		{[]string{"Bearer-Token abc"}, "", credNone},
		{[]string{"Digest username=\"x\", realm=\"y\""}, "", credNone},
		{[]string{"Bearer abc"}, "abc", credBearer},
		{[]string{"bearer abc"}, "abc", credBearer},
		{[]string{"BEARER abc"}, "abc", credBearer},
		{[]string{"Bearer\tabc"}, "abc", credBearer},
		{[]string{"Bearer \t  abc \t"}, "abc", credBearer},
		{[]string{" \tBearer abc"}, "abc", credBearer},
		{[]string{"Bearer"}, "", credMalformed},
		{[]string{"Bearer "}, "", credMalformed},
		{[]string{"Bearer\t"}, "", credMalformed},
		{[]string{"Bearerabc"}, "", credNone}, // another scheme's name
		{[]string{"Bearer:abc"}, "", credMalformed},
		{[]string{"Bearer\x0babc"}, "", credMalformed},
		{[]string{"Bearer\u00a0abc"}, "", credMalformed},
		{[]string{"Bearer abc, Bearer def"}, "", credMalformed},
		{[]string{"Basic x, Bearer abc"}, "", credMalformed},
		{[]string{"Bearer abc", "Basic x"}, "", credMalformed},
		{[]string{"Basic x", "bearer\tabc"}, "", credMalformed},
		{[]string{"Bearer abc", "Bearer abc"}, "", credMalformed},
		{[]string{"Basic a", "Basic b"}, "", credNone},
	}
	for _, tc := range cases {
		h := http.Header{}
		if tc.vals != nil {
			h["Authorization"] = tc.vals
		}
		token, cred := bearerToken(h)
		if token != tc.token || cred != tc.cred {
			t.Errorf("%q: got %q, %d; want %q, %d", tc.vals, token, cred, tc.token, tc.cred)
		}
	}
}
