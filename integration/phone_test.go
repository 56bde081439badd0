package integration

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"
)

func TestPhoneHappyPath(t *testing.T) {
	wx := NewFakeAPI(t)
	StartCaddy(t, UDConfig(wx.URL, NewBodyUpstream(t).URL, "", ""))
	c := NewClient()
	tok, _ := UDLogin(t, c, "gina.1", AppID)

	st, hdr, got := Do(t, c, "POST", At(UDPort, "/phone"), Bearer(tok), `{"code":"phone-ok-1"}`)
	if st != 200 || got["phoneNumber"] != "13800138000" || got["purePhoneNumber"] != "13800138000" || got["countryCode"] != "86" {
		t.Fatalf("phone: %d %v", st, got)
	}
	if len(got) != 3 || hdr.Get("Cache-Control") != "no-store" {
		t.Fatalf("phone answer has more than the three fields, or is cacheable: %v %v", got, hdr)
	}
	// WeChat got the code, the user's openid and the app's token; the
	// token came from stable_token in normal mode.
	wx.Mu.Lock()
	q, b, sb := wx.Phone[0], wx.PhoneB[0], wx.Stable[0]
	wx.Mu.Unlock()
	if b["code"] != "phone-ok-1" || b["openid"] != "o-gina" || q.Get("access_token") != wx.IssuedTokens()[0] {
		t.Fatalf("getuserphonenumber got %v %v", q, b)
	}
	if sb["grant_type"] != "client_credential" || sb["appid"] != AppID || sb["secret"] != Secret || sb["force_refresh"] != false {
		t.Fatalf("stable_token body: %v", sb)
	}
	for _, tk := range wx.IssuedTokens() {
		if strings.Contains(fmt.Sprint(got, hdr), tk) {
			t.Fatal("the access_token reached the client")
		}
	}

	// A second app's user gets that app's token.
	tok2, _ := UDLogin(t, c, "gina.1", AppID2)
	if st, _, got := Do(t, c, "POST", At(UDPort, "/phone"), Bearer(tok2), `{"code":"phone-ok-2"}`); st != 200 {
		t.Fatalf("second app: %d %v", st, got)
	}
	if n := wx.Count("/cgi-bin/stable_token"); n != 2 {
		t.Fatalf("stable_token called %d times for two apps", n)
	}
}

func TestPhoneErrors(t *testing.T) {
	wx := NewFakeAPI(t)
	StartCaddy(t, UDConfig(wx.URL, NewBodyUpstream(t).URL, "", ""))
	c := NewClient()
	tok, _ := UDLogin(t, c, "hank.1", AppID)

	cases := []struct {
		body       string
		status     int
		code       string
		retryAfter bool
	}{
		{`{"code":"err40029"}`, 400, "invalid_code", false},
		{`{"code":"err40163"}`, 400, "invalid_code", false},
		{`{"code":"otherapp-1"}`, 502, "wechat_error", false},
		{`{"code":"err45011"}`, 429, "rate_limited", true},
		{`{"code":"err-1"}`, 503, "wechat_busy", true},
		{`{"code":"err99999"}`, 502, "wechat_error", false},
		{`{"code":""}`, 400, "invalid_request", false},
		{`{"code":12}`, 400, "invalid_request", false},
		{`{}`, 400, "invalid_request", false},
		{`code=x`, 400, "invalid_request", false},
		{`{"code":"` + strings.Repeat("x", 5000) + `"}`, 413, "request_too_large", false},
	}
	for _, tc := range cases {
		st, hdr, got := Do(t, c, "POST", At(UDPort, "/phone"), Bearer(tok), tc.body)
		if st != tc.status || got["error"] != tc.code || got["message"] == "" {
			t.Errorf("%.40s: got %d %v, want %d %s", tc.body, st, got, tc.status, tc.code)
		}
		if tc.retryAfter && hdr.Get("Retry-After") == "" {
			t.Errorf("%.40s: no Retry-After", tc.body)
		}
		if got["phoneNumber"] != nil {
			t.Errorf("%.40s: a phone number in an error", tc.body)
		}
	}
	st, _, got := Do(t, c, "POST", At(UDPort, "/phone"), Bearer(tok), `{"code":"err40029"}`)
	if msg, _ := got["message"].(string); st != 400 || !strings.Contains(msg, "getPhoneNumber") {
		t.Errorf("invalid code message should point at the button: %v", got)
	}
	if st, hdr, got := Do(t, c, "GET", At(UDPort, "/phone"), Bearer(tok), ""); st != 405 || hdr.Get("Allow") != "POST" {
		t.Errorf("GET: %d %v", st, got)
	}
	// Busy is not retried: WeChat may have spent the code.
	if n := wx.Count("/wxa/business/getuserphonenumber"); n != 7 {
		t.Errorf("getuserphonenumber called %d times, want 7 (one per call that reaches WeChat, no retries)", n)
	}
	// All of it on one token.
	if n := wx.Count("/cgi-bin/stable_token"); n != 1 {
		t.Errorf("stable_token called %d times, want 1", n)
	}
}

