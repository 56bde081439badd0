package integration

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"
)

// sessionsEnv starts SessionsConfig with a simulator-like fake WeChat and a
// recording upstream.
func sessionsEnv(t *testing.T, tokenOpts, cookieOpts, sites string) (*Upstream, *http.Client) {
	t.Helper()
	up := NewUpstream(t)
	wx := NewFakeWeChat(t, func(w http.ResponseWriter, r *http.Request, code string, _ int) { OKAnswer(w, code) })
	StartCaddy(t, SessionsConfig(wx.URL, up.URL, SessionOpts{Token: tokenOpts, Cookie: cookieOpts, Sites: sites}))
	return up, NewClient()
}

// mintTicket asks /session/ticket for a ticket of tok's session.
func mintTicket(t *testing.T, c *http.Client, tok string) string {
	t.Helper()
	st, _, body := Do(t, c, "POST", At(SessPort, "/session/ticket"), Bearer(tok), "")
	if st != 200 {
		t.Fatalf("ticket: status %d body %v", st, body)
	}
	if body["expires_in"] != float64(60) {
		t.Errorf("ticket expires_in = %v, want 60", body["expires_in"])
	}
	tk, _ := body["ticket"].(string)
	if len(tk) < 22 { // 128 bits in base64url
		t.Fatalf("ticket %q is too short to hold 128 random bits", tk)
	}
	return tk
}

// redeem posts a ticket to /login as a same-origin page would.
func redeem(t *testing.T, c *http.Client, tk string) (int, http.Header, map[string]any) {
	t.Helper()
	return Do(t, c, "POST", At(SessPort, "/login"), http.Header{
		"Content-Type": {"application/json"},
		"Origin":       {fmt.Sprintf("http://localhost:%d", SessPort)},
	}, fmt.Sprintf(`{"ticket": %q}`, tk))
}

// TestTicketToCookieSession: the Mini Program's token buys a ticket, the
// page redeems it once for an HttpOnly cookie of the same session, and
// the token is never in the body.
func TestTicketToCookieSession(t *testing.T) {
	up, c := sessionsEnv(t, "", "", "")
	tok, _ := LoginAt(t, c, SessPort, "webview", AppID)
	tk := mintTicket(t, c, tok)

	st, h, body := redeem(t, c, tk)
	if st != 200 || body["token_type"] != "cookie" || body["openid"] != "o-webview" {
		t.Fatalf("redeem: status %d body %v", st, body)
	}
	if exp, _ := body["expires_in"].(float64); exp < 3500 || exp > 3600 {
		t.Errorf("expires_in = %v, want about 3600", body["expires_in"])
	}
	if _, has := body["token"]; has {
		t.Errorf("the redemption's body carries the token: %v", body)
	}
	ck := SessionCookie(h, "wechat_session")
	if ck == nil {
		t.Fatalf("no session cookie in %v", h["Set-Cookie"])
	}
	raw := h.Get("Set-Cookie")
	for _, want := range []string{"HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(raw, want) {
			t.Errorf("Set-Cookie %q lacks %s", raw, want)
		}
	}
	if strings.Contains(raw, "Secure") || strings.Contains(raw, "Domain=") {
		t.Errorf("Set-Cookie %q: plain http to localhost is neither Secure nor for a domain by default", raw)
	}
	if strings.Contains(fmt.Sprint(body), ck.Value) {
		t.Error("the cookie's token is in the body")
	}
	mp, cookie := Claims(t, tok), Claims(t, ck.Value)
	if mp["sid"] != cookie["sid"] || mp["auth_time"] != cookie["auth_time"] || mp["sk"] != cookie["sk"] || mp["jti"] == cookie["jti"] {
		t.Errorf("the cookie's token is not of the Mini Program's session:\n mp     %v\n cookie %v", mp, cookie)
	}

	st, _, _ = Do(t, c, "GET", At(SessPort, "/api/me"), WithCookie(ck.Value), "")
	got, _ := up.Received()
	if st != 200 || got.Get("X-Openid") != "o-webview" {
		t.Fatalf("/api/me with the cookie: status %d, X-Openid %q", st, got.Get("X-Openid"))
	}

	// Single use.
	st, _, body = redeem(t, c, tk)
	if st != 401 || body["error"] != "invalid_ticket" {
		t.Errorf("second redemption: status %d body %v, want 401 invalid_ticket", st, body)
	}
	for _, bogus := range []string{"nope", strings.Repeat("A", 32), tk + "x"} {
		if st, _, body := redeem(t, c, bogus); st != 401 || body["error"] != "invalid_ticket" {
			t.Errorf("ticket %q: status %d body %v, want 401 invalid_ticket", bogus, st, body)
		}
	}
}

// TestTicketAsForm: a page may post the ticket as a form.
func TestTicketAsForm(t *testing.T) {
	_, c := sessionsEnv(t, "", "", "")
	tok, _ := LoginAt(t, c, SessPort, "form", AppID)
	tk := mintTicket(t, c, tok)
	st, h, body := Do(t, c, "POST", At(SessPort, "/login"), http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, "ticket="+url.QueryEscape(tk))
	if st != 200 || SessionCookie(h, "wechat_session") == nil {
		t.Fatalf("form redemption: status %d body %v", st, body)
	}
}

