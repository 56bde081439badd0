package integration

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"

	"github.com/golang-jwt/jwt/v5"
)

// forgedHeaderSets are client-supplied identity headers in every spelling
// a backend might fold onto X-Openid.
var forgedHeaderSets = []http.Header{
	{"X-Openid": {"forged"}, "X-Unionid": {"forged"}, "X-Wechat-Appid": {"forged"}},
	{"x-openid": {"forged"}, "x-unionid": {"forged"}, "x-wechat-appid": {"forged"}},
	{"X-OPENID": {"forged"}, "X-UNIONID": {"forged"}, "X-WECHAT-APPID": {"forged"}},
	{"X_Openid": {"forged"}, "X_Unionid": {"forged"}, "X_Wechat_Appid": {"forged"}},
	{"x_openid": {"forged"}, "X_UNIONID": {"forged"}, "x_wechat-appid": {"forged"}},
	{"X.Openid": {"forged"}, "X.Unionid": {"forged"}, "X.Wechat.Appid": {"forged"}},
	{"x.openid": {"forged"}, "X-Openid": {"forged", "forged"}, "X.wechat_Appid": {"forged"}},
}

// assertNoForgery fails if any header value "forged" reached the upstream.
func assertNoForgery(t *testing.T, h http.Header, ctx string) {
	t.Helper()
	for k, vs := range h {
		for _, v := range vs {
			if strings.Contains(v, "forged") {
				t.Errorf("%s: forged header %s: %s reached the upstream", ctx, k, v)
			}
		}
	}
}

func TestGateStripsForgedHeaders(t *testing.T) {
	up := NewUpstream(t)
	wx := NewFakeWeChat(t, func(w http.ResponseWriter, r *http.Request, code string, _ int) { OKAnswer(w, code) })
	StartCaddy(t, StdConfig(wx.URL, up.URL))
	c := NewClient()
	tok, _ := Login(t, c, "plain")

	for _, port := range []int{MainPort, OptPort, UnderPort} {
		for i, forged := range forgedHeaderSets {
			// With a valid token: identity comes from the token only.
			h := forged.Clone()
			h["Authorization"] = []string{"Bearer " + tok}
			st, _, _ := Do(t, c, "GET", At(port, "/x"), h, "")
			if st != 200 {
				t.Fatalf("port %d set %d with token: status %d", port, i, st)
			}
			got, _ := up.Received()
			assertNoForgery(t, got, "with token")
			if got.Get("X-Openid") != "o-plain" || got.Get("X-Unionid") != "" {
				t.Errorf("port %d set %d: identity %v", port, i, got)
			}

			// Without a token: refused, or anonymous with nothing forged.
			_, before := up.Received()
			st, _, body := Do(t, c, "GET", At(port, "/x"), forged.Clone(), "")
			got, after := up.Received()
			switch port {
			case OptPort:
				if st != 200 || after != before+1 {
					t.Fatalf("optional anonymous: status %d", st)
				}
				assertNoForgery(t, got, "optional anonymous")
				if got.Get("X-Openid") != "" {
					t.Errorf("anonymous request got an openid: %v", got)
				}
			default:
				if st != 401 || body["error"] != "unauthorized" || after != before {
					t.Fatalf("port %d set %d without token: %d %v", port, i, st, body)
				}
			}
		}
	}
}