func TestPhoneBadCredentials(t *testing.T) {
	wx := NewFakeAPI(t)
	wx.Set(func(f *FakeAPI) { f.StableErr = 40125 })
	StartCaddy(t, UDConfig(wx.URL, NewBodyUpstream(t).URL, "", ""))
	c := NewClient()
	tok, _ := UDLogin(t, c, "ivy.1", AppID)
	st, _, got := Do(t, c, "POST", At(UDPort, "/phone"), Bearer(tok), `{"code":"p"}`)
	if st != 502 || got["error"] != "wechat_error" {
		t.Fatalf("stable_token refused: %d %v", st, got)
	}
	if n := wx.Count("/wxa/business/getuserphonenumber"); n != 0 {
		t.Fatalf("called getuserphonenumber without a token %d times", n)
	}
}

func TestPhoneForward(t *testing.T) {
	wx := NewFakeAPI(t)
	up := NewBodyUpstream(t)
	StartCaddy(t, UDConfig(wx.URL, up.URL, "", ""))
	c := NewClient()
	tok, _ := UDLogin(t, c, "jill.1", AppID)
	st, _, got := Do(t, c, "POST", At(UDPort, "/phone/forward"), Bearer(tok), `{"code":"p1"}`)
	if st != 200 || got["upstream"] != "ok" {
		t.Fatalf("forward: %d %v", st, got)
	}
	method, hdr, body, hits := up.Last()
	if method != "POST" || hdr.Get("Content-Type") != "application/json" || hdr.Get("X-Openid") != "o-jill" ||
		string(body) != `{"phoneNumber":"13800138000","purePhoneNumber":"13800138000","countryCode":"86"}` {
		t.Fatalf("upstream got %s %v %s", method, hdr, body)
	}
	// Failures stay at the edge.
	if st, _, _ := Do(t, c, "POST", At(UDPort, "/phone/forward"), Bearer(tok), `{"code":"otherapp"}`); st != 502 {
		t.Fatalf("other app forward: %d", st)
	}
	if _, _, _, after := up.Last(); after != hits {
		t.Fatal("a failed lookup reached the upstream")
	}
}

func TestAccessTokenFetchedOnceConcurrent(t *testing.T) {
	wx := NewFakeAPI(t)
	// A slow stable_token makes every request arrive while the fetch is
	// under way.
	wx.Set(func(f *FakeAPI) { f.TokenDelay = 300 * time.Millisecond })
	StartCaddy(t, UDConfig(wx.URL, NewBodyUpstream(t).URL, "", ""))
	c := NewClient()
	tok, _ := UDLogin(t, c, "kim.1", AppID)

	const n = 50
	var wg sync.WaitGroup
	statuses := make([]int, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			statuses[i], _, _ = Do(t, c, "POST", At(UDPort, "/phone"), Bearer(tok), fmt.Sprintf(`{"code":"concurrent-%d"}`, i))
		}(i)
	}
	close(start)
	wg.Wait()
	for i, st := range statuses {
		if st != 200 {
			t.Errorf("request %d: %d", i, st)
		}
	}
	if got := wx.Count("/cgi-bin/stable_token"); got != 1 {
		t.Fatalf("stable_token called %d times for %d concurrent calls, want 1", got, n)
	}
	if got := wx.Count("/wxa/business/getuserphonenumber"); got != n {
		t.Fatalf("getuserphonenumber called %d times, want %d", got, n)
	}
	// And later calls keep using the cached token.
	for i := range 5 {
		if st, _, _ := Do(t, c, "POST", At(UDPort, "/phone"), Bearer(tok), fmt.Sprintf(`{"code":"later-%d"}`, i)); st != 200 {
			t.Fatalf("later call: %d", st)
		}
	}
	if got := wx.Count("/cgi-bin/stable_token"); got != 1 {
		t.Fatalf("stable_token called %d times after later calls", got)
	}
}

