package integration

import (
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"
)

const day = 24 * time.Hour

// renewed reads a renewal off an answer: the new token and its lifetime
// in seconds, or "" when there is none.
func renewed(t *testing.T, h http.Header) (string, int) {
	t.Helper()
	tok := h.Get("X-Wechat-Token")
	if tok == "" {
		if h.Get("X-Wechat-Token-Expires-In") != "" {
			t.Errorf("X-Wechat-Token-Expires-In without X-Wechat-Token: %v", h)
		}
		return "", 0
	}
	secs, err := strconv.Atoi(h.Get("X-Wechat-Token-Expires-In"))
	if err != nil {
		t.Fatalf("X-Wechat-Token-Expires-In %q: %v", h.Get("X-Wechat-Token-Expires-In"), err)
	}
	return tok, secs
}

// TestRenewalAtTheBoundary: a token with less than renew_within (the
// default 30m) left is renewed, one with more is not; the renewal is the
// same session with a new jti and the full ttl, and the old token stays
// valid.
func TestRenewalAtTheBoundary(t *testing.T) {
	up, c := sessionsEnv(t, "", "", "")
	now := time.Now()
	login := now.Add(-2 * time.Hour)

	fresh := SessionToken(t, "o-boundary", "sid-early", login, now.Add(-29*time.Minute), time.Hour) // 31m left
	st, h, _ := Do(t, c, "GET", At(SessPort, "/api/me"), Bearer(fresh), "")
	if tok, _ := renewed(t, h); st != 200 || tok != "" {
		t.Fatalf("31 minutes left: status %d, renewed %v", st, tok != "")
	}

	due := SessionToken(t, "o-boundary", "sid-due", login, now.Add(-31*time.Minute), time.Hour) // 29m left
	st, h, _ = Do(t, c, "GET", At(SessPort, "/api/me"), Bearer(due), "")
	tok, secs := renewed(t, h)
	if st != 200 || tok == "" {
		t.Fatalf("29 minutes left: status %d, no renewal (%v)", st, h)
	}
	if secs < 3590 || secs > 3600 {
		t.Errorf("X-Wechat-Token-Expires-In = %d, want the full ttl of 3600", secs)
	}
	if got, _ := up.Received(); got.Get("X-Wechat-Token") != "" {
		t.Error("the upstream saw the renewed token")
	}
	old, nu := Claims(t, due), Claims(t, tok)
	if nu["sid"] != "sid-due" || nu["auth_time"] != old["auth_time"] || nu["jti"] == old["jti"] || nu["sub"] != "o-boundary" {
		t.Errorf("renewal is not the same session:\n old %v\n new %v", old, nu)
	}
	for name, tk := range map[string]string{"the renewed token": tok, "the old token": due} {
		if st, _, body := Do(t, c, "GET", At(SessPort, "/api/me"), Bearer(tk), ""); st != 200 {
			t.Errorf("%s: status %d body %v", name, st, body)
		}
	}
	// The new token is far from its end: no renewal of it.
	if _, h, _ := Do(t, c, "GET", At(SessPort, "/api/me"), Bearer(tok), ""); h.Get("X-Wechat-Token") != "" {
		t.Error("a fresh renewed token was renewed again")
	}
}

// TestRenewalSettings: renew_within moves the boundary, and off turns
// renewal off.
func TestRenewalSettings(t *testing.T) {
	_, c := sessionsEnv(t, "renew_within 10m", "", "")
	now := time.Now()
	tok := SessionToken(t, "o-settings", "sid-settings", now.Add(-time.Hour), now.Add(-45*time.Minute), time.Hour) // 15m left
	if _, h, _ := Do(t, c, "GET", At(SessPort, "/api/me"), Bearer(tok), ""); h.Get("X-Wechat-Token") != "" {
		t.Error("renew_within 10m renewed a token with 15 minutes left")
	}
	tok = SessionToken(t, "o-settings", "sid-settings2", now.Add(-time.Hour), now.Add(-55*time.Minute), time.Hour) // 5m left
	if _, h, _ := Do(t, c, "GET", At(SessPort, "/api/me"), Bearer(tok), ""); h.Get("X-Wechat-Token") == "" {
		t.Error("renew_within 10m did not renew a token with 5 minutes left")
	}

	_, c = sessionsEnv(t, "renew_within off", "", "")
	tok = SessionToken(t, "o-off", "sid-off", now.Add(-time.Hour), now.Add(-59*time.Minute), time.Hour)
	if st, h, _ := Do(t, c, "GET", At(SessPort, "/api/me"), Bearer(tok), ""); st != 200 || h.Get("X-Wechat-Token") != "" {
		t.Errorf("renew_within off: status %d, renewed %v", st, h.Get("X-Wechat-Token") != "")
	}
}

