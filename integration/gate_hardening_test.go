package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"

	"github.com/golang-jwt/jwt/v5"
)

// TestOptionalGateNeverPassesABearerCredential: under optional, a Bearer
// credential is either a valid token or a 401; it never reaches the
// backend as if anonymous (hardening round 2, defect 3).
func TestOptionalGateNeverPassesABearerCredential(t *testing.T) {
	up := NewUpstream(t)
	wx := NewFakeWeChat(t, func(w http.ResponseWriter, r *http.Request, code string, _ int) { OKAnswer(w, code) })
	StartCaddy(t, StdConfig(wx.URL, up.URL))
	c := NewClient()
	tok, _ := Login(t, c, "tabuser")

	for _, auth := range []string{"Bearer\t" + tok, "bearer \t" + tok + "\t", "BEARER  " + tok} {
		st, _, body := Do(t, c, "GET", At(OptPort, "/x"), http.Header{"Authorization": {auth}}, "")
		h, _ := up.Received()
		if st != 200 || h.Get("X-Openid") != "o-tabuser" || h.Get("Authorization") != "" {
			t.Errorf("%q: %d %v, upstream X-Openid %q Authorization %q", auth, st, body, h.Get("X-Openid"), h.Get("Authorization"))
		}
	}
	for _, auth := range []string{"Bearer", "Bearer\u00a0" + tok, "Bearer:" + tok, "Basic eA==, Bearer " + tok} {
		for _, port := range []int{OptPort, MainPort} {
			_, before := up.Received()
			// Raw, since net/http's client refuses some of these values.
			st, raw := RawRequest(t, port, "GET /x HTTP/1.1\r\nHost: localhost\r\nAuthorization: "+auth+"\r\nConnection: close\r\n\r\n")
			var body map[string]any
			_ = json.Unmarshal([]byte(raw), &body)
			_, after := up.Received()
			if st != 401 || body["error"] != "invalid_token" || after != before {
				t.Errorf("%q on %d: %d %v (upstream %d -> %d)", auth, port, st, body, before, after)
			}
			if msg, _ := body["message"].(string); strings.Contains(msg, "required") || strings.Contains(msg, "log in first") {
				t.Errorf("%q on %d: the message says no token was sent: %q", auth, port, msg)
			}
		}
	}
	// Another scheme is still no token: anonymous, and passed on as is.
	st, _, _ := Do(t, c, "GET", At(OptPort, "/x"), http.Header{"Authorization": {"Basic dXNlcjpwYXNz"}}, "")
	if h, _ := up.Received(); st != 200 || h.Get("Authorization") != "Basic dXNlcjpwYXNz" || h.Get("X-Openid") != "" {
		t.Errorf("Basic under optional: %d %v", st, h)
	}
}

// TestAnonymousPlaceholdersAreEmpty: under optional, {http.auth.user.*}
// are empty for an anonymous request, never their own literal text
// (hardening round 2, defect 4).
func TestAnonymousPlaceholdersAreEmpty(t *testing.T) {
	up := NewUpstream(t)
	wx := NewFakeWeChat(t, func(w http.ResponseWriter, r *http.Request, code string, _ int) { OKAnswer(w, code) })
	proxyPort, routePort := FreePort(t), FreePort(t)
	StartCaddy(t, SitesConfig(wx.URL, "", fmt.Sprintf(`
:%[1]d {
	wechat_login /login
	wechat_auth {
		optional
	}
	reverse_proxy %[3]s {
		header_up X-User-Id {http.auth.user.id}
		header_up X-User-Union "u:{http.auth.user.unionid}"
		header_up X-User-App "a:{http.auth.user.appid}"
	}
}
:%[2]d {
	route {
		wechat_auth {
			optional
		}
		request_header X-Req-Uid "id:{http.auth.user.id}"
		reverse_proxy %[3]s
	}
}
`, proxyPort, routePort, up.URL)))
	c := NewClient()

	Do(t, c, "GET", At(proxyPort, "/x"), nil, "")
	h, _ := up.Received()
	if h.Get("X-User-Id") != "" || h.Get("X-User-Union") != "u:" || h.Get("X-User-App") != "a:" {
		t.Errorf("header_up for an anonymous request: %q %q %q", h.Get("X-User-Id"), h.Get("X-User-Union"), h.Get("X-User-App"))
	}
	Do(t, c, "GET", At(routePort, "/x"), nil, "")
	if h, _ = up.Received(); h.Get("X-Req-Uid") != "id:" {
		t.Errorf("request_header for an anonymous request: %q", h.Get("X-Req-Uid"))
	}

	tok, _ := LoginAt(t, c, proxyPort, "uplace", AppID)
	Do(t, c, "GET", At(proxyPort, "/x"), Bearer(tok), "")
	if h, _ = up.Received(); h.Get("X-User-Id") != "o-uplace" || h.Get("X-User-Union") != "u:u-uplace" || h.Get("X-User-App") != "a:"+AppID {
		t.Errorf("header_up for a user: %v", h)
	}
}

