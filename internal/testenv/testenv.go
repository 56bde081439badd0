// Package testenv is the harness of the integration tests: a real Caddy
// in-process (caddytest), fake WeChat servers over real HTTP, upstreams
// that record what reached them, and the Caddyfiles that join them. It is
// for tests only.
package testenv

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/caddy-wechat/caddy-wechat/internal/repeat"
)

// Test fixtures. The secrets and the key are long enough to be
// recognisable in a log search.
const (
	AppID      = "wx0123456789abcdef"
	AppID2     = "wx1111111111111111"
	Secret     = "s3cr3t-app-secret-0123456789abcdef"
	Secret2    = "s3cr3t-app-secret-second-app-9876"
	SigningKey = "test-signing-key-0123456789-abcdefghijklmnop"
)

// The ports of StdConfig's and UDConfig's sites, chosen when the test
// binary starts, so that nothing else on the machine decides whether the
// tests run. (The admin endpoint's port is AdminPort, see admin.go.)
var (
	MainPort   = pickPort() // login and the gate
	OptPort    = pickPort() // an optional gate
	StyledPort = pickPort() // a gate with handle_errors
	MockPort   = pickPort() // the simulator
	UnderPort  = pickPort() // '_' and '.' header names allowed

	UDPort      = pickPort() // login, decrypt, phone
	UDAPIPort   = pickPort() // wechat_api choosing the app by header
	UDBoundPort = pickPort() // wechat_api bound to AppID2
	UDMockPort  = pickPort() // wechat_mock
	UDExtraPort = pickPort() // a site a reload test adds
)

// ranIntegration counts integration tests that really ran; the guard in
// TestMain fails the suite if caddytest skipped them all.
var ranIntegration atomic.Int32

// Ran is how many StartCaddy calls have succeeded.
func Ran() int { return int(ranIntegration.Load()) }

var (
	pickMu sync.Mutex
	picked = map[int]bool{}
)

// pickPort finds a port that is free now, below the kernel's ephemeral
// range, so that an httptest server started later cannot be handed it.
func pickPort() int {
	pickMu.Lock()
	defer pickMu.Unlock()
	for {
		port := 20000 + rand.IntN(12000)
		if picked[port] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
		if err != nil {
			continue
		}
		l.Close()
		picked[port] = true
		return port
	}
}

// FreePort is a free port for a site of a test's own.
func FreePort(t *testing.T) int {
	t.Helper()
	return pickPort()
}

// shortRepeatWindow is how long a repeated code's answer lasts in tests
// that wait for the end of the window.
const shortRepeatWindow = time.Second

// ShortRepeatWindow makes answers to repeated codes last a second in this
// test, so that it can wait for the window to end with WaitRepeatWindow.
func ShortRepeatWindow(t *testing.T) {
	t.Cleanup(repeat.SetWindow(shortRepeatWindow))
}

// WaitRepeatWindow waits until every answer remembered under
// ShortRepeatWindow has expired.
func WaitRepeatWindow() { time.Sleep(shortRepeatWindow + 200*time.Millisecond) }

// RawRequest writes req as it is to port and returns the status and the
// whole response: for requests that net/http's client would not send
// (forged trailers, odd Connection headers).
func RawRequest(t *testing.T, port int, req string) (int, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer to %.60q: %v", req, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// StartCaddy loads cfg into the in-process Caddy.
func StartCaddy(t *testing.T, cfg string) *caddytest.Tester {
	t.Helper()
	tester := caddytest.NewTester(t)
	tester.InitServer(withAdmin(cfg), "caddyfile")
	if t.Failed() {
		t.FailNow()
	}
	ranIntegration.Add(1)
	return tester
}

// At is the URL of path on a local port.
func At(port int, path string) string {
	return fmt.Sprintf("http://localhost:%d%s", port, path)
}

// Do sends a request and returns status, headers and decoded JSON body.
func Do(t *testing.T, c *http.Client, method, u string, hdr http.Header, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs // raw keys: keep odd spellings as sent
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(bytes.TrimSpace(raw)) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: body is not JSON: %q", method, u, raw)
		}
	} else {
		out = map[string]any{"_raw": string(raw)}
	}
	return resp.StatusCode, resp.Header, out
}

// Login posts code for the first app on MainPort and returns the token.
func Login(t *testing.T, c *http.Client, code string) (string, map[string]any) {
	t.Helper()
	return LoginAt(t, c, MainPort, code, AppID)
}

// LoginAt posts code for appID to the wechat_login on port.
func LoginAt(t *testing.T, c *http.Client, port int, code, appID string) (string, map[string]any) {
	t.Helper()
	st, _, body := Do(t, c, "POST", At(port, "/login"), http.Header{"Content-Type": {"application/json"}},
		fmt.Sprintf(`{"code": %q, "appid": %q}`, code, appID))
	if st != 200 {
		t.Fatalf("login %q: status %d body %v", code, st, body)
	}
	return body["token"].(string), body
}

// Bearer is the Authorization header of tok.
func Bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// NewClient is a client with a timeout, keeping connections alive.
func NewClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: false}}
}

// LoadConfigErr asks the running Caddy to load cfg, which must fail, and
// returns the error it gave; the config that was running stays.
func LoadConfigErr(t *testing.T, cfg string) error {
	t.Helper()
	resp, err := http.Post(AdminURL("/load"), "text/caddyfile", strings.NewReader(withAdmin(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	return fmt.Errorf("%d: %s", resp.StatusCode, body)
}

// TokenKID returns the kid in a token's header.
func TokenKID(t *testing.T, tok string) string {
	t.Helper()
	hdr, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(hdr, &h); err != nil || h.Kid == "" {
		t.Fatalf("no kid in %s", hdr)
	}
	return h.Kid
}
