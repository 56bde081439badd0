package caddymodule

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// apiAt is the internal wechat_api listener, reached on the loopback
// address it binds.
func apiAt(port int, path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", port, path)
}

func TestAPIProxyAddsToken(t *testing.T) {
	wx := newFakeAPI(t)
	startCaddy(t, udConfig(wx.URL, newBodyUpstream(t).URL, "", ""))
	c := newClient()

	h := http.Header{
		"Content-Type":   {"application/json; charset=utf-8"},
		"Authorization":  {"Bearer backend-credential"},
		"Cookie":         {"session=backend-cookie"},
		"X-Wechat-Appid": {testAppID},
		"X-Custom":       {"stays-here"},
	}
	body := `{"scene":"a=1","page":"pages/index/index"}`
	st, hdr, got := do(t, c, "POST", apiAt(udAPIPort, "/wxa/echo?x=1&y=two+words&access_token=client-sent"), h, body)
	if st != 200 || got["errcode"] != float64(0) || got["got"] != body {
		t.Fatalf("echo: %d %v", st, got)
	}
	if hdr.Get("Content-Type") != "text/plain" {
		t.Fatalf("WeChat's Content-Type not relayed: %v", hdr)
	}
	e := wx.lastEcho()
	toks := wx.issuedTokens()
	if e.Method != "POST" || e.Path != "/wxa/echo" || e.Query.Get("x") != "1" || e.Query.Get("y") != "two words" {
		t.Fatalf("WeChat got %s %s %v", e.Method, e.Path, e.Query)
	}
	if at := e.Query["access_token"]; len(at) != 1 || at[0] != toks[0] {
		t.Fatalf("access_token sent to WeChat: %v, want only the app's token", at)
	}
	if e.Header.Get("Content-Type") != "application/json; charset=utf-8" || e.Body != body {
		t.Fatalf("body or Content-Type not passed on: %v %q", e.Header, e.Body)
	}
	for _, k := range []string{"Authorization", "Cookie", "X-Custom", "X-Wechat-Appid"} {
		if e.Header.Get(k) != "" {
			t.Errorf("%s reached WeChat", k)
		}
	}
	// The token was fetched for the app the header chose.
	wx.mu.Lock()
	appID := wx.stable[0]["appid"]
	wx.mu.Unlock()
	if appID != testAppID {
		t.Fatalf("token fetched for %v", appID)
	}

	// GET, on a /cgi-bin path, with the same (cached) token.
	st, _, got = do(t, c, "GET", apiAt(udAPIPort, "/cgi-bin/echo?openid=o1"), http.Header{"X-Wechat-Appid": {testAppID}}, "")
	if e := wx.lastEcho(); st != 200 || e.Method != "GET" || e.Query.Get("openid") != "o1" || e.Body != "" {
		t.Fatalf("GET: %d %v %+v", st, got, e)
	}
	if n := wx.count("/cgi-bin/stable_token"); n != 1 {
		t.Fatalf("stable_token called %d times", n)
	}

	// WeChat's status and headers for non-JSON answers are relayed, and
	// answers larger than the inspection window are streamed whole.
	st, hdr, got = do(t, c, "GET", apiAt(udAPIPort, "/wxa/teapot"), http.Header{"X-Wechat-Appid": {testAppID}}, "")
	if st != http.StatusTeapot || got["_raw"] != "short and stout" || hdr.Get("Content-Type") != "application/x-teapot" {
		t.Fatalf("teapot: %d %v %v", st, hdr, got)
	}
	req, _ := http.NewRequest("GET", apiAt(udAPIPort, "/wxa/big"), nil)
	req.Header.Set("X-Wechat-Appid", testAppID)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(raw, bigBody()) || resp.Header.Get("Content-Type") != "image/png" || !strings.Contains(resp.Header.Get("Content-Disposition"), "qr.png") {
		t.Fatalf("big answer: %d, %d bytes, %v", resp.StatusCode, len(raw), resp.Header)
	}
}

