package caddymodule

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestPhoneHappyPath(t *testing.T) {
	wx := newFakeAPI(t)
	startCaddy(t, udConfig(wx.URL, newBodyUpstream(t).URL, "", ""))
	c := newClient()
	tok, _ := udLogin(t, c, "gina.1", testAppID)

	st, hdr, got := do(t, c, "POST", at(udPort, "/phone"), bearer(tok), `{"code":"phone-ok-1"}`)
	if st != 200 || got["phoneNumber"] != "13800138000" || got["purePhoneNumber"] != "13800138000" || got["countryCode"] != "86" {
		t.Fatalf("phone: %d %v", st, got)
	}
	if len(got) != 3 || hdr.Get("Cache-Control") != "no-store" {
		t.Fatalf("phone answer has more than the three fields, or is cacheable: %v %v", got, hdr)
	}
	// WeChat got the code, the user's openid and the app's token; the
	// token came from stable_token in normal mode.
	wx.mu.Lock()
	q, b, sb := wx.phone[0], wx.phoneB[0], wx.stable[0]
	wx.mu.Unlock()
	if b["code"] != "phone-ok-1" || b["openid"] != "o-gina" || q.Get("access_token") != wx.issuedTokens()[0] {
		t.Fatalf("getuserphonenumber got %v %v", q, b)
	}
	if sb["grant_type"] != "client_credential" || sb["appid"] != testAppID || sb["secret"] != testSecret || sb["force_refresh"] != false {
		t.Fatalf("stable_token body: %v", sb)
	}
	for _, tk := range wx.issuedTokens() {
		if strings.Contains(fmt.Sprint(got, hdr), tk) {
			t.Fatal("the access_token reached the client")
		}
	}

	// A second app's user gets that app's token.
	tok2, _ := udLogin(t, c, "gina.1", testAppID2)
	if st, _, got := do(t, c, "POST", at(udPort, "/phone"), bearer(tok2), `{"code":"phone-ok-2"}`); st != 200 {
		t.Fatalf("second app: %d %v", st, got)
	}
	if n := wx.count("/cgi-bin/stable_token"); n != 2 {
		t.Fatalf("stable_token called %d times for two apps", n)
	}
}

func TestPhoneErrors(t *testing.T) {
	wx := newFakeAPI(t)
	startCaddy(t, udConfig(wx.URL, newBodyUpstream(t).URL, "", ""))
	c := newClient()
	tok, _ := udLogin(t, c, "hank.1", testAppID)

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
		st, hdr, got := do(t, c, "POST", at(udPort, "/phone"), bearer(tok), tc.body)
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
	st, _, got := do(t, c, "POST", at(udPort, "/phone"), bearer(tok), `{"code":"err40029"}`)
	if msg, _ := got["message"].(string); st != 400 || !strings.Contains(msg, "getPhoneNumber") {
		t.Errorf("invalid code message should point at the button: %v", got)
	}
	if st, hdr, got := do(t, c, "GET", at(udPort, "/phone"), bearer(tok), ""); st != 405 || hdr.Get("Allow") != "POST" {
		t.Errorf("GET: %d %v", st, got)
	}
	// Busy is not retried: WeChat may have spent the code.
	if n := wx.count("/wxa/business/getuserphonenumber"); n != 7 {
		t.Errorf("getuserphonenumber called %d times, want 7 (one per call that reaches WeChat, no retries)", n)
	}
	// All of it on one token.
	if n := wx.count("/cgi-bin/stable_token"); n != 1 {
		t.Errorf("stable_token called %d times, want 1", n)
	}
}

func TestPhoneBadCredentials(t *testing.T) {
	wx := newFakeAPI(t)
	wx.set(func(f *fakeAPI) { f.stableErr = 40125 })
	startCaddy(t, udConfig(wx.URL, newBodyUpstream(t).URL, "", ""))
	c := newClient()
	tok, _ := udLogin(t, c, "ivy.1", testAppID)
	st, _, got := do(t, c, "POST", at(udPort, "/phone"), bearer(tok), `{"code":"p"}`)
	if st != 502 || got["error"] != "wechat_error" {
		t.Fatalf("stable_token refused: %d %v", st, got)
	}
	if n := wx.count("/wxa/business/getuserphonenumber"); n != 0 {
		t.Fatalf("called getuserphonenumber without a token %d times", n)
	}
}