// signWith makes a token with arbitrary claims, header and method.
func signWith(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestGateRefusesForgedTokens(t *testing.T) {
	up := NewUpstream(t)
	wx := NewFakeWeChat(t, func(w http.ResponseWriter, r *http.Request, code string, _ int) { OKAnswer(w, code) })
	StartCaddy(t, StdConfig(wx.URL, up.URL))
	c := NewClient()
	good, _ := Login(t, c, "victim")
	parts := strings.Split(good, ".")
	hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
	kid := strings.Split(strings.Split(string(hdr), `"kid":"`)[1], `"`)[0]

	now := time.Now()
	base := func() jwt.MapClaims {
		return jwt.MapClaims{"sub": "attacker", "aud": AppID, "iss": "caddy-wechat", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": "x"}
	}
	noneTok := signWith(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, base(), kid)
	expired := base()
	expired["exp"] = now.Add(-time.Hour).Unix()
	noExp := base()
	delete(noExp, "exp")
	otherAud := base()
	otherAud["aud"] = "wxffffffffffffffff"
	tamperedPayload := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"attacker","aud":"` + AppID + `","iss":"caddy-wechat","exp":9999999999,"iat":1}`))
	sig := []byte(parts[2])
	sig[len(sig)/2] ^= 1

	tokens := map[string]string{
		"alg none":           noneTok,
		"wrong key":          signWith(t, jwt.SigningMethodHS256, []byte("another-key-of-sufficient-length-000000"), base(), kid),
		"expired":            signWith(t, jwt.SigningMethodHS256, []byte(SigningKey), expired, kid),
		"no exp":             signWith(t, jwt.SigningMethodHS256, []byte(SigningKey), noExp, kid),
		"unknown app":        signWith(t, jwt.SigningMethodHS256, []byte(SigningKey), otherAud, kid),
		"HS512 right key":    signWith(t, jwt.SigningMethodHS512, []byte(SigningKey), base(), kid),
		"unknown kid":        signWith(t, jwt.SigningMethodHS256, []byte(SigningKey), base(), "nope"),
		"tampered claims":    parts[0] + "." + tamperedPayload + "." + parts[2],
		"tampered signature": parts[0] + "." + parts[1] + "." + string(sig),
		"20 KB":              parts[0] + "." + strings.Repeat("A", 20<<10) + "." + parts[2],
		"5 KB":               parts[0] + "." + strings.Repeat("A", 5<<10) + "." + parts[2],
		"garbage":            "not-a-jwt",
	}
	for name, tok := range tokens {
		for _, port := range []int{MainPort, OptPort} {
			_, before := up.Received()
			h := http.Header{"Authorization": {"Bearer " + tok}, "X-Openid": {"forged"}}
			st, rh, body := Do(t, c, "GET", At(port, "/x"), h, "")
			_, after := up.Received()
			if st != 401 || body["error"] != "invalid_token" || !strings.HasPrefix(rh.Get("WWW-Authenticate"), "Bearer") || after != before {
				t.Errorf("%s on port %d: %d %v %q (upstream hits %d->%d)", name, port, st, body, rh.Get("WWW-Authenticate"), before, after)
			}
		}
	}

	// Bearer scheme is case-insensitive; other schemes count as no token.
	if st, _, _ := Do(t, c, "GET", At(MainPort, "/x"), http.Header{"Authorization": {"bEaReR " + good}}, ""); st != 200 {
		t.Errorf("lower/mixed case scheme: %d", st)
	}
	if st, _, body := Do(t, c, "GET", At(MainPort, "/x"), http.Header{"Authorization": {"Basic dXNlcjpwYXNz"}}, ""); st != 401 || body["error"] != "unauthorized" {
		t.Errorf("basic on required gate: %d %v", st, body)
	}
	if st, _, _ := Do(t, c, "GET", At(OptPort, "/x"), http.Header{"Authorization": {"Basic dXNlcjpwYXNz"}}, ""); st != 200 {
		t.Errorf("basic under optional: %d", st)
	}
	if got, _ := up.Received(); got.Get("Authorization") != "Basic dXNlcjpwYXNz" {
		t.Errorf("non-bearer Authorization not passed on untouched under optional: %v", got)
	}
	if st, _, _ := Do(t, c, "GET", At(MainPort, "/x"), http.Header{"Authorization": {"Bearer " + good, "Bearer " + good}}, ""); st != 401 {
		t.Errorf("two Authorization headers: %d", st)
	}
}

func TestGateHandleErrorsRestyles(t *testing.T) {
	up := NewUpstream(t)
	wx := NewFakeWeChat(t, func(w http.ResponseWriter, r *http.Request, code string, _ int) { OKAnswer(w, code) })
	StartCaddy(t, StdConfig(wx.URL, up.URL))
	st, hdr, body := Do(t, NewClient(), "GET", At(StyledPort, "/x"), nil, "")
	if st != 401 || body["_raw"] != "styled 401" || hdr.Get("WWW-Authenticate") == "" {
		t.Fatalf("handle_errors: %d %v %v", st, hdr, body)
	}
}
