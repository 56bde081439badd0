package integration

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"
)

// cookieSession logs in through a ticket and returns the cookie's token.
func cookieSession(t *testing.T, c *http.Client, code string) (bearer, cookie string) {
	t.Helper()
	tok, _ := LoginAt(t, c, SessPort, code, AppID)
	st, h, body := redeem(t, c, mintTicket(t, c, tok))
	ck := SessionCookie(h, "wechat_session")
	if st != 200 || ck == nil {
		t.Fatalf("redeem: status %d body %v", st, body)
	}
	return tok, ck.Value
}

// TestCookieStrippedOthersKept: the gate takes its token from our cookie,
// removes only that cookie from what goes upstream, and passes the
// backend's own cookies byte for byte.
func TestCookieStrippedOthersKept(t *testing.T) {
	up, c := sessionsEnv(t, "", "", "")
	_, ck := cookieSession(t, c, "strip")
	cases := []struct {
		sent []string
		want []string
	}{
		{[]string{"wechat_session=" + ck}, nil},
		{[]string{"theme=dark; wechat_session=" + ck + "; lang=zh-CN"}, []string{"theme=dark; lang=zh-CN"}},
		{[]string{"wechat_session=" + ck + ";theme=dark;lang=zh-CN"}, []string{"theme=dark;lang=zh-CN"}},
		{[]string{"a=1;  b=\"two words\"; wechat_session=" + ck}, []string{"a=1;  b=\"two words\""}},
		{[]string{"a=1; b=2", "wechat_session=" + ck, "c=3"}, []string{"a=1; b=2", "c=3"}},
		{[]string{"my_wechat_session=keep; wechat_session=" + ck + "; wechat_session2=keep"}, []string{"my_wechat_session=keep; wechat_session2=keep"}},
	}
	for _, tc := range cases {
		st, _, body := Do(t, c, "GET", At(SessPort, "/api/me"), http.Header{"Cookie": tc.sent}, "")
		got, _ := up.Received()
		if st != 200 || got.Get("X-Openid") != "o-strip" {
			t.Fatalf("cookies %q: status %d body %v", tc.sent, st, body)
		}
		if fmt.Sprint(got["Cookie"]) != fmt.Sprint(tc.want) {
			t.Errorf("cookies %q reached the upstream as %q, want %q", tc.sent, got["Cookie"], tc.want)
		}
		if strings.Contains(fmt.Sprint(got), ck) {
			t.Errorf("cookies %q: the session token reached the upstream", tc.sent)
		}
	}
	// Bearer first: with both, the cookie is not ours to take, and it
	// passes untouched.
	bearer, _ := LoginAt(t, c, SessPort, "bearer-and-cookie", AppID)
	h := Bearer(bearer)
	h["Cookie"] = []string{"wechat_session=" + ck}
	if st, _, _ := Do(t, c, "GET", At(SessPort, "/api/me"), h, ""); st != 200 {
		t.Fatalf("bearer and cookie: status %d", st)
	}
	if got, _ := up.Received(); got.Get("X-Openid") != "o-bearer-and-cookie" {
		t.Errorf("bearer and cookie: X-Openid %q, want the bearer token's user", got.Get("X-Openid"))
	}
}

// TestCookieRefusedIsCleared: a bad cookie is refused and cleared, so the
// browser stops sending it.
func TestCookieRefusedIsCleared(t *testing.T) {
	_, c := sessionsEnv(t, "", "", "")
	st, h, body := Do(t, c, "GET", At(SessPort, "/api/me"), WithCookie("not-a-token"), "")
	if st != 401 || body["error"] != "invalid_token" {
		t.Fatalf("bad cookie: status %d body %v", st, body)
	}
	ck := SessionCookie(h, "wechat_session")
	if ck == nil || ck.Value != "" || ck.MaxAge >= 0 {
		t.Errorf("bad cookie: Set-Cookie %q, want one that clears wechat_session", h["Set-Cookie"])
	}
}