func TestPhoneForward(t *testing.T) {
	wx := newFakeAPI(t)
	up := newBodyUpstream(t)
	startCaddy(t, udConfig(wx.URL, up.URL, "", ""))
	c := newClient()
	tok, _ := udLogin(t, c, "jill.1", testAppID)
	st, _, got := do(t, c, "POST", at(udPort, "/phone/forward"), bearer(tok), `{"code":"p1"}`)
	if st != 200 || got["upstream"] != "ok" {
		t.Fatalf("forward: %d %v", st, got)
	}
	method, hdr, body, hits := up.last()
	if method != "POST" || hdr.Get("Content-Type") != "application/json" || hdr.Get("X-Openid") != "o-jill" ||
		string(body) != `{"phoneNumber":"13800138000","purePhoneNumber":"13800138000","countryCode":"86"}` {
		t.Fatalf("upstream got %s %v %s", method, hdr, body)
	}
	// Failures stay at the edge.
	if st, _, _ := do(t, c, "POST", at(udPort, "/phone/forward"), bearer(tok), `{"code":"otherapp"}`); st != 502 {
		t.Fatalf("other app forward: %d", st)
	}
	if _, _, _, after := up.last(); after != hits {
		t.Fatal("a failed lookup reached the upstream")
	}
}

func TestAccessTokenFetchedOnceConcurrent(t *testing.T) {
	wx := newFakeAPI(t)
	// A slow stable_token makes every request arrive while the fetch is
	// under way.
	wx.set(func(f *fakeAPI) { f.tokenDelay = 300 * time.Millisecond })
	startCaddy(t, udConfig(wx.URL, newBodyUpstream(t).URL, "", ""))
	c := newClient()
	tok, _ := udLogin(t, c, "kim.1", testAppID)

	const n = 50
	var wg sync.WaitGroup
	statuses := make([]int, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			statuses[i], _, _ = do(t, c, "POST", at(udPort, "/phone"), bearer(tok), fmt.Sprintf(`{"code":"concurrent-%d"}`, i))
		}(i)
	}
	close(start)
	wg.Wait()
	for i, st := range statuses {
		if st != 200 {
			t.Errorf("request %d: %d", i, st)
		}
	}
	if got := wx.count("/cgi-bin/stable_token"); got != 1 {
		t.Fatalf("stable_token called %d times for %d concurrent calls, want 1", got, n)
	}
	if got := wx.count("/wxa/business/getuserphonenumber"); got != n {
		t.Fatalf("getuserphonenumber called %d times, want %d", got, n)
	}
	// And later calls keep using the cached token.
	for i := range 5 {
		if st, _, _ := do(t, c, "POST", at(udPort, "/phone"), bearer(tok), fmt.Sprintf(`{"code":"later-%d"}`, i)); st != 200 {
			t.Fatalf("later call: %d", st)
		}
	}
	if got := wx.count("/cgi-bin/stable_token"); got != 1 {
		t.Fatalf("stable_token called %d times after later calls", got)
	}
}

func TestAccessTokenRetryOnStale(t *testing.T) {
	for _, code := range []int{40001, 40014, 42001} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			wx := newFakeAPI(t)
			wx.set(func(f *fakeAPI) { f.rejectFirst = code })
			startCaddy(t, udConfig(wx.URL, newBodyUpstream(t).URL, "", ""))
			c := newClient()
			tok, _ := udLogin(t, c, "leo.1", testAppID)
			st, _, got := do(t, c, "POST", at(udPort, "/phone"), bearer(tok), `{"code":"retry-1"}`)
			if st != 200 || got["phoneNumber"] == nil {
				t.Fatalf("after a stale token: %d %v", st, got)
			}
			if s, p := wx.count("/cgi-bin/stable_token"), wx.count("/wxa/business/getuserphonenumber"); s != 2 || p != 2 {
				t.Fatalf("stable_token %d, getuserphonenumber %d; want 2 and 2", s, p)
			}
			// The new token is cached: no more fetches.
			if st, _, _ := do(t, c, "POST", at(udPort, "/phone"), bearer(tok), `{"code":"retry-2"}`); st != 200 || wx.count("/cgi-bin/stable_token") != 2 {
				t.Fatalf("after retry: %d, %d fetches", st, wx.count("/cgi-bin/stable_token"))
			}
			// normal mode every time, never force_refresh
			wx.mu.Lock()
			for _, b := range wx.stable {
				if b["force_refresh"] != false {
					t.Errorf("stable_token with force_refresh: %v", b)
				}
			}
			wx.mu.Unlock()
		})
	}

	t.Run("not looped", func(t *testing.T) {
		wx := newFakeAPI(t)
		wx.set(func(f *fakeAPI) { f.rejectAll = 40001 })
		startCaddy(t, udConfig(wx.URL, newBodyUpstream(t).URL, "", ""))
		c := newClient()
		tok, _ := udLogin(t, c, "max.1", testAppID)
		st, _, got := do(t, c, "POST", at(udPort, "/phone"), bearer(tok), `{"code":"loop-1"}`)
		if st != 502 || got["error"] != "wechat_error" {
			t.Fatalf("second 40001: %d %v", st, got)
		}
		if s, p := wx.count("/cgi-bin/stable_token"), wx.count("/wxa/business/getuserphonenumber"); s != 2 || p != 2 {
			t.Fatalf("stable_token %d, getuserphonenumber %d; want one retry, 2 and 2", s, p)
		}
	})
}

