package integration

import (
	"bytes"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"
)

// settledGoroutines waits for the goroutine count to fall to at most
// limit, and returns the last count.
func settledGoroutines(limit int) int {
	n := runtime.NumGoroutine()
	for deadline := time.Now().Add(5 * time.Second); n > limit && time.Now().Before(deadline); n = runtime.NumGoroutine() {
		time.Sleep(50 * time.Millisecond)
	}
	return n
}

// TestWeChatFaults drives every way WeChat's side fails and checks the
// documented status, within the timeout, and that no goroutine is left
// behind.
func TestWeChatFaults(t *testing.T) {
	up := NewUpstream(t)
	wx := NewFakeWeChat(t, func(w http.ResponseWriter, r *http.Request, code string, _ int) {
		switch {
		case strings.HasPrefix(code, "hang"):
			<-r.Context().Done()
		case strings.HasPrefix(code, "reset"):
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
		case strings.HasPrefix(code, "fivexx"):
			http.Error(w, "internal error", http.StatusInternalServerError)
		case strings.HasPrefix(code, "html"):
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<!DOCTYPE html><html><body>502 Bad Gateway</body></html>"))
		case strings.HasPrefix(code, "truncated"):
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte(`{"openid":"o-x","session_k`))
		case strings.HasPrefix(code, "huge"):
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte(`{"openid":"o-x","session_key":"` + strings.Repeat("A", 10<<20) + `"}`))
		case strings.HasPrefix(code, "busy"):
			WeChatJSON(w, map[string]any{"errcode": -1, "errmsg": "system error"})
		default:
			OKAnswer(w, code)
		}
	})
	wx.Config.SetKeepAlivesEnabled(false) // no idle connections to blur the goroutine count
	StartCaddy(t, StdConfig(wx.URL, up.URL))
	c := NewClient()
	Login(t, c, "warmup")
	c.CloseIdleConnections()
	baseline := settledGoroutines(0)

	cases := []struct {
		prefix string
		status int
		err    string
	}{
		{"hang", 504, "wechat_timeout"},
		{"reset", 502, "wechat_error"},
		{"fivexx", 502, "wechat_error"},
		{"html", 502, "wechat_error"},
		{"truncated", 502, "wechat_error"},
		{"huge", 502, "wechat_error"},
		{"busy", 503, "wechat_busy"},
	}
	for _, tc := range cases {
		var wg sync.WaitGroup
		for i := 0; i < 5; i++ { // a burst of each
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				start := time.Now()
				code := fmt.Sprintf("%s-%d", tc.prefix, i)
				st, _, body := Do(t, c, "POST", At(MainPort, "/login"), nil, fmt.Sprintf(`{"code":%q,"appid":%q}`, code, AppID))
				if st != tc.status || body["error"] != tc.err {
					t.Errorf("%s: %d %v, want %d %s", code, st, body, tc.status, tc.err)
				}
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("%s: answered after %v; the timeout is 1s", code, d)
				}
			}(i)
		}
		wg.Wait()
	}
	c.CloseIdleConnections()
	if n := settledGoroutines(baseline + 3); n > baseline+3 {
		var buf bytes.Buffer
		p := make([]byte, 1<<20)
		buf.Write(p[:runtime.Stack(p, true)])
		t.Fatalf("goroutines %d after the faults, baseline %d\n%s", n, baseline, buf.String())
	}
}

// TestInflightBound fills the per-app slots with slow calls: the rest get
// 503 at once instead of queueing.
func TestInflightBound(t *testing.T) {
	up := NewUpstream(t)
	wx := NewFakeWeChat(t, func(w http.ResponseWriter, r *http.Request, code string, _ int) {
		time.Sleep(600 * time.Millisecond)
		OKAnswer(w, code)
	})
	cfg := strings.Replace(StdConfig(wx.URL, up.URL), "timeout 1s", "timeout 1s\n\t\tmax_inflight 2", 1)
	StartCaddy(t, cfg)
	c := NewClient()

	type result struct {
		status int
		after  string
		took   time.Duration
	}
	results := make([]result, 6)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			start := time.Now()
			st, h, _ := Do(t, c, "POST", At(MainPort, "/login"), nil, fmt.Sprintf(`{"code":"slow%d","appid":%q}`, i, AppID))
			results[i] = result{st, h.Get("Retry-After"), time.Since(start)}
		}(i)
		time.Sleep(20 * time.Millisecond) // the first two take the slots
	}
	wg.Wait()
	ok, busy := 0, 0
	for _, r := range results {
		switch r.status {
		case 200:
			ok++
		case 503:
			busy++
			if r.after == "" || r.took > 300*time.Millisecond {
				t.Errorf("saturated answer: Retry-After %q after %v", r.after, r.took)
			}
		default:
			t.Errorf("unexpected status %d", r.status)
		}
	}
	if ok != 2 || busy != 4 {
		t.Fatalf("%d ok and %d busy, want 2 and 4", ok, busy)
	}
}
