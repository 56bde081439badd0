package integration

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"
)

// apiAt is the internal wechat_api listener, reached on the loopback
// address it binds.
func apiAt(port int, path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", port, path)
}

func TestAPIProxyAddsToken(t *testing.T) {
	wx := NewFakeAPI(t)
	StartCaddy(t, UDConfig(wx.URL, NewBodyUpstream(t).URL, "", ""))
	c := NewClient()

	h := http.Header{
		"Content-Type":   {"application/json; charset=utf-8"},
		"Authorization":  {"Bearer backend-credential"},
		"Cookie":         {"session=backend-cookie"},
		"X-Wechat-Appid": {AppID},
		"X-Custom":       {"stays-here"},
	}
	body := `{"scene":"a=1","page":"pages/index/index"}`
	st, hdr, got := Do(t, c, "POST", apiAt(UDAPIPort, "/wxa/echo?x=1&y=two+words&access_token=client-sent"), h, body)
	if st != 200 || got["errcode"] != float64(0) || got["got"] != body {
		t.Fatalf("echo: %d %v", st, got)
	}
	if hdr.Get("Content-Type") != "text/plain" {
		t.Fatalf("WeChat's Content-Type not relayed: %v", hdr)
	}
	e := wx.LastEcho()
	toks := wx.IssuedTokens()
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
	wx.Mu.Lock()
	appID := wx.Stable[0]["appid"]
	wx.Mu.Unlock()
	if appID != AppID {
		t.Fatalf("token fetched for %v", appID)
	}

	// GET, on a /cgi-bin path, with the same (cached) token.
	st, _, got = Do(t, c, "GET", apiAt(UDAPIPort, "/cgi-bin/echo?openid=o1"), http.Header{"X-Wechat-Appid": {AppID}}, "")
	if e := wx.LastEcho(); st != 200 || e.Method != "GET" || e.Query.Get("openid") != "o1" || e.Body != "" {
		t.Fatalf("GET: %d %v %+v", st, got, e)
	}
	if n := wx.Count("/cgi-bin/stable_token"); n != 1 {
		t.Fatalf("stable_token called %d times", n)
	}

	// WeChat's status and headers for non-JSON answers are relayed, and
	// answers larger than the inspection window are streamed whole.
	st, hdr, got = Do(t, c, "GET", apiAt(UDAPIPort, "/wxa/teapot"), http.Header{"X-Wechat-Appid": {AppID}}, "")
	if st != http.StatusTeapot || got["_raw"] != "short and stout" || hdr.Get("Content-Type") != "application/x-teapot" {
		t.Fatalf("teapot: %d %v %v", st, hdr, got)
	}
	req, _ := http.NewRequest("GET", apiAt(UDAPIPort, "/wxa/big"), nil)
	req.Header.Set("X-Wechat-Appid", AppID)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(raw, BigBody()) || resp.Header.Get("Content-Type") != "image/png" || !strings.Contains(resp.Header.Get("Content-Disposition"), "qr.png") {
		t.Fatalf("big answer: %d, %d bytes, %v", resp.StatusCode, len(raw), resp.Header)
	}
}

func TestAPIProxyRetriesStaleToken(t *testing.T) {
	wx := NewFakeAPI(t)
	wx.Set(func(f *FakeAPI) { f.RejectFirst = 40001 })
	StartCaddy(t, UDConfig(wx.URL, NewBodyUpstream(t).URL, "", ""))
	c := NewClient()
	h := http.Header{"X-Wechat-Appid": {AppID}}

	st, _, got := Do(t, c, "POST", apiAt(UDAPIPort, "/wxa/echo"), h, `{"retry":true}`)
	if st != 200 || got["errcode"] != float64(0) || got["got"] != `{"retry":true}` {
		t.Fatalf("after a stale token: %d %v", st, got)
	}
	if s, e := wx.Count("/cgi-bin/stable_token"), wx.Count("/wxa/echo"); s != 2 || e != 2 {
		t.Fatalf("stable_token %d, echo %d; want 2 and 2", s, e)
	}
	// The retry resent the body.
	if e := wx.LastEcho(); e.Body != `{"retry":true}` {
		t.Fatalf("retried body: %q", e.Body)
	}

	// A token rejected again is not looped: WeChat's answer is relayed.
	wx.Set(func(f *FakeAPI) { f.RejectAll = 42001 })
	st, _, got = Do(t, c, "GET", apiAt(UDAPIPort, "/wxa/echo"), h, "")
	if st != 200 || got["errcode"] != float64(42001) {
		t.Fatalf("second stale token: %d %v", st, got)
	}
	if s, e := wx.Count("/cgi-bin/stable_token"), wx.Count("/wxa/echo"); s != 3 || e != 4 {
		t.Fatalf("stable_token %d, echo %d; want 3 and 4", s, e)
	}
	for _, tok := range wx.IssuedTokens() {
		if strings.Contains(fmt.Sprint(got), tok) {
			t.Fatal("a token in the answer")
		}
	}
}