// TestTicketRefusals: what a ticket login refuses, and how.
func TestTicketRefusals(t *testing.T) {
	_, c := sessionsEnv(t, "", "", "")
	tok, _ := LoginAt(t, c, SessPort, "refusals", AppID)
	tk := mintTicket(t, c, tok)
	jsonHdr := http.Header{"Content-Type": {"application/json"}}

	st, _, body := Do(t, c, "POST", At(SessPort, "/login"), jsonHdr, fmt.Sprintf(`{"ticket": %q, "code": "x"}`, tk))
	if st != 400 || body["error"] != "invalid_request" {
		t.Errorf("code and ticket: status %d body %v, want 400 invalid_request", st, body)
	}
	st, _, body = Do(t, c, "POST", At(SessPort, "/session/ticket"), nil, "")
	if st != 401 || body["error"] != "unauthorized" {
		t.Errorf("ticket without a token: status %d body %v, want 401 unauthorized", st, body)
	}
	st, _, body = Do(t, c, "GET", At(SessPort, "/session/ticket"), Bearer(tok), "")
	if st != 405 {
		t.Errorf("GET /session/ticket: status %d body %v, want 405", st, body)
	}
	// A page of another site cannot log the browser in.
	st, _, body = Do(t, c, "POST", At(SessPort, "/login"), http.Header{"Content-Type": {"application/json"}, "Origin": {OtherH5Origin}}, fmt.Sprintf(`{"ticket": %q}`, tk))
	if st != 403 || body["error"] != "csrf_rejected" {
		t.Errorf("cross-site redemption: status %d body %v, want 403 csrf_rejected", st, body)
	}
	// ...and that attempt did not use the ticket up.
	if st, _, body := redeem(t, c, tk); st != 200 {
		t.Errorf("redemption after a refused cross-site one: status %d body %v", st, body)
	}
}

// TestTicketNeedsCookieSessions: without a cookie block there is nothing
// to redeem a ticket for.
func TestTicketNeedsCookieSessions(t *testing.T) {
	wx := NewFakeWeChat(t, func(w http.ResponseWriter, r *http.Request, code string, _ int) { OKAnswer(w, code) })
	StartCaddy(t, SitesConfig(wx.URL, "", fmt.Sprintf(`
:%d {
	wechat_login /login
	handle /session/ticket {
		wechat_auth
		wechat_ticket
	}
}`, SessPort)))
	c := NewClient()
	tok, _ := LoginAt(t, c, SessPort, "nocookie", AppID)
	tk := mintTicket(t, c, tok)
	st, _, body := Do(t, c, "POST", At(SessPort, "/login"), http.Header{"Content-Type": {"application/json"}}, fmt.Sprintf(`{"ticket": %q}`, tk))
	if st != 400 || body["error"] != "invalid_request" {
		t.Errorf("redemption without cookie sessions: status %d body %v, want 400 invalid_request", st, body)
	}
}

// TestTicketRedemptionRace: of concurrent redemptions of one ticket,
// exactly one gets the cookie.
func TestTicketRedemptionRace(t *testing.T) {
	_, c := sessionsEnv(t, "", "", "")
	for round := range 5 {
		tok, _ := LoginAt(t, c, SessPort, fmt.Sprintf("race%d", round), AppID)
		tk := mintTicket(t, c, tok)
		const n = 16
		var wg sync.WaitGroup
		statuses := make([]int, n)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				statuses[i], _, _ = redeem(t, NewClient(), tk)
			})
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, st := range statuses {
			switch st {
			case 200:
				ok++
			case 401:
			default:
				t.Errorf("round %d: a racing redemption got %d", round, st)
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d of %d racing redemptions succeeded, want exactly 1 (%v)", round, ok, n, statuses)
		}
	}
}

// TestTicketExpires: a ticket is dead after its ttl, which is bounded.
func TestTicketExpires(t *testing.T) {
	up := NewUpstream(t)
	wx := NewFakeWeChat(t, func(w http.ResponseWriter, r *http.Request, code string, _ int) { OKAnswer(w, code) })
	StartCaddy(t, SessionsConfig(wx.URL, up.URL, SessionOpts{Sites: fmt.Sprintf(`
:%d {
	wechat_auth
	wechat_ticket {
		ttl 1s
	}
}`, UDExtraPort)}))
	c := NewClient()
	tok, _ := LoginAt(t, c, SessPort, "expiring", AppID)
	st, _, body := Do(t, c, "POST", At(UDExtraPort, "/"), Bearer(tok), "")
	if st != 200 || body["expires_in"] != float64(1) {
		t.Fatalf("ticket: status %d body %v", st, body)
	}
	time.Sleep(1500 * time.Millisecond)
	if st, _, body := redeem(t, c, body["ticket"].(string)); st != 401 || body["error"] != "invalid_ticket" {
		t.Errorf("expired ticket: status %d body %v, want 401 invalid_ticket", st, body)
	}

	err := LoadConfigErr(t, SessionsConfig(wx.URL, up.URL, SessionOpts{Sites: fmt.Sprintf(":%d {\n\twechat_auth\n\twechat_ticket {\n\t\tttl 6m\n\t}\n}", UDExtraPort)}))
	if err == nil || !strings.Contains(err.Error(), "ttl") {
		t.Errorf("ttl 6m: %v, want a config error about the ttl", err)
	}
}
