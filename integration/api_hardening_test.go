package integration

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"
)

// TestAPIScrubsTheAccessToken: a WeChat that echoes the access_token, in
// a malformed header line (net/http's client quotes it in its error), in
// a streamed answer or in the relayed headers, never hands it to the
// backend or to a log line (hardening round 2, defect 5).
func TestAPIScrubsTheAccessToken(t *testing.T) {
	wx := NewFakeAPI(t)
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	global := fmt.Sprintf("log {\n\t\toutput file %s\n\t\tlevel DEBUG\n\t}", logFile)
	StartCaddy(t, UDConfig(wx.URL, NewBodyUpstream(t).URL, global, ""))
	c := NewClient()
	h := http.Header{"X-Wechat-Appid": {AppID}}

	st, _, body := Do(t, c, "GET", apiAt(UDAPIPort, "/wxa/echo-malformed"), h, "")
	if st != 502 || body["error"] != "wechat_error" {
		t.Fatalf("malformed answer: %d %v", st, body)
	}
	st, hdr, body := Do(t, c, "GET", apiAt(UDAPIPort, "/wxa/echo-headers"), h, "")
	if st != 200 || body["_raw"] != "small" {
		t.Fatalf("headers echo: %d %v", st, body)
	}
	req, _ := http.NewRequest("GET", apiAt(UDAPIPort, "/wxa/echo-big"), nil)
	req.Header = h
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	big, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("big echo: %d %v", resp.StatusCode, err)
	}

	toks := wx.IssuedTokens()
	if len(toks) != 1 {
		t.Fatalf("issued tokens: %v", toks)
	}
	tok := toks[0]
	if n := strings.Count(string(big), "[redacted]"); n != 7 || strings.Contains(string(big), tok) || strings.Contains(string(big), tok[3:]) {
		t.Errorf("streamed answer: %d redactions (want 7), token present %v", n, strings.Contains(string(big), tok))
	}
	if want := len(BigEcho(tok)) - 7*len(tok) + 7*len("[redacted]"); len(big) != want {
		t.Errorf("streamed answer is %d bytes, want %d: bytes around the token were lost or added", len(big), want)
	}
	for _, k := range []string{"Content-Type", "Content-Disposition"} {
		if v := hdr.Get(k); strings.Contains(v, tok) || !strings.Contains(v, "[redacted]") {
			t.Errorf("%s relayed as %q", k, v)
		}
	}

	time.Sleep(100 * time.Millisecond) // let the log entries land
	logs, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(logs), "wechat_api call failed") {
		t.Fatalf("the failure was not logged; the test proves nothing:\n%.2000s", logs)
	}
	if strings.Contains(string(logs), tok) || strings.Contains(string(logs), tok[3:]) {
		i := strings.Index(string(logs), tok[3:])
		t.Errorf("the access_token is in the logs: ...%s...", logs[max(0, i-200):min(len(logs), i+100)])
	}
}

// TestAPIRefusesPublicClientsAndUsers: wechat_api answers 403 to a client
// outside loopback and the private ranges unless allow_from lists it, and
// to a request that carries a user's login (hardening round 2, defect 6).
func TestAPIRefusesPublicClientsAndUsers(t *testing.T) {
	wx := NewFakeAPI(t)
	def, allow, gated := FreePort(t), FreePort(t), FreePort(t)
	// X-Forwarded-For from loopback sets {client_ip}, as a proxy in front
	// of Caddy would.
	global := "servers {\n\t\ttrusted_proxies static 127.0.0.1/32 ::1/128\n\t\tclient_ip_headers X-Forwarded-For\n\t}"
	StartCaddy(t, SitesConfig(wx.URL, global, fmt.Sprintf(`
:%[1]d {
	wechat_login /login
	wechat_api
}
:%[2]d {
	wechat_api {
		allow_from 203.0.113.0/24 2001:db8::7
	}
}
:%[3]d {
	wechat_login /login
	route {
		wechat_auth
		wechat_api
	}
}
`, def, allow, gated)))
	c := NewClient()
	call := func(port int, xff string, auth string) (int, map[string]any) {
		t.Helper()
		h := http.Header{"X-Wechat-Appid": {AppID}}
		if xff != "" {
			h.Set("X-Forwarded-For", xff)
		}
		if auth != "" {
			h.Set("Authorization", auth)
		}
		st, _, body := Do(t, c, "GET", At(port, "/wxa/echo?x=1"), h, "")
		return st, body
	}

	for _, tc := range []struct {
		port int
		xff  string
		want int
	}{
		{def, "", 200},
		{def, "10.1.2.3", 200},
		{def, "172.16.9.9", 200},
		{def, "192.168.0.10", 200},
		{def, "fd00::1", 200},
		{def, "203.0.113.7", 403},
		{def, "8.8.8.8", 403},
		{def, "2001:db8::7", 403},
		{def, "::ffff:8.8.8.8", 403},
		{def, "not-an-ip", 200}, // an invalid header leaves {client_ip} the peer's
		{allow, "203.0.113.7", 200},
		{allow, "2001:db8::7", 200},
		{allow, "10.0.0.1", 200},
		{allow, "198.51.100.1", 403},
	} {
		st, body := call(tc.port, tc.xff, "")
		if st != tc.want || (st == 403 && body["error"] != "forbidden") {
			t.Errorf("port %d from %q: %d %v, want %d", tc.port, tc.xff, st, body, tc.want)
		}
	}
	echoes := wx.Count("/wxa/echo")

	// A user's login never opens the app's powers.
	tok, _ := LoginAt(t, c, gated, "apiuser", AppID)
	if st, body := call(gated, "", "Bearer "+tok); st != 403 || body["error"] != "forbidden" {
		t.Errorf("logged-in user: %d %v", st, body)
	}
	if st, _ := call(gated, "", ""); st != 401 {
		t.Errorf("no token through the gate: %d", st)
	}
	if got := wx.Count("/wxa/echo"); got != echoes {
		t.Errorf("refused calls reached WeChat: %d -> %d", echoes, got)
	}
}
