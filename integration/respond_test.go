package integration

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"
)

// TestRespondMode: wechat_auth { respond } answers a proxy in front: 200
// with the identity in the response headers and an empty body for a
// valid credential, the usual refusals otherwise; it never passes the
// request on.
func TestRespondMode(t *testing.T) {
	up := NewUpstream(t)
	wx := NewFakeAPI(t)
	StartCaddy(t, IdentityConfig(wx.URL, up.URL, IdentityOpts{Sites: fmt.Sprintf(":%d {\n\twechat_auth {\n\t\trespond\n\t\toptional\n\t}\n}", UDExtraPort)}))
	c := NewClient()
	set, _ := FetchJWKS(t, At(IDPort, "/.well-known/jwks.json"))
	tok, _ := LoginAt(t, c, IDPort, "respond.1", AppID)
	_, before := up.Received()

	h := Bearer(tok)
	h.Set("X-Openid", "forged")
	st, rh, body := Do(t, c, "GET", At(IDRespondPort, "/api/orders"), h, "")
	if st != 200 || rh.Get("X-Openid") != "o-respond" || rh.Get("X-Wechat-Appid") != AppID || body["_raw"] != "" {
		t.Fatalf("respond: %d %v %v", st, rh, body)
	}
	if rh.Get("Cache-Control") != "no-store" {
		t.Errorf("respond: Cache-Control %q", rh.Get("Cache-Control"))
	}
	verifyAssertion(t, set, rh.Get("X-Wechat-Assertion"), "localhost")

	st, rh, body = Do(t, c, "GET", At(IDRespondPort, "/api/orders"), nil, "")
	if st != 401 || body["error"] != "unauthorized" || rh.Get("WWW-Authenticate") == "" || rh.Get("X-Openid") != "" {
		t.Errorf("respond without a token: %d %v %v", st, rh, body)
	}
	st, rh, body = Do(t, c, "GET", At(IDRespondPort, "/api/orders"), Bearer(tok+"x"), "")
	if st != 401 || body["error"] != "invalid_token" || rh.Get("X-Openid") != "" {
		t.Errorf("respond with a bad token: %d %v", st, body)
	}
	// optional: 200 and no identity.
	st, rh, _ = Do(t, c, "GET", At(UDExtraPort, "/"), http.Header{"X-Openid": {"forged"}}, "")
	if st != 200 || rh.Get("X-Openid") != "" {
		t.Errorf("optional respond without a token: %d %v", st, rh)
	}
	if _, after := up.Received(); after != before {
		t.Error("a respond gate passed a request on")
	}

	// A renewal rides on the answer, for the proxy to pass to the client.
	now := time.Now()
	near := SessionToken(t, "o-respond-renew", Unique("sid-respond"), now.Add(-time.Hour), now.Add(-50*time.Minute), time.Hour)
	_, rh, _ = Do(t, c, "GET", At(IDRespondPort, "/"), Bearer(near), "")
	if nu, secs := renewed(t, rh); nu == "" || secs < 3590 {
		t.Errorf("respond with a token near its end: renewal %v for %d s", nu != "", secs)
	}
}

// TestRespondModeCookieCSRF: behind a proxy, the CSRF rule applies to the
// original request as the proxy describes it.
func TestRespondModeCookieCSRF(t *testing.T) {
	up := NewUpstream(t)
	wx := NewFakeWeChat(t, func(w http.ResponseWriter, r *http.Request, code string, _ int) { OKAnswer(w, code) })
	StartCaddy(t, SessionsConfig(wx.URL, up.URL, SessionOpts{Sites: fmt.Sprintf(":%d {\n\twechat_auth {\n\t\trespond\n\t}\n}", UDExtraPort)}))
	c := NewClient()
	_, ck := cookieSession(t, c, Unique("respond-csrf"))
	check := func(method, origin string, want int) {
		t.Helper()
		h := WithCookie(ck)
		h.Set("X-Forwarded-Method", method)
		h.Set("X-Forwarded-Host", "shop.example.test")
		h.Set("X-Forwarded-Proto", "https")
		if origin != "" {
			h.Set("Origin", origin)
		}
		if st, _, body := Do(t, c, "GET", At(UDExtraPort, "/"), h, ""); st != want {
			t.Errorf("%s from %q: %d %v, want %d", method, origin, st, body, want)
		}
	}
	check("POST", OtherH5Origin, 403)
	check("POST", "https://shop.example.test", 200)
	check("GET", OtherH5Origin, 200)
	check("DELETE", "http://shop.example.test", 403) // another scheme is another origin
}
