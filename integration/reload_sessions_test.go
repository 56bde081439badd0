package integration

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"
)

// TestEndedSessionsSurviveReload: a logout and an admin revoke made
// before a caddy reload still hold after it, and other sessions go on, as
// docs/troubleshooting.md says (the memory store and the signing key
// outlive the config; a restart would not keep the memory store's record).
func TestEndedSessionsSurviveReload(t *testing.T) {
	up := NewUpstream(t)
	wx := NewFakeWeChat(t, func(w http.ResponseWriter, r *http.Request, code string, _ int) {
		user, _, _ := strings.Cut(code, ".")
		WeChatJSON(w, map[string]any{"openid": "o-" + user, "session_key": "tiihtNczf5v6AKRyjwEUhQ=="})
	})
	StartCaddy(t, SessionsConfig(wx.URL, up.URL, SessionOpts{}))
	c := NewClient()
	out, in, banned := Unique("loggedout"), Unique("stays"), Unique("revoked")
	tOut, _ := LoginAt(t, c, SessPort, out+".1", AppID)
	tIn, _ := LoginAt(t, c, SessPort, in+".1", AppID)
	tBanned, _ := LoginAt(t, c, SessPort, banned+".1", AppID)
	if st, _, body := Do(t, c, "POST", At(SessPort, "/logout"), Bearer(tOut), ""); st != 204 {
		t.Fatalf("logout: %d %v", st, body)
	}
	if st, body := adminRevoke(t, fmt.Sprintf(`{"appid": %q, "openid": %q}`, AppID, "o-"+banned)); st != 200 {
		t.Fatalf("revoke: %d %v", st, body)
	}

	// A real reload: the config differs.
	StartCaddy(t, SessionsConfig(wx.URL, up.URL, SessionOpts{Token: "renew_within 10m"}))
	for name, c0 := range map[string]struct {
		tok  string
		want int
	}{"the logged-out session": {tOut, 401}, "the revoked user": {tBanned, 401}, "another session": {tIn, 200}} {
		st, _, body := Do(t, c, "GET", At(SessPort, "/api/me"), Bearer(c0.tok), "")
		if st != c0.want || (c0.want == 401 && body["error"] != "invalid_token") {
			t.Errorf("%s after the reload: status %d body %v, want %d", name, st, body, c0.want)
		}
	}
}