// TestGateApps: wechat_auth { apps } admits tokens of those apps only.
func TestGateApps(t *testing.T) {
	up := NewUpstream(t)
	wx := NewFakeWeChat(t, func(w http.ResponseWriter, r *http.Request, code string, _ int) { OKAnswer(w, code) })
	port := FreePort(t)
	StartCaddy(t, SitesConfig(wx.URL, "", fmt.Sprintf(`
:%[1]d {
	wechat_login /login
	handle /second/* {
		wechat_auth {
			apps %[3]s
		}
		reverse_proxy %[2]s
	}
	handle /both/* {
		wechat_auth {
			apps %[3]s %[4]s
		}
		reverse_proxy %[2]s
	}
}
`, port, up.URL, AppID2, AppID)))
	c := NewClient()
	tok1, _ := LoginAt(t, c, port, "first", AppID)
	tok2, _ := LoginAt(t, c, port, "second", AppID2)

	_, before := up.Received()
	st, hdr, body := Do(t, c, "GET", At(port, "/second/x"), Bearer(tok1), "")
	if _, after := up.Received(); st != 401 || body["error"] != "invalid_token" || after != before || !strings.Contains(hdr.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("first app's token on the second app's route: %d %v %v", st, body, hdr)
	}
	if st, _, body := Do(t, c, "GET", At(port, "/second/x"), Bearer(tok2), ""); st != 200 {
		t.Errorf("second app's token: %d %v", st, body)
	}
	for _, tok := range []string{tok1, tok2} {
		if st, _, body := Do(t, c, "GET", At(port, "/both/x"), Bearer(tok), ""); st != 200 {
			t.Errorf("both apps: %d %v", st, body)
		}
	}
	// An appid that is not configured is a config error.
	cfg := SitesConfig(wx.URL, "", fmt.Sprintf(":%d {\n\twechat_auth {\n\t\tapps wxffffffffffffffff\n\t}\n}\n", port))
	if err := LoadConfigErr(t, cfg); err == nil || !strings.Contains(err.Error(), "wxffffffffffffffff") {
		t.Errorf("unconfigured app in apps: %v", err)
	}
}

// TestExpiredTokenSaysSo: an expired token is refused with a challenge and
// message that say so; a bad signature and a malformed token keep the
// generic text.
func TestExpiredTokenSaysSo(t *testing.T) {
	up := NewUpstream(t)
	wx := NewFakeWeChat(t, func(w http.ResponseWriter, r *http.Request, code string, _ int) { OKAnswer(w, code) })
	StartCaddy(t, StdConfig(wx.URL, up.URL))
	c := NewClient()
	good, _ := Login(t, c, "expiring")
	kid := TokenKID(t, good)
	now := time.Now()
	expired := signWith(t, jwt.SigningMethodHS256, []byte(SigningKey), jwt.MapClaims{
		"sub": "o-expiring", "aud": AppID, "iss": "caddy-wechat", "jti": "e1",
		"iat": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix(),
	}, kid)

	st, hdr, body := Do(t, c, "GET", At(MainPort, "/x"), Bearer(expired), "")
	wa := hdr.Get("WWW-Authenticate")
	if st != 401 || body["error"] != "invalid_token" || !strings.Contains(wa, `error="invalid_token"`) || !strings.Contains(wa, `error_description="the token has expired"`) || !strings.Contains(body["message"].(string), "expired") {
		t.Errorf("expired: %d %v %q", st, body, wa)
	}
	for name, tok := range map[string]string{"bad signature": good[:len(good)-3] + "AAA", "malformed": "not.a.jwt"} {
		st, hdr, body := Do(t, c, "GET", At(MainPort, "/x"), Bearer(tok), "")
		if st != 401 || strings.Contains(hdr.Get("WWW-Authenticate"), "error_description") || body["message"] != "the token is invalid, expired or revoked: log in again" {
			t.Errorf("%s: %d %v %q", name, st, body, hdr.Get("WWW-Authenticate"))
		}
	}
}