func TestAccessTokenRetryOnStale(t *testing.T) {
	for _, code := range []int{40001, 40014, 42001} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			wx := NewFakeAPI(t)
			wx.Set(func(f *FakeAPI) { f.RejectFirst = code })
			StartCaddy(t, UDConfig(wx.URL, NewBodyUpstream(t).URL, "", ""))
			c := NewClient()
			tok, _ := UDLogin(t, c, "leo.1", AppID)
			st, _, got := Do(t, c, "POST", At(UDPort, "/phone"), Bearer(tok), `{"code":"retry-1"}`)
			if st != 200 || got["phoneNumber"] == nil {
				t.Fatalf("after a stale token: %d %v", st, got)
			}
			if s, p := wx.Count("/cgi-bin/stable_token"), wx.Count("/wxa/business/getuserphonenumber"); s != 2 || p != 2 {
				t.Fatalf("stable_token %d, getuserphonenumber %d; want 2 and 2", s, p)
			}
			// The new token is cached: no more fetches.
			if st, _, _ := Do(t, c, "POST", At(UDPort, "/phone"), Bearer(tok), `{"code":"retry-2"}`); st != 200 || wx.Count("/cgi-bin/stable_token") != 2 {
				t.Fatalf("after retry: %d, %d fetches", st, wx.Count("/cgi-bin/stable_token"))
			}
			// normal mode every time, never force_refresh
			wx.Mu.Lock()
			for _, b := range wx.Stable {
				if b["force_refresh"] != false {
					t.Errorf("stable_token with force_refresh: %v", b)
				}
			}
			wx.Mu.Unlock()
		})
	}

	t.Run("not looped", func(t *testing.T) {
		wx := NewFakeAPI(t)
		wx.Set(func(f *FakeAPI) { f.RejectAll = 40001 })
		StartCaddy(t, UDConfig(wx.URL, NewBodyUpstream(t).URL, "", ""))
		c := NewClient()
		tok, _ := UDLogin(t, c, "max.1", AppID)
		st, _, got := Do(t, c, "POST", At(UDPort, "/phone"), Bearer(tok), `{"code":"loop-1"}`)
		if st != 502 || got["error"] != "wechat_error" {
			t.Fatalf("second 40001: %d %v", st, got)
		}
		if s, p := wx.Count("/cgi-bin/stable_token"), wx.Count("/wxa/business/getuserphonenumber"); s != 2 || p != 2 {
			t.Fatalf("stable_token %d, getuserphonenumber %d; want one retry, 2 and 2", s, p)
		}
	})
}

func TestAccessTokenSurvivesReload(t *testing.T) {
	wx := NewFakeAPI(t)
	up := NewBodyUpstream(t)
	StartCaddy(t, UDConfig(wx.URL, up.URL, "", ""))
	c := NewClient()
	tok, _ := UDLogin(t, c, "nina.1", AppID)
	if st, _, got := Do(t, c, "POST", At(UDPort, "/phone"), Bearer(tok), `{"code":"before"}`); st != 200 {
		t.Fatalf("before reload: %d %v", st, got)
	}

	// The same wechat app, another site added: a reload.
	extra := fmt.Sprintf(":%d {\n\trespond \"extra\"\n}\n", UDExtraPort)
	StartCaddy(t, UDConfig(wx.URL, up.URL, "", extra))
	if st, _, got := Do(t, c, "GET", At(UDExtraPort, "/"), nil, ""); st != 200 || got["_raw"] != "extra" {
		t.Fatalf("the reloaded config is not serving: %d %v", st, got)
	}
	if st, _, got := Do(t, c, "POST", At(UDPort, "/phone"), Bearer(tok), `{"code":"after"}`); st != 200 {
		t.Fatalf("after reload: %d %v", st, got)
	}
	if n := wx.Count("/cgi-bin/stable_token"); n != 1 {
		t.Fatalf("stable_token called %d times across a reload, want 1", n)
	}

	// Back to the first config: still the same token.
	StartCaddy(t, UDConfig(wx.URL, up.URL, "", ""))
	if st, _, _ := Do(t, c, "POST", At(UDPort, "/phone"), Bearer(tok), `{"code":"again"}`); st != 200 || wx.Count("/cgi-bin/stable_token") != 1 {
		t.Fatalf("after a second reload: %d, %d fetches", st, wx.Count("/cgi-bin/stable_token"))
	}

	// Another api_base does not reuse a token fetched from this one.
	wx2 := NewFakeAPI(t)
	StartCaddy(t, UDConfig(wx2.URL, up.URL, "", ""))
	tok, _ = UDLogin(t, c, "nina.2", AppID)
	if st, _, _ := Do(t, c, "POST", At(UDPort, "/phone"), Bearer(tok), `{"code":"new-base"}`); st != 200 {
		t.Fatalf("new api_base: %d", st)
	}
	if s, p := wx2.Count("/cgi-bin/stable_token"), wx2.Count("/wxa/business/getuserphonenumber"); s != 1 || p != 1 {
		t.Fatalf("new api_base: stable_token %d, phone %d; want a fresh token fetched once", s, p)
	}
}

// TestPhoneDoubleTap sends one phone code several times at once: it is
// single use, so WeChat must see it once and every request get the number.
func TestPhoneDoubleTap(t *testing.T) {
	wx := NewFakeAPI(t)
	wx.Set(func(f *FakeAPI) { f.PhoneDelay = 200 * time.Millisecond })
	StartCaddy(t, UDConfig(wx.URL, NewBodyUpstream(t).URL, "", ""))
	c := NewClient()
	tok, _ := UDLogin(t, c, "olga.1", AppID)
	var wg sync.WaitGroup
	statuses := make([]int, 5)
	for i := range statuses {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			statuses[i], _, _ = Do(t, c, "POST", At(UDPort, "/phone"), http.Header{"Authorization": {"Bearer " + tok}}, `{"code":"tap"}`)
		}(i)
	}
	wg.Wait()
	for i, st := range statuses {
		if st != 200 {
			t.Errorf("request %d: %d", i, st)
		}
	}
	if n := wx.Count("/wxa/business/getuserphonenumber"); n != 1 {
		t.Fatalf("WeChat saw the phone code %d times, want 1", n)
	}
}