func TestAPIProxyRetriesStaleToken(t *testing.T) {
	wx := newFakeAPI(t)
	wx.set(func(f *fakeAPI) { f.rejectFirst = 40001 })
	startCaddy(t, udConfig(wx.URL, newBodyUpstream(t).URL, "", ""))
	c := newClient()
	h := http.Header{"X-Wechat-Appid": {testAppID}}

	st, _, got := do(t, c, "POST", apiAt(udAPIPort, "/wxa/echo"), h, `{"retry":true}`)
	if st != 200 || got["errcode"] != float64(0) || got["got"] != `{"retry":true}` {
		t.Fatalf("after a stale token: %d %v", st, got)
	}
	if s, e := wx.count("/cgi-bin/stable_token"), wx.count("/wxa/echo"); s != 2 || e != 2 {
		t.Fatalf("stable_token %d, echo %d; want 2 and 2", s, e)
	}
	// The retry resent the body.
	if e := wx.lastEcho(); e.Body != `{"retry":true}` {
		t.Fatalf("retried body: %q", e.Body)
	}

	// A token rejected again is not looped: WeChat's answer is relayed.
	wx.set(func(f *fakeAPI) { f.rejectAll = 42001 })
	st, _, got = do(t, c, "GET", apiAt(udAPIPort, "/wxa/echo"), h, "")
	if st != 200 || got["errcode"] != float64(42001) {
		t.Fatalf("second stale token: %d %v", st, got)
	}
	if s, e := wx.count("/cgi-bin/stable_token"), wx.count("/wxa/echo"); s != 3 || e != 4 {
		t.Fatalf("stable_token %d, echo %d; want 3 and 4", s, e)
	}
	for _, tok := range wx.issuedTokens() {
		if strings.Contains(fmt.Sprint(got), tok) {
			t.Fatal("a token in the answer")
		}
	}
}

func TestAPIProxyChoosesApp(t *testing.T) {
	wx := newFakeAPI(t)
	startCaddy(t, udConfig(wx.URL, newBodyUpstream(t).URL, "", ""))
	c := newClient()

	for name, tc := range map[string]struct {
		port   int
		hdr    http.Header
		status int
		app    string
	}{
		"header picks app 1":     {udAPIPort, http.Header{"X-Wechat-Appid": {testAppID}}, 200, testAppID},
		"header picks app 2":     {udAPIPort, http.Header{"X-Wechat-Appid": {testAppID2}}, 200, testAppID2},
		"no header, three apps":  {udAPIPort, nil, 400, ""},
		"unknown app":            {udAPIPort, http.Header{"X-Wechat-Appid": {"wxffffffffffffffff"}}, 400, ""},
		"two headers":            {udAPIPort, http.Header{"X-Wechat-Appid": {testAppID, testAppID2}}, 400, ""},
		"bound, no header":       {udBoundPort, nil, 200, testAppID2},
		"bound, same header":     {udBoundPort, http.Header{"X-Wechat-Appid": {testAppID2}}, 200, testAppID2},
		"bound, other app asked": {udBoundPort, http.Header{"X-Wechat-Appid": {testAppID}}, 400, ""},
	} {
		before := wx.count("/wxa/echo")
		st, _, got := do(t, c, "GET", apiAt(tc.port, "/wxa/echo"), tc.hdr, "")
		if st != tc.status {
			t.Errorf("%s: %d %v, want %d", name, st, got, tc.status)
			continue
		}
		if tc.status != 200 {
			if got["error"] != "invalid_request" || wx.count("/wxa/echo") != before {
				t.Errorf("%s: %v, or it reached WeChat", name, got)
			}
			continue
		}
		// The token used was fetched for the expected app.
		tok := wx.lastEcho().Query.Get("access_token")
		wx.mu.Lock()
		app := wx.tokens[tok]
		wx.mu.Unlock()
		if app != tc.app {
			t.Errorf("%s: token of %s used, want %s", name, app, tc.app)
		}
	}
}

func TestAPIProxyFailures(t *testing.T) {
	wx := newFakeAPI(t)
	startCaddy(t, udConfig(wx.URL, newBodyUpstream(t).URL, "", ""))
	c := newClient()
	h := http.Header{"X-Wechat-Appid": {testAppID}}

	st, _, got := do(t, c, "POST", apiAt(udAPIPort, "/wxa/echo"), h, strings.Repeat("x", 1<<20+1))
	if st != 413 || got["error"] != "request_too_large" {
		t.Fatalf("too large: %d %v", st, got)
	}
	// WeChat hangs up: a 502, and the error names neither URL nor token.
	st, _, got = do(t, c, "GET", apiAt(udAPIPort, "/wxa/drop"), h, "")
	if st != 502 || got["error"] != "wechat_error" {
		t.Fatalf("dropped connection: %d %v", st, got)
	}
	for _, tok := range wx.issuedTokens() {
		if strings.Contains(fmt.Sprint(got), tok) {
			t.Fatal("the access_token in an error answer")
		}
	}

	// stable_token refused (bad secret): 502, WeChat's API never called.
	wx2 := newFakeAPI(t)
	wx2.set(func(f *fakeAPI) { f.stableErr = 40125 })
	startCaddy(t, udConfig(wx2.URL, newBodyUpstream(t).URL, "", ""))
	st, _, got = do(t, c, "GET", apiAt(udAPIPort, "/wxa/echo"), h, "")
	if st != 502 || got["error"] != "wechat_error" || wx2.count("/wxa/echo") != 0 {
		t.Fatalf("no token: %d %v", st, got)
	}
}