// TestRenewalStopsAtTheSessionLifetime: renewal never makes a token live
// past auth_time + session_lifetime, and after it the session is over.
func TestRenewalStopsAtTheSessionLifetime(t *testing.T) {
	_, c := sessionsEnv(t, "", "", "")
	now := time.Now()

	// 20 minutes of the session left: the renewal ends with it.
	tok := SessionToken(t, "o-lifetime", "sid-lifetime", now.Add(-30*day+20*time.Minute), now.Add(-50*time.Minute), time.Hour)
	_, h, _ := Do(t, c, "GET", At(SessPort, "/api/me"), Bearer(tok), "")
	nu, secs := renewed(t, h)
	if nu == "" || secs < 1190 || secs > 1200 {
		t.Fatalf("20 minutes of session left: renewed %v for %ds, want about 1200s", nu != "", secs)
	}
	if exp, end := Claims(t, nu)["exp"].(float64), Claims(t, tok)["auth_time"].(float64)+(30*day).Seconds(); exp > end {
		t.Errorf("renewed exp %v is past the session's end %v", exp, end)
	}

	// 5 minutes of the session left and 10 of the token: nothing to renew.
	tok = SessionToken(t, "o-lifetime", "sid-end", now.Add(-30*day+5*time.Minute), now.Add(-50*time.Minute), time.Hour)
	if st, h, _ := Do(t, c, "GET", At(SessPort, "/api/me"), Bearer(tok), ""); st != 200 || h.Get("X-Wechat-Token") != "" {
		t.Errorf("session ending before the token: status %d, renewed %v", st, h.Get("X-Wechat-Token") != "")
	}

	// Past the session's end, a token still within its exp (from a
	// config with a longer session_lifetime) is refused.
	tok = SessionToken(t, "o-lifetime", "sid-over", now.Add(-30*day-time.Minute), now.Add(-50*time.Minute), time.Hour)
	if st, h, body := Do(t, c, "GET", At(SessPort, "/api/me"), Bearer(tok), ""); st != 401 || body["error"] != "invalid_token" || h.Get("X-Wechat-Token") != "" {
		t.Errorf("session past its lifetime: status %d body %v", st, body)
	}

	// session_lifetime shorter than ttl is a config error.
	wx := NewFakeWeChat(t, func(w http.ResponseWriter, r *http.Request, code string, _ int) { OKAnswer(w, code) })
	if err := LoadConfigErr(t, SessionsConfig(wx.URL, "127.0.0.1:1", SessionOpts{Token: "session_lifetime 30m"})); err == nil {
		t.Error("session_lifetime 30m with ttl 1h was accepted")
	}
}

// TestConcurrentRenewalsMintOnce: requests racing with the same old token
// all get the same new token, and later ones too.
func TestConcurrentRenewalsMintOnce(t *testing.T) {
	_, c := sessionsEnv(t, "", "", "")
	now := time.Now()
	for round := range 3 {
		tok := SessionToken(t, "o-race", "sid-race"+strconv.Itoa(round), now.Add(-time.Hour), now.Add(-50*time.Minute), time.Hour)
		const n = 24
		got := make([]string, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				_, h, _ := Do(t, NewClient(), "GET", At(SessPort, "/api/me"), Bearer(tok), "")
				got[i] = h.Get("X-Wechat-Token")
			})
		}
		close(start)
		wg.Wait()
		_, h, _ := Do(t, c, "GET", At(SessPort, "/api/me"), Bearer(tok), "")
		got = append(got, h.Get("X-Wechat-Token"))
		for i, g := range got {
			if g == "" || g != got[0] {
				t.Fatalf("round %d: request %d got renewal %.16q, request 0 got %.16q: want one mint for all", round, i, g, got[0])
			}
		}
	}
}

// TestCookieRenewal: a cookie near its end is renewed with a new
// Set-Cookie, and no X-Wechat-Token.
func TestCookieRenewal(t *testing.T) {
	up, c := sessionsEnv(t, "", "", "")
	now := time.Now()
	tok := SessionToken(t, "o-cookie-renew", "sid-cookie-renew", now.Add(-time.Hour), now.Add(-50*time.Minute), time.Hour)
	st, h, _ := Do(t, c, "GET", At(SessPort, "/api/me"), WithCookie(tok, "pref=1"), "")
	ck := SessionCookie(h, "wechat_session")
	if st != 200 || ck == nil || ck.Value == "" || ck.Value == tok || h.Get("X-Wechat-Token") != "" {
		t.Fatalf("cookie renewal: status %d Set-Cookie %q X-Wechat-Token %v", st, h["Set-Cookie"], h.Get("X-Wechat-Token") != "")
	}
	if ck.MaxAge < 3590 || !ck.HttpOnly {
		t.Errorf("renewed cookie: Max-Age %d HttpOnly %v", ck.MaxAge, ck.HttpOnly)
	}
	if got, _ := up.Received(); got.Get("Cookie") != "pref=1" {
		t.Errorf("upstream Cookie %q, want pref=1", got.Get("Cookie"))
	}
	if Claims(t, ck.Value)["sid"] != "sid-cookie-renew" {
		t.Error("the renewed cookie is of another session")
	}
}
