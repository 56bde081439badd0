package integration

import (
	"net/http"
	"strings"
	"testing"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"
)

// preflight sends a CORS preflight for a POST from origin.
func preflight(t *testing.T, c *http.Client, port int, path, origin string) (int, http.Header) {
	t.Helper()
	st, h, _ := Do(t, c, "OPTIONS", At(port, path), http.Header{
		"Origin":                         {origin},
		"Access-Control-Request-Method":  {"POST"},
		"Access-Control-Request-Headers": {"authorization, content-type"},
	}, "")
	return st, h
}

// TestCORSPreflights: login, logout, ticket and the gate answer a
// preflight from an allowed origin with 204 and the CORS headers, one
// from another origin with none, and the upstream never sees either.
func TestCORSPreflights(t *testing.T) {
	up, c := sessionsEnv(t, "", "allowed_origins "+H5Origin, "")
	for _, path := range []string{"/login", "/logout", "/session/ticket", "/api/me"} {
		_, before := up.Received()
		st, h := preflight(t, c, SessPort, path, H5Origin)
		if st != 204 {
			t.Errorf("%s preflight: status %d", path, st)
		}
		want := map[string]string{
			"Access-Control-Allow-Origin":      H5Origin,
			"Access-Control-Allow-Credentials": "true",
			"Access-Control-Allow-Headers":     "authorization, content-type",
		}
		for k, v := range want {
			if h.Get(k) != v {
				t.Errorf("%s preflight: %s = %q, want %q", path, k, h.Get(k), v)
			}
		}
		if m := h.Get("Access-Control-Allow-Methods"); !strings.Contains(m, "POST") {
			t.Errorf("%s preflight: Access-Control-Allow-Methods %q", path, m)
		}
		for _, name := range []string{"X-Wechat-Token", "X-Wechat-Token-Expires-In"} {
			if !strings.Contains(h.Get("Access-Control-Expose-Headers"), name) {
				t.Errorf("%s preflight: Access-Control-Expose-Headers %q lacks %s", path, h.Get("Access-Control-Expose-Headers"), name)
			}
		}
		if !strings.Contains(strings.Join(h["Vary"], ","), "Origin") {
			t.Errorf("%s preflight: Vary %q lacks Origin", path, h["Vary"])
		}

		st, h = preflight(t, c, SessPort, path, OtherH5Origin)
		for k := range h {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Errorf("%s preflight from an origin not allowed (status %d): %s: %s", path, st, k, h.Get(k))
			}
		}
		if _, after := up.Received(); after != before {
			t.Errorf("%s: a preflight reached the upstream", path)
		}
	}
}

// TestCORSActualResponses: the answers to an allowed origin carry the
// CORS headers, errors included, so the page can read them; other
// origins get none.
func TestCORSActualResponses(t *testing.T) {
	_, c := sessionsEnv(t, "", "allowed_origins "+H5Origin, "")
	tok, _ := LoginAt(t, c, SessPort, "cors", AppID)
	for _, tc := range []struct {
		method, path string
		hdr          http.Header
	}{
		{"POST", "/login", http.Header{"Content-Type": {"application/json"}}},
		{"POST", "/session/ticket", Bearer(tok)},
		{"GET", "/api/me", Bearer(tok)},
		{"GET", "/api/me", nil},
		{"POST", "/logout", nil},
	} {
		for origin, allowed := range map[string]bool{H5Origin: true, OtherH5Origin: false} {
			h := tc.hdr.Clone()
			if h == nil {
				h = http.Header{}
			}
			h.Set("Origin", origin)
			st, rh, _ := Do(t, c, tc.method, At(SessPort, tc.path), h, `{"code":"cors.actual"}`)
			got := rh.Get("Access-Control-Allow-Origin")
			if allowed && (got != H5Origin || rh.Get("Access-Control-Allow-Credentials") != "true" || !strings.Contains(rh.Get("Access-Control-Expose-Headers"), "X-Wechat-Token")) {
				t.Errorf("%s %s (%d) from an allowed origin: CORS headers %v", tc.method, tc.path, st, rh)
			}
			if !allowed && got != "" {
				t.Errorf("%s %s (%d) from another origin: Access-Control-Allow-Origin %q", tc.method, tc.path, st, got)
			}
		}
	}
}

// TestPreflightPass: wechat_auth { preflight pass } sends a preflight on
// to the upstream, anonymously, for a backend that answers CORS itself.
func TestPreflightPass(t *testing.T) {
	up, c := sessionsEnv(t, "", "allowed_origins "+H5Origin, "")
	_, before := up.Received()
	st, _ := preflight(t, c, SessPassPort, "/api/me", H5Origin)
	got, after := up.Received()
	if st != 200 || after != before+1 {
		t.Fatalf("preflight pass: status %d, upstream calls %d -> %d", st, before, after)
	}
	if got.Get("X-Openid") != "" {
		t.Errorf("a passed preflight carried X-Openid %q", got.Get("X-Openid"))
	}
}

// TestNoCORSWithoutCookieSessions: without a cookie block the edge does
// not speak CORS, and the gate refuses a preflight as before.
func TestNoCORSWithoutCookieSessions(t *testing.T) {
	up := NewUpstream(t)
	wx := NewFakeWeChat(t, func(w http.ResponseWriter, r *http.Request, code string, _ int) { OKAnswer(w, code) })
	StartCaddy(t, StdConfig(wx.URL, up.URL))
	st, h := preflight(t, NewClient(), MainPort, "/api/me", H5Origin)
	if st != 401 || h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight without cookie sessions: status %d, CORS %q", st, h.Get("Access-Control-Allow-Origin"))
	}
}
