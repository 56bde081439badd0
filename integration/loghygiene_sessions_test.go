package integration

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"
)

// TestSessionLogsHoldNoSecrets runs the session flows (tickets, cookie
// logins, renewals by header and by cookie, logouts, refusals, an admin
// revoke) with Caddy logging at DEBUG to a file and the site's access log
// on, which writes response headers: no ticket, token or cookie value may
// land in it, the renewed X-Wechat-Token included.
func TestSessionLogsHoldNoSecrets(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	up := NewUpstream(t)
	wx := NewFakeWeChat(t, func(w http.ResponseWriter, r *http.Request, code string, _ int) { OKAnswer(w, code) })
	StartCaddy(t, SessionsConfig(wx.URL, up.URL, SessionOpts{
		Global: fmt.Sprintf("log {\n\t\toutput file %s\n\t\tlevel DEBUG\n\t}", logFile),
		Cookie: "allowed_origins " + H5Origin,
		InSite: "log",
	}))
	c := NewClient()
	var secrets []string

	tok, _ := LoginAt(t, c, SessPort, Unique("logsess"), AppID)
	tk := mintTicket(t, c, tok)
	st, h, _ := redeem(t, c, tk)
	ck := SessionCookie(h, "wechat_session")
	if st != 200 || ck == nil {
		t.Fatalf("redeem: %d", st)
	}
	redeem(t, c, tk) // refused: used
	secrets = append(secrets, tok, tk, ck.Value)

	now := time.Now()
	near := SessionToken(t, "o-logsess", Unique("sid-log"), now.Add(-time.Hour), now.Add(-50*time.Minute), time.Hour)
	_, h, _ = Do(t, c, "GET", At(SessPort, "/api/me"), Bearer(near), "")
	renewedTok := h.Get("X-Wechat-Token")
	if renewedTok == "" {
		t.Fatal("no renewal")
	}
	nearCookie := SessionToken(t, "o-logsess", Unique("sid-log-cookie"), now.Add(-time.Hour), now.Add(-50*time.Minute), time.Hour)
	_, h, _ = Do(t, c, "GET", At(SessPort, "/api/me"), WithCookie(nearCookie), "")
	renewedCookie := SessionCookie(h, "wechat_session")
	if renewedCookie == nil {
		t.Fatal("no cookie renewal")
	}
	secrets = append(secrets, near, renewedTok, nearCookie, renewedCookie.Value)

	preflight(t, c, SessPort, "/api/me", H5Origin)
	Do(t, c, "GET", At(SessPort, "/api/me"), WithCookie(ck.Value+"x"), "")                                                          // refused cookie
	Do(t, c, "POST", At(SessPort, "/api/me"), http.Header{"Cookie": {"wechat_session=" + ck.Value}, "Origin": {OtherH5Origin}}, "") // CSRF
	lh := WithCookie(ck.Value)
	lh.Set("Origin", fmt.Sprintf("http://localhost:%d", SessPort))
	if st, _, _ := logout(t, c, lh); st != 204 {
		t.Fatalf("cookie logout: %d", st)
	}
	if st, _, _ := logout(t, c, Bearer(renewedTok)); st != 204 {
		t.Fatalf("bearer logout: %d", st)
	}
	logout(t, c, Bearer(renewedTok)) // refused: ended
	adminRevoke(t, fmt.Sprintf(`{"appid": %q, "openid": "o-logsess"}`, AppID))

	time.Sleep(100 * time.Millisecond) // let the access log entries land
	raw, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	for _, want := range []string{`"level":"debug"`, `"logger":"http.log.access`, "wechat ticket minted", "wechat ticket redeemed", "wechat session ended", "wechat token refused", "wechat user's sessions revoked", `"resp_headers"`, `"uri":"/api/me"`} {
		if !strings.Contains(text, want) {
			t.Fatalf("log capture lacks %q; the test would prove nothing:\n%.3000s", want, text)
		}
	}
	for _, s := range secrets {
		for _, part := range []string{s, s[strings.LastIndex(s, ".")+1:]} {
			if i := strings.Index(text, part); i >= 0 {
				t.Errorf("a secret is in the logs: ...%s...", text[max(0, i-200):min(len(text), i+len(part)+20)])
			}
		}
	}
	if strings.Contains(text, `"X-Wechat-Token"`) {
		t.Errorf("the access log names X-Wechat-Token")
	}
}
