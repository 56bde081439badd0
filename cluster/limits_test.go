package cluster

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/caddy-wechat/caddy-wechat/internal/testenv"
	"github.com/caddy-wechat/caddy-wechat/internal/testenv/redisserver"
)

// TestClientLimitAcrossInstances: a per-client limit of N lets N logins
// through across both instances together, not 2N.
func TestClientLimitAcrossInstances(t *testing.T) {
	const n = 10
	p := newPair(t, options{clientLimit: n}, redisserver.Options{})
	c := testenv.NewClient()
	ok, limited := 0, 0
	for i := range 3 * n {
		inst := p.a
		if i%2 == 1 {
			inst = p.b
		}
		st, h, body := testenv.Do(t, c, "POST", inst.url("/login"), http.Header{"Content-Type": {"application/json"}}, fmt.Sprintf(`{"code":"limit%d.1"}`, i))
		switch st {
		case 200:
			ok++
		case 429:
			limited++
			if h.Get("Retry-After") == "" || body["error"] != "rate_limited" {
				t.Errorf("429 without Retry-After or rate_limited: %v %v", h, body)
			}
		default:
			t.Fatalf("login %d on %s: %d %v", i, inst.name, st, body)
		}
	}
	if ok != n || limited != 2*n {
		t.Fatalf("%d logins allowed and %d limited across A and B, want %d and %d", ok, limited, n, 2*n)
	}
}

// TestOneStableTokenFetch: 20 concurrent calls that need the
// access_token, on both instances, make one stable_token fetch.
func TestOneStableTokenFetch(t *testing.T) {
	p := newPair(t, options{}, redisserver.Options{})
	p.wx.Set(func(f *testenv.FakeAPI) { f.TokenDelay = 300 * time.Millisecond })
	c := testenv.NewClient()
	tok, _ := testenv.LoginAt(t, c, p.a.site, "phone.1", testenv.AppID)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	errs := make(chan string, 20)
	for i := range 20 {
		inst := p.a
		if i%2 == 1 {
			inst = p.b
		}
		wg.Go(func() {
			<-gate
			var st int
			var body map[string]any
			if i%4 < 2 {
				st, _, body = testenv.Do(t, testenv.NewClient(), "POST", inst.url("/phone"), testenv.Bearer(tok), fmt.Sprintf(`{"code":"phonecode%d"}`, i))
			} else {
				st, _, body = testenv.Do(t, testenv.NewClient(), "POST", fmt.Sprintf("http://127.0.0.1:%d/wxa/echo", inst.api), http.Header{"X-Wechat-Appid": {testenv.AppID}}, `{"a":1}`)
			}
			if st != 200 {
				errs <- fmt.Sprintf("%s call %d: %d %v", inst.name, i, st, body)
			}
		})
	}
	close(gate)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n := p.wx.Count("/cgi-bin/stable_token"); n != 1 {
		t.Fatalf("stable_token fetched %d times by the two instances, want 1", n)
	}
}

// TestSameCodeOnBothInstances: one code sent to A and B at once makes
// one jscode2session, and both answer the same openid and token.
func TestSameCodeOnBothInstances(t *testing.T) {
	p := newPair(t, options{}, redisserver.Options{})
	p.wx.Set(func(f *testenv.FakeAPI) { f.LoginDelay = 300 * time.Millisecond })
	for round := range 5 {
		code := fmt.Sprintf("twice%d.1", round)
		var wg sync.WaitGroup
		gate := make(chan struct{})
		answers := make([]map[string]any, 2)
		for k, inst := range []*instance{p.a, p.b} {
			wg.Go(func() {
				<-gate
				st, _, body := testenv.Do(t, testenv.NewClient(), "POST", inst.url("/login"), http.Header{"Content-Type": {"application/json"}}, fmt.Sprintf(`{"code":%q}`, code))
				if st != 200 {
					t.Errorf("%s: %d %v", inst.name, st, body)
				}
				answers[k] = body
			})
		}
		close(gate)
		wg.Wait()
		if t.Failed() {
			return
		}
		if n := p.wx.Count("/sns/jscode2session"); n != round+1 {
			t.Fatalf("round %d: %d jscode2session calls in all, want %d: one per code", round, n, round+1)
		}
		if answers[0]["openid"] != answers[1]["openid"] || answers[0]["token"] != answers[1]["token"] {
			t.Fatalf("round %d: A and B answered differently: %v / %v", round, answers[0]["openid"], answers[1]["openid"])
		}
	}
}