func TestAccessTokenSurvivesReload(t *testing.T) {
	wx := newFakeAPI(t)
	up := newBodyUpstream(t)
	startCaddy(t, udConfig(wx.URL, up.URL, "", ""))
	c := newClient()
	tok, _ := udLogin(t, c, "nina.1", testAppID)
	if st, _, got := do(t, c, "POST", at(udPort, "/phone"), bearer(tok), `{"code":"before"}`); st != 200 {
		t.Fatalf("before reload: %d %v", st, got)
	}

	// The same wechat app, another site added: a reload.
	extra := fmt.Sprintf(":%d {\n\trespond \"extra\"\n}\n", udExtraPort)
	startCaddy(t, udConfig(wx.URL, up.URL, "", extra))
	if st, _, got := do(t, c, "GET", at(udExtraPort, "/"), nil, ""); st != 200 || got["_raw"] != "extra" {
		t.Fatalf("the reloaded config is not serving: %d %v", st, got)
	}
	if st, _, got := do(t, c, "POST", at(udPort, "/phone"), bearer(tok), `{"code":"after"}`); st != 200 {
		t.Fatalf("after reload: %d %v", st, got)
	}
	if n := wx.count("/cgi-bin/stable_token"); n != 1 {
		t.Fatalf("stable_token called %d times across a reload, want 1", n)
	}

	// Back to the first config: still the same token.
	startCaddy(t, udConfig(wx.URL, up.URL, "", ""))
	if st, _, _ := do(t, c, "POST", at(udPort, "/phone"), bearer(tok), `{"code":"again"}`); st != 200 || wx.count("/cgi-bin/stable_token") != 1 {
		t.Fatalf("after a second reload: %d, %d fetches", st, wx.count("/cgi-bin/stable_token"))
	}

	// Another api_base does not reuse a token fetched from this one.
	wx2 := newFakeAPI(t)
	startCaddy(t, udConfig(wx2.URL, up.URL, "", ""))
	tok, _ = udLogin(t, c, "nina.2", testAppID)
	if st, _, _ := do(t, c, "POST", at(udPort, "/phone"), bearer(tok), `{"code":"new-base"}`); st != 200 {
		t.Fatalf("new api_base: %d", st)
	}
	if s, p := wx2.count("/cgi-bin/stable_token"), wx2.count("/wxa/business/getuserphonenumber"); s != 1 || p != 1 {
		t.Fatalf("new api_base: stable_token %d, phone %d; want a fresh token fetched once", s, p)
	}
}

// TestPhoneDoubleTap sends one phone code several times at once: it is
// single use, so WeChat must see it once and every request get the number.
func TestPhoneDoubleTap(t *testing.T) {
	wx := newFakeAPI(t)
	wx.set(func(f *fakeAPI) { f.phoneDelay = 200 * time.Millisecond })
	startCaddy(t, udConfig(wx.URL, newBodyUpstream(t).URL, "", ""))
	c := newClient()
	tok, _ := udLogin(t, c, "olga.1", testAppID)
	var wg sync.WaitGroup
	statuses := make([]int, 5)
	for i := range statuses {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			statuses[i], _, _ = do(t, c, "POST", at(udPort, "/phone"), http.Header{"Authorization": {"Bearer " + tok}}, `{"code":"tap"}`)
		}(i)
	}
	wg.Wait()
	for i, st := range statuses {
		if st != 200 {
			t.Errorf("request %d: %d", i, st)
		}
	}
	if n := wx.count("/wxa/business/getuserphonenumber"); n != 1 {
		t.Fatalf("WeChat saw the phone code %d times, want 1", n)
	}
}
