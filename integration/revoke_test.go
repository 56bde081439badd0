package integration

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"
)

// adminRevoke posts body to the admin API's /wechat/revoke.
func adminRevoke(t *testing.T, body string) (int, map[string]any) {
	t.Helper()
	st, _, out := Do(t, NewClient(), "POST", AdminURL("/wechat/revoke"), http.Header{"Content-Type": {"application/json"}}, body)
	return st, out
}

// TestAdminRevoke: POST /wechat/revoke ends every session of one user
// that began before it, renewed tokens and cookies included; other users
// go on, and the user can log in again at once.
func TestAdminRevoke(t *testing.T) {
	// Codes "user.n" are logins of one user, as real codes are.
	up := NewUpstream(t)
	wx := NewFakeWeChat(t, func(w http.ResponseWriter, r *http.Request, code string, _ int) {
		user, _, _ := strings.Cut(code, ".")
		WeChatJSON(w, map[string]any{"openid": "o-" + user, "session_key": "tiihtNczf5v6AKRyjwEUhQ=="})
	})
	StartCaddy(t, SessionsConfig(wx.URL, up.URL, SessionOpts{}))
	c := NewClient()
	now := time.Now()
	user := Unique("banned")
	a1, _ := LoginAt(t, c, SessPort, user+".1", AppID)
	_, aCookie := cookieSession(t, c, user+".2")
	old := SessionToken(t, "o-"+user, Unique("sid-banned"), now.Add(-time.Hour), now.Add(-50*time.Minute), time.Hour)
	_, h, _ := Do(t, c, "GET", At(SessPort, "/api/me"), Bearer(old), "")
	aRenewed, _ := renewed(t, h)
	if aRenewed == "" {
		t.Fatal("no renewal")
	}
	b, _ := LoginAt(t, c, SessPort, Unique("bystander"), AppID)

	st, body := adminRevoke(t, fmt.Sprintf(`{"appid": %q, "openid": %q}`, AppID, "o-"+user))
	nb, _ := body["not_before"].(float64)
	if st != 200 || body["appid"] != AppID || body["openid"] != "o-"+user || nb < float64(now.Unix()) || nb > float64(time.Now().Unix()+1) {
		t.Fatalf("revoke: status %d body %v", st, body)
	}
	for name, h := range map[string]http.Header{"a token": Bearer(a1), "a renewed token": Bearer(aRenewed), "the token before it": Bearer(old), "a cookie": WithCookie(aCookie)} {
		if st, _, body := Do(t, c, "GET", At(SessPort, "/api/me"), h, ""); st != 401 || body["error"] != "invalid_token" {
			t.Errorf("%s of the revoked user: status %d body %v, want 401 invalid_token", name, st, body)
		}
	}
	if st, _, _ := Do(t, c, "GET", At(SessPort, "/api/me"), Bearer(b), ""); st != 200 {
		t.Errorf("another user after the revoke: status %d", st)
	}
	// A new login of the user, at once, is a new session.
	relog, _ := LoginAt(t, c, SessPort, user+".3", AppID)
	if st, _, body := Do(t, c, "GET", At(SessPort, "/api/me"), Bearer(relog), ""); st != 200 {
		t.Errorf("a login right after the revoke: status %d body %v", st, body)
	}
}

// TestAdminRevokeRefusals: unknown appids and missing fields are 400 with
// the usual error body.
func TestAdminRevokeRefusals(t *testing.T) {
	sessionsEnv(t, "", "", "")
	for _, body := range []string{
		`{"appid": "wxffffffffffffffff", "openid": "o-x"}`,
		fmt.Sprintf(`{"appid": %q}`, AppID),
		`{"openid": "o-x"}`,
		`{}`,
		`not json`,
		fmt.Sprintf(`{"appid": %q, "openid": "o-x", "openid": "o-y"}`, AppID),
	} {
		st, out := adminRevoke(t, body)
		if st != 400 || out["error"] != "invalid_request" || out["message"] == "" {
			t.Errorf("revoke %s: status %d body %v, want 400 invalid_request with a message", body, st, out)
		}
	}
	st, _, _ := Do(t, NewClient(), "GET", AdminURL("/wechat/revoke"), nil, "")
	if st != 405 {
		t.Errorf("GET /wechat/revoke: status %d, want 405", st)
	}
}
