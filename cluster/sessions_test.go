package cluster

import (
	"fmt"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/caddy-wechat/caddy-wechat/internal/testenv"
	"github.com/caddy-wechat/caddy-wechat/internal/testenv/redisserver"
)

// refusedWithin polls tok on inst until it is refused, and returns how
// long that took after since, failing after limit.
func refusedWithin(t *testing.T, c *http.Client, inst *instance, tok string, since time.Time, limit time.Duration) time.Duration {
	t.Helper()
	for {
		st, _, _ := testenv.Do(t, c, "GET", inst.url("/api/me"), testenv.Bearer(tok), "")
		if st == 401 {
			return time.Since(since)
		}
		if st != 200 {
			t.Fatalf("%s: status %d while waiting for the revocation", inst.name, st)
		}
		if time.Since(since) > limit {
			t.Fatalf("%s still accepts the token %v after it was ended on the other instance", inst.name, limit)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestLogoutPropagates: a logout on A is refused on B within 1 s, p99
// over 100 trials; the token is in B's cache of verified tokens when it
// happens, so the refusal is the revocation's, not a signature's.
func TestLogoutPropagates(t *testing.T) {
	p := newPair(t, options{}, redisserver.Options{})
	c := testenv.NewClient()
	var took []time.Duration
	for i := range 100 {
		tok, _ := testenv.LoginAt(t, c, p.a.site, fmt.Sprintf("logout%d.1", i), testenv.AppID)
		if st, _, _ := testenv.Do(t, c, "GET", p.b.url("/api/me"), testenv.Bearer(tok), ""); st != 200 {
			t.Fatalf("B refuses A's token: %d", st)
		}
		start := time.Now()
		if st, _, body := testenv.Do(t, c, "POST", p.a.url("/logout"), testenv.Bearer(tok), ""); st != 204 {
			t.Fatalf("logout on A: %d %v", st, body)
		}
		took = append(took, refusedWithin(t, c, p.b, tok, start, 5*time.Second))
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	p50, p99 := took[len(took)/2], took[len(took)*99/100]
	t.Logf("logout on A refused on B: p50 %v, p99 %v, max %v (100 trials)", p50, p99, took[len(took)-1])
	if p99 > time.Second {
		t.Errorf("p99 %v, want within 1s", p99)
	}
}

// TestAdminRevokePropagates: a user revoked through A's admin API is
// refused on B within 1 s.
func TestAdminRevokePropagates(t *testing.T) {
	p := newPair(t, options{}, redisserver.Options{})
	c := testenv.NewClient()
	tok, _ := testenv.LoginAt(t, c, p.b.site, "banned.1", testenv.AppID)
	testenv.Do(t, c, "GET", p.b.url("/api/me"), testenv.Bearer(tok), "")
	start := time.Now()
	st, _, body := testenv.Do(t, c, "POST", p.a.adminURL("/wechat/revoke"), http.Header{"Content-Type": {"application/json"}}, fmt.Sprintf(`{"appid":%q,"openid":"o-banned"}`, testenv.AppID))
	if st != 200 {
		t.Fatalf("revoke on A: %d %v", st, body)
	}
	t.Logf("a revoke on A refused on B after %v", refusedWithin(t, c, p.b, tok, start, time.Second))
}

// TestTicketAcrossInstances: a ticket minted on A redeems on B, exactly
// once when redemptions on both race.
func TestTicketAcrossInstances(t *testing.T) {
	p := newPair(t, options{}, redisserver.Options{})
	c := testenv.NewClient()
	tok, _ := testenv.LoginAt(t, c, p.a.site, "ticket.1", testenv.AppID)
	mint := func() string {
		st, _, body := testenv.Do(t, c, "POST", p.a.url("/session/ticket"), testenv.Bearer(tok), "")
		if st != 200 {
			t.Fatalf("ticket on A: %d %v", st, body)
		}
		return body["ticket"].(string)
	}
	redeem := func(inst *instance, tk string) int {
		st, _, _ := testenv.Do(t, testenv.NewClient(), "POST", inst.url("/login"), http.Header{"Content-Type": {"application/json"}}, fmt.Sprintf(`{"ticket":%q}`, tk))
		return st
	}
	if st := redeem(p.b, mint()); st != 200 {
		t.Fatalf("a ticket of A redeemed on B: %d", st)
	}
	for round := range 5 {
		tk := mint()
		var mu sync.Mutex
		counts := map[int]int{}
		var wg sync.WaitGroup
		gate := make(chan struct{})
		for i := range 16 {
			inst := p.a
			if i%2 == 1 {
				inst = p.b
			}
			wg.Go(func() {
				<-gate
				st := redeem(inst, tk)
				mu.Lock()
				counts[st]++
				mu.Unlock()
			})
		}
		close(gate)
		wg.Wait()
		if counts[200] != 1 || counts[401] != 15 {
			t.Fatalf("round %d: racing redemptions on A and B: %v, want one 200 and fifteen 401", round, counts)
		}
	}
}