func TestAPIProxyChoosesApp(t *testing.T) {
	wx := NewFakeAPI(t)
	StartCaddy(t, UDConfig(wx.URL, NewBodyUpstream(t).URL, "", ""))
	c := NewClient()

	for name, tc := range map[string]struct {
		port   int
		hdr    http.Header
		status int
		app    string
	}{
		"header picks app 1":     {UDAPIPort, http.Header{"X-Wechat-Appid": {AppID}}, 200, AppID},
		"header picks app 2":     {UDAPIPort, http.Header{"X-Wechat-Appid": {AppID2}}, 200, AppID2},
		"no header, three apps":  {UDAPIPort, nil, 400, ""},
		"unknown app":            {UDAPIPort, http.Header{"X-Wechat-Appid": {"wxffffffffffffffff"}}, 400, ""},
		"two headers":            {UDAPIPort, http.Header{"X-Wechat-Appid": {AppID, AppID2}}, 400, ""},
		"bound, no header":       {UDBoundPort, nil, 200, AppID2},
		"bound, same header":     {UDBoundPort, http.Header{"X-Wechat-Appid": {AppID2}}, 200, AppID2},
		"bound, other app asked": {UDBoundPort, http.Header{"X-Wechat-Appid": {AppID}}, 400, ""},
	} {
		before := wx.Count("/wxa/echo")
		st, _, got := Do(t, c, "GET", apiAt(tc.port, "/wxa/echo"), tc.hdr, "")
		if st != tc.status {
			t.Errorf("%s: %d %v, want %d", name, st, got, tc.status)
			continue
		}
		if tc.status != 200 {
			if got["error"] != "invalid_request" || wx.Count("/wxa/echo") != before {
				t.Errorf("%s: %v, or it reached WeChat", name, got)
			}
			continue
		}
		// The token used was fetched for the expected app.
		tok := wx.LastEcho().Query.Get("access_token")
		wx.Mu.Lock()
		app := wx.Tokens[tok]
		wx.Mu.Unlock()
		if app != tc.app {
			t.Errorf("%s: token of %s used, want %s", name, app, tc.app)
		}
	}
}

func TestAPIProxyFailures(t *testing.T) {
	wx := NewFakeAPI(t)
	StartCaddy(t, UDConfig(wx.URL, NewBodyUpstream(t).URL, "", ""))
	c := NewClient()
	h := http.Header{"X-Wechat-Appid": {AppID}}

	st, _, got := Do(t, c, "POST", apiAt(UDAPIPort, "/wxa/echo"), h, strings.Repeat("x", 1<<20+1))
	if st != 413 || got["error"] != "request_too_large" {
		t.Fatalf("too large: %d %v", st, got)
	}
	// WeChat hangs up: a 502, and the error names neither URL nor token.
	st, _, got = Do(t, c, "GET", apiAt(UDAPIPort, "/wxa/drop"), h, "")
	if st != 502 || got["error"] != "wechat_error" {
		t.Fatalf("dropped connection: %d %v", st, got)
	}
	for _, tok := range wx.IssuedTokens() {
		if strings.Contains(fmt.Sprint(got), tok) {
			t.Fatal("the access_token in an error answer")
		}
	}

	// stable_token refused (bad secret): 502, WeChat's API never called.
	wx2 := NewFakeAPI(t)
	wx2.Set(func(f *FakeAPI) { f.StableErr = 40125 })
	StartCaddy(t, UDConfig(wx2.URL, NewBodyUpstream(t).URL, "", ""))
	st, _, got = Do(t, c, "GET", apiAt(UDAPIPort, "/wxa/echo"), h, "")
	if st != 502 || got["error"] != "wechat_error" || wx2.Count("/wxa/echo") != 0 {
		t.Fatalf("no token: %d %v", st, got)
	}
}
