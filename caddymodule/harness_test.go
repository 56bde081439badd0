package caddymodule

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-wechat/caddy-wechat/wechat"
	"github.com/caddyserver/caddy/v2/caddytest"
)

// Test fixtures. The secret and key are long enough to be recognisable
// in a log search.
const (
	testAppID   = "wx0123456789abcdef"
	testAppID2  = "wx1111111111111111"
	testSecret  = "s3cr3t-app-secret-0123456789abcdef"
	testSecret2 = "s3cr3t-app-secret-second-app-9876"
	testKey     = "test-signing-key-0123456789-abcdefghijklmnop"
	mainPort    = 9180
	optPort     = 9181
	styledPort  = 9182
	mockPort    = 9183
	underPort   = 9184
)

// ranIntegration counts integration tests that really ran; the guard test
// fails the suite if caddytest skipped them all.
var ranIntegration atomic.Int32

// upstream is a real HTTP backend that records what reached it: the
// headers, and the trailers once it has read the body to its end.
type upstream struct {
	*httptest.Server
	mu      sync.Mutex
	last    http.Header
	trailer http.Header
	hits    int
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		u.mu.Lock()
		u.last = r.Header.Clone()
		u.trailer = r.Trailer.Clone()
		u.hits++
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"path": r.URL.Path, "headers": r.Header})
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) received() (http.Header, int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last, u.hits
}

func (u *upstream) trailers() http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.trailer
}

// rawRequest writes req as it is to port and returns the status and the
// whole response: for requests that net/http's client would not send
// (forged trailers, odd Connection headers).
func rawRequest(t *testing.T, port int, req string) (int, string) {
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

// fakeWeChat answers jscode2session by calling answer with the code; it
// counts calls per code.
type fakeWeChat struct {
	*httptest.Server
	mu    sync.Mutex
	calls map[string]int
	last  string // raw query of the last call
}

func newFakeWeChat(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, code string, call int)) *fakeWeChat {
	f := &fakeWeChat{calls: map[string]int{}}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := r.URL.Query().Get("js_code")
		f.mu.Lock()
		f.calls[code]++
		n := f.calls[code]
		f.last = r.URL.RawQuery
		f.mu.Unlock()
		answer(w, r, code, n)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeWeChat) count(code string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[code]
}

// wechatJSON writes WeChat-style JSON, labelled text/plain.
func wechatJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "text/plain")
	_ = json.NewEncoder(w).Encode(v)
}

// okAnswer is a success for code, with a unionid for codes starting "u".
func okAnswer(w http.ResponseWriter, code string) {
	ans := map[string]any{"openid": fakeOpenID(code), "session_key": "tiihtNczf5v6AKRyjwEUhQ=="}
	if strings.HasPrefix(code, "u") {
		ans["unionid"] = "u-" + code
	}
	wechatJSON(w, ans)
}

// fakeOpenID is the fake's openid for code: "o-" and the code, or, for a
// code with characters an openid cannot have, a hash of it.
func fakeOpenID(code string) string {
	if wechat.ValidID("o-" + code) {
		return "o-" + code
	}
	sum := sha256.Sum256([]byte(code))
	return "o-" + hex.EncodeToString(sum[:12])
}