// TestCookieCSRF: a cookie request with an unsafe method from a page of
// another origin is refused before the upstream; Bearer requests are not
// affected.
func TestCookieCSRF(t *testing.T) {
	up, c := sessionsEnv(t, "", "allowed_origins "+H5Origin, "")
	bearer, ck := cookieSession(t, c, "csrf")
	own := fmt.Sprintf("http://localhost:%d", SessPort)
	cases := []struct {
		name   string
		method string
		hdr    map[string]string
		cookie bool
		want   int
	}{
		{"POST from another origin", "POST", map[string]string{"Origin": OtherH5Origin}, true, 403},
		{"DELETE from another origin", "DELETE", map[string]string{"Origin": OtherH5Origin}, true, 403},
		{"PUT with Origin null", "PUT", map[string]string{"Origin": "null"}, true, 403},
		{"POST from a look-alike origin", "POST", map[string]string{"Origin": H5Origin + ".evil.test"}, true, 403},
		{"POST without Origin, cross-site", "POST", map[string]string{"Sec-Fetch-Site": "cross-site"}, true, 403},
		{"POST from the own origin", "POST", map[string]string{"Origin": own}, true, 200},
		{"POST from an allowed origin", "POST", map[string]string{"Origin": H5Origin}, true, 200},
		{"POST from an allowed origin in capitals", "POST", map[string]string{"Origin": strings.ToUpper(H5Origin)}, true, 200},
		{"POST without Origin, same-origin", "POST", map[string]string{"Sec-Fetch-Site": "same-origin"}, true, 200},
		{"POST without Origin, same-site", "POST", map[string]string{"Sec-Fetch-Site": "same-site"}, true, 200},
		{"POST without Origin or Sec-Fetch-Site", "POST", nil, true, 200},
		{"GET from another origin", "GET", map[string]string{"Origin": OtherH5Origin}, true, 200},
		{"HEAD from another origin", "HEAD", map[string]string{"Origin": OtherH5Origin}, true, 200},
		{"Bearer POST from another origin", "POST", map[string]string{"Origin": OtherH5Origin, "Sec-Fetch-Site": "cross-site"}, false, 200},
	}
	for _, tc := range cases {
		var h http.Header
		if tc.cookie {
			h = WithCookie(ck)
		} else {
			h = Bearer(bearer)
		}
		for k, v := range tc.hdr {
			h.Set(k, v)
		}
		_, before := up.Received()
		st, _, body := Do(t, c, tc.method, At(SessPort, "/api/change"), h, "")
		_, after := up.Received()
		if st != tc.want {
			t.Errorf("%s: status %d body %v, want %d", tc.name, st, body, tc.want)
		}
		if tc.want == 403 {
			if body["error"] != "csrf_rejected" {
				t.Errorf("%s: body %v, want csrf_rejected", tc.name, body)
			}
			if after != before {
				t.Errorf("%s: the upstream was called", tc.name)
			}
		}
	}
}

// TestCookieConfig: the cookie block's choices reach Set-Cookie, and the
// ones a browser would drop are config errors.
func TestCookieConfig(t *testing.T) {
	_, c := sessionsEnv(t, "", "name sess\n\t\t\tdomain example.test\n\t\t\tpath /app\n\t\t\tsame_site strict\n\t\t\tsecure on", "")
	tok, _ := LoginAt(t, c, SessPort, "config", AppID)
	st, h, body := redeem(t, c, mintTicket(t, c, tok))
	raw := h.Get("Set-Cookie")
	if st != 200 || !strings.HasPrefix(raw, "sess=") {
		t.Fatalf("redeem: status %d body %v Set-Cookie %q", st, body, raw)
	}
	for _, want := range []string{"Domain=example.test", "Path=/app", "SameSite=Strict", "Secure", "HttpOnly"} {
		if !strings.Contains(raw, want) {
			t.Errorf("Set-Cookie %q lacks %s", raw, want)
		}
	}
	wx := NewFakeWeChat(t, func(w http.ResponseWriter, r *http.Request, code string, _ int) { OKAnswer(w, code) })
	for opts, want := range map[string]string{
		"same_site none":             "same_site none needs secure on",
		"same_site loose":            "expected lax, strict or none",
		"secure off":                 "expected auto or on",
		"allowed_origins h5.example": "an origin is scheme://host",
	} {
		err := LoadConfigErr(t, SessionsConfig(wx.URL, "127.0.0.1:1", SessionOpts{Cookie: opts}))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("cookie { %s }: %v, want an error containing %q", opts, err, want)
		}
	}
}
