package integration

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"
)

// logout posts to /logout with h.
func logout(t *testing.T, c *http.Client, h http.Header) (int, http.Header, map[string]any) {
	t.Helper()
	return Do(t, c, "POST", At(SessPort, "/logout"), h, "")
}

// TestLogoutEndsRenewedTokens: a logout with any token of a session ends
// every token of it, the ones before and after renewals, cache hits
// included; other sessions of the user go on.
func TestLogoutEndsRenewedTokens(t *testing.T) {
	_, c := sessionsEnv(t, "", "", "")
	now := time.Now()
	user := Unique("logout")
	old := SessionToken(t, "o-"+user, Unique("sid-logout"), now.Add(-time.Hour), now.Add(-50*time.Minute), time.Hour)
	_, h, _ := Do(t, c, "GET", At(SessPort, "/api/me"), Bearer(old), "")
	nu, _ := renewed(t, h)
	if nu == "" {
		t.Fatal("no renewal to log out with")
	}
	other, _ := LoginAt(t, c, SessPort, user, AppID) // the same user, another session
	for _, tok := range []string{old, nu, other} {
		if st, _, _ := Do(t, c, "GET", At(SessPort, "/api/me"), Bearer(tok), ""); st != 200 {
			t.Fatalf("before logout: status %d", st)
		}
	}

	st, h, body := logout(t, c, Bearer(nu))
	if st != 204 || len(body["_raw"].(string)) != 0 {
		t.Fatalf("logout: status %d body %v", st, body)
	}
	if h.Get("Set-Cookie") != "" {
		t.Errorf("a Bearer logout sent Set-Cookie %q", h.Get("Set-Cookie"))
	}
	for name, tok := range map[string]string{"the renewed token": nu, "the token before the renewal": old} {
		st, _, body := Do(t, c, "GET", At(SessPort, "/api/me"), Bearer(tok), "")
		if st != 401 || body["error"] != "invalid_token" {
			t.Errorf("%s after logout: status %d body %v, want 401 invalid_token", name, st, body)
		}
	}
	if st, _, _ := Do(t, c, "GET", At(SessPort, "/api/me"), Bearer(other), ""); st != 200 {
		t.Errorf("the user's other session after logout: status %d", st)
	}
	if st, _, body := logout(t, c, Bearer(nu)); st != 401 || body["error"] != "invalid_token" {
		t.Errorf("second logout: status %d body %v, want 401 invalid_token", st, body)
	}
}

// TestLogoutFromTheWebViewEndsTheMiniProgram: the cookie and the bearer
// token of a ticket are one session, so a logout with either ends both.
func TestLogoutFromTheWebViewEndsTheMiniProgram(t *testing.T) {
	_, c := sessionsEnv(t, "", "", "")
	own := http.Header{"Origin": {fmt.Sprintf("http://localhost:%d", SessPort)}}

	bearer, ck := cookieSession(t, c, Unique("webview-out"))
	h := WithCookie(ck)
	h["Origin"] = own["Origin"]
	st, rh, body := logout(t, c, h)
	if st != 204 {
		t.Fatalf("cookie logout: status %d body %v", st, body)
	}
	if cleared := SessionCookie(rh, "wechat_session"); cleared == nil || cleared.Value != "" || cleared.MaxAge >= 0 {
		t.Errorf("cookie logout: Set-Cookie %q, want one that clears the cookie", rh["Set-Cookie"])
	}
	if st, _, _ := Do(t, c, "GET", At(SessPort, "/api/me"), Bearer(bearer), ""); st != 401 {
		t.Errorf("the Mini Program's token after the web-view's logout: status %d, want 401", st)
	}

	bearer, ck = cookieSession(t, c, Unique("miniprogram-out"))
	if st, _, _ := logout(t, c, Bearer(bearer)); st != 204 {
		t.Fatalf("bearer logout: status %d", st)
	}
	if st, _, body := Do(t, c, "GET", At(SessPort, "/api/me"), WithCookie(ck), ""); st != 401 || body["error"] != "invalid_token" {
		t.Errorf("the web-view's cookie after the Mini Program's logout: status %d body %v", st, body)
	}
}

// TestLogoutRefusals: what logout refuses, and how.
func TestLogoutRefusals(t *testing.T) {
	_, c := sessionsEnv(t, "", "", "")
	_, ck := cookieSession(t, c, Unique("logout-refusals"))

	if st, _, body := logout(t, c, nil); st != 401 || body["error"] != "unauthorized" {
		t.Errorf("no credential: status %d body %v, want 401 unauthorized", st, body)
	}
	if st, _, body := logout(t, c, http.Header{"Authorization": {"Bearer"}}); st != 401 || body["error"] != "invalid_token" {
		t.Errorf("malformed Bearer: status %d body %v, want 401 invalid_token", st, body)
	}
	if st, _, body := logout(t, c, Bearer("x.y.z")); st != 401 || body["error"] != "invalid_token" {
		t.Errorf("invalid token: status %d body %v, want 401 invalid_token", st, body)
	}
	st, h, body := logout(t, c, WithCookie("garbage"))
	if cleared := SessionCookie(h, "wechat_session"); st != 401 || body["error"] != "invalid_token" || cleared == nil || cleared.MaxAge >= 0 {
		t.Errorf("invalid cookie: status %d body %v Set-Cookie %q, want 401 invalid_token and the cookie cleared", st, body, h["Set-Cookie"])
	}
	if st, _, _ := Do(t, c, "GET", At(SessPort, "/logout"), WithCookie(ck), ""); st != 405 {
		t.Errorf("GET /logout: status %d, want 405", st)
	}
	// CSRF: a page of another site cannot log the user out.
	h = WithCookie(ck)
	h.Set("Origin", OtherH5Origin)
	if st, _, body := logout(t, c, h); st != 403 || body["error"] != "csrf_rejected" {
		t.Errorf("cross-site cookie logout: status %d body %v, want 403 csrf_rejected", st, body)
	}
	if st, _, _ := Do(t, c, "GET", At(SessPort, "/api/me"), WithCookie(ck), ""); st != 200 {
		t.Errorf("the session after a refused cross-site logout: status %d, want 200", st)
	}
}