// stdConfig is a Caddyfile with the sites every integration test uses:
// the gate on mainPort, optional on optPort, handle_errors on styledPort,
// the simulator on mockPort and underscore/dot names allowed on underPort.
func stdConfig(apiBase, up string) string {
	return fmt.Sprintf(`{
	admin localhost:2999
	http_port %[3]d
	https_port 9543
	auto_https off
	skip_install_trust
	# Caddy refuses headers over 16 KiB with 431 itself; a larger limit
	# lets the 20 KB forged token reach the gate's own 4 KiB check.
	servers {
		max_header_size 64KiB
	}
	servers :%[7]d {
		max_header_size 64KiB
		expected_underscore_headers X_Openid X_Unionid X_Wechat_Appid
		expected_dot_headers X.Openid X.Unionid X.Wechat.Appid
	}
	wechat {
		api_base %[1]s
		timeout 1s
		app %[8]s {
			secret %[9]s
		}
		app %[10]s {
			secret %[11]s
		}
		token {
			signing_key %[12]s
			ttl 1h
		}
	}
}
:%[3]d {
	wechat_login /login {
		rate_limit client 100000 1m
	}
	wechat_auth
	reverse_proxy %[2]s {
		transport http {
			keepalive 2s
		}
	}
}
:%[4]d {
	wechat_auth {
		optional
	}
	reverse_proxy %[2]s
}
:%[5]d {
	wechat_auth
	reverse_proxy %[2]s
	handle_errors {
		respond "styled {err.status_code}" {err.status_code}
	}
}
:%[6]d {
	wechat_mock
}
:%[7]d {
	wechat_auth
	reverse_proxy %[2]s
}
`, apiBase, up, mainPort, optPort, styledPort, mockPort, underPort, testAppID, testSecret, testAppID2, testSecret2, testKey)
}

// startCaddy loads cfg into the in-process Caddy.
func startCaddy(t *testing.T, cfg string) *caddytest.Tester {
	t.Helper()
	tester := caddytest.NewTester(t)
	tester.InitServer(cfg, "caddyfile")
	if t.Failed() {
		t.FailNow()
	}
	ranIntegration.Add(1)
	return tester
}

func at(port int, path string) string {
	return fmt.Sprintf("http://localhost:%d%s", port, path)
}

// do sends a request and returns status, headers and decoded JSON body.
func do(t *testing.T, c *http.Client, method, u string, hdr http.Header, body string) (int, http.Header, map[string]any) {
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

// login posts code for the first app on mainPort and returns the token.
func login(t *testing.T, c *http.Client, code string) (string, map[string]any) {
	t.Helper()
	return loginAt(t, c, mainPort, code, testAppID)
}

// loginAt posts code for appID to the wechat_login on port.
func loginAt(t *testing.T, c *http.Client, port int, code, appID string) (string, map[string]any) {
	t.Helper()
	st, _, body := do(t, c, "POST", at(port, "/login"), http.Header{"Content-Type": {"application/json"}},
		fmt.Sprintf(`{"code": %q, "appid": %q}`, code, appID))
	if st != 200 {
		t.Fatalf("login %q: status %d body %v", code, st, body)
	}
	return body["token"].(string), body
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

func newClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: false}}
}

// forgetRepeats drops every remembered answer, as the end of the repeat
// window would, so that a test sees the answer a late repeat gets.
func forgetRepeats(t *testing.T) {
	t.Helper()
	found := false
	tokenPool.Range(func(_, v any) bool {
		if st, ok := v.(pooledState); ok {
			st.values.mu.Lock()
			clear(st.values.m)
			st.values.mu.Unlock()
			found = true
		}
		return true
	})
	if !found {
		t.Fatal("no shared state to clear: is Caddy running?")
	}
}

// freePort asks the kernel for a port that is free now, for a site of a
// test's own.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// sitesConfig is a Caddyfile with stdConfig's wechat app and global
// options, extra global options, and the given sites only.
func sitesConfig(apiBase, global, sites string) string {
	return fmt.Sprintf(`{
	admin localhost:2999
	auto_https off
	skip_install_trust
	%[5]s
	wechat {
		api_base %[1]s
		timeout 1s
		app %[2]s {
			secret %[3]s
		}
		app %[6]s {
			secret %[7]s
		}
		token {
			signing_key %[4]s
			ttl 1h
		}
	}
}
%[8]s
`, apiBase, testAppID, testSecret, testKey, global, testAppID2, testSecret2, sites)
}

// loadConfigErr asks the running Caddy to load cfg, which must fail, and
// returns the error it gave; the config that was running stays.
func loadConfigErr(t *testing.T, cfg string) error {
	t.Helper()
	resp, err := http.Post("http://localhost:2999/load", "text/caddyfile", strings.NewReader(cfg))
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

// tokenKID returns the kid in a token's header.
func tokenKID(t *testing.T, tok string) string {
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
