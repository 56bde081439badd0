package integration

import (
	"fmt"
	"net/http"
	"testing"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"
)

// TestRouteKeepsTheWrittenOrder: inside route, Caddy runs directives as
// written, so the README tells users to write login, then the gate, then
// the proxy; written so, it works (hardening round 2, defect 11).
func TestRouteKeepsTheWrittenOrder(t *testing.T) {
	up := NewUpstream(t)
	wx := NewFakeWeChat(t, func(w http.ResponseWriter, r *http.Request, code string, _ int) { OKAnswer(w, code) })
	port := FreePort(t)
	StartCaddy(t, SitesConfig(wx.URL, "", fmt.Sprintf(`
:%d {
	route {
		wechat_login /login
		wechat_auth
		reverse_proxy %s
	}
}
`, port, up.URL)))
	c := NewClient()
	tok, body := LoginAt(t, c, port, "router", AppID)
	if body["openid"] != "o-router" {
		t.Fatalf("login inside route: %v", body)
	}
	h := Bearer(tok)
	h.Set("X-Openid", "forged")
	if st, _, _ := Do(t, c, "GET", At(port, "/x"), h, ""); st != 200 {
		t.Fatalf("with a token: %d", st)
	}
	if got, _ := up.Received(); got.Get("X-Openid") != "o-router" {
		t.Fatalf("upstream X-Openid %q", got.Get("X-Openid"))
	}
	_, before := up.Received()
	if st, _, _ := Do(t, c, "GET", At(port, "/x"), http.Header{"X-Openid": {"forged"}}, ""); st != 401 {
		t.Fatalf("without a token: %d", st)
	}
	if _, after := up.Received(); after != before {
		t.Fatal("the upstream was called without a token")
	}
}

// TestSiteLevelHeaderDirectivesAndTheGate pins what the README says of
// header directives at a site's top level: request_header runs after the
// gate (it is ordered after basic_auth), so {http.auth.user.id} is the
// user there; header sets response headers before the gate runs, so it
// sees the placeholder unset (its literal text) unless deferred
// (header >Name).
func TestSiteLevelHeaderDirectivesAndTheGate(t *testing.T) {
	up := NewUpstream(t)
	wx := NewFakeWeChat(t, func(w http.ResponseWriter, r *http.Request, code string, _ int) { OKAnswer(w, code) })
	port := FreePort(t)
	StartCaddy(t, SitesConfig(wx.URL, "", fmt.Sprintf(`
:%d {
	wechat_login /login
	request_header X-Req-Uid "id:{http.auth.user.id}"
	header X-Resp-Uid "id:{http.auth.user.id}"
	header >X-Resp-Deferred "id:{http.auth.user.id}"
	wechat_auth
	reverse_proxy %s
}
`, port, up.URL)))
	c := NewClient()
	tok, _ := LoginAt(t, c, port, "hdr", AppID)
	st, hdr, _ := Do(t, c, "GET", At(port, "/x"), Bearer(tok), "")
	got, _ := up.Received()
	if st != 200 || got.Get("X-Req-Uid") != "id:o-hdr" {
		t.Errorf("request_header at site level: %d %q", st, got.Get("X-Req-Uid"))
	}
	if v := hdr.Get("X-Resp-Uid"); v != "id:{http.auth.user.id}" {
		t.Errorf("header at site level: %q; the README says it runs before the gate", v)
	}
	if v := hdr.Get("X-Resp-Deferred"); v != "id:o-hdr" {
		t.Errorf("deferred header: %q", v)
	}
}
