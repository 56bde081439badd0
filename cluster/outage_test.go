package cluster

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/caddy-wechat/caddy-wechat/internal/testenv"
	"github.com/caddy-wechat/caddy-wechat/internal/testenv/redisserver"
)

// TestRedisOutage: Redis killed mid-traffic and started again. During the
// outage the gate decides with its local copy until max_staleness, then
// answers 503 store_unavailable with Retry-After; logout, tickets and
// admin revoke answer 503 at once; login keeps working on per-instance
// counters, which a metric shows. Afterwards everything recovers without
// a restart, the revocations made before the outage still hold, and no
// goroutines are left behind.
func TestRedisOutage(t *testing.T) {
	const staleness = 5 * time.Second
	p := newPair(t, options{maxStaleness: "5s", clientLimit: 1000}, redisserver.Options{AppendOnly: true})
	c := testenv.NewClient()
	tok, _ := testenv.LoginAt(t, c, p.a.site, "outage.1", testenv.AppID)
	ended, _ := testenv.LoginAt(t, c, p.a.site, "ended.1", testenv.AppID)
	if st, _, _ := testenv.Do(t, c, "POST", p.a.url("/logout"), testenv.Bearer(ended), ""); st != 204 {
		t.Fatalf("logout before the outage: %d", st)
	}
	for _, inst := range []*instance{p.a, p.b} {
		refusedWithin(t, c, inst, ended, time.Now(), time.Second)
		testenv.Do(t, c, "GET", inst.url("/api/me"), testenv.Bearer(tok), "")
	}
	base := map[*instance]int{p.a: p.a.settled(t, 0), p.b: p.b.settled(t, 0)}
	fallbacks := p.a.metric(t, `caddy_wechat_store_fallbacks_total{what="login_counters"}`)

	p.redis.Kill()
	killed := time.Now()

	// Within max_staleness: the local copy decides.
	if st, _, body := testenv.Do(t, c, "GET", p.b.url("/api/me"), testenv.Bearer(tok), ""); st != 200 {
		t.Errorf("a valid token right after the kill: %d %v", st, body)
	}
	if st, _, _ := testenv.Do(t, c, "GET", p.b.url("/api/me"), testenv.Bearer(ended), ""); st != 401 {
		t.Errorf("an ended session right after the kill: %d, want 401", st)
	}
	// Actions that must be recorded: 503 at once.
	for name, do := range map[string]func() (int, http.Header, map[string]any){
		"logout": func() (int, http.Header, map[string]any) {
			return testenv.Do(t, c, "POST", p.a.url("/logout"), testenv.Bearer(tok), "")
		},
		"ticket": func() (int, http.Header, map[string]any) {
			return testenv.Do(t, c, "POST", p.a.url("/session/ticket"), testenv.Bearer(tok), "")
		},
		"ticket redemption": func() (int, http.Header, map[string]any) {
			return testenv.Do(t, c, "POST", p.a.url("/login"), http.Header{"Content-Type": {"application/json"}}, `{"ticket":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`)
		},
		"admin revoke": func() (int, http.Header, map[string]any) {
			return testenv.Do(t, c, "POST", p.a.adminURL("/wechat/revoke"), http.Header{"Content-Type": {"application/json"}}, fmt.Sprintf(`{"appid":%q,"openid":"o-outage"}`, testenv.AppID))
		},
	} {
		start := time.Now()
		st, h, body := do()
		if st != 503 || body["error"] != "store_unavailable" || h.Get("Retry-After") == "" {
			t.Errorf("%s during the outage: %d %v %v, want 503 store_unavailable with Retry-After", name, st, h.Get("Retry-After"), body)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s during the outage took %v", name, d)
		}
	}
	// Login goes on, counted by each instance alone.
	for i := range 3 {
		if st, _, body := testenv.Do(t, c, "POST", p.b.url("/login"), http.Header{"Content-Type": {"application/json"}}, fmt.Sprintf(`{"code":"during%d.1"}`, i)); st != 200 {
			t.Errorf("login during the outage: %d %v", st, body)
		}
	}
	if testenv.Do(t, c, "POST", p.a.url("/login"), http.Header{"Content-Type": {"application/json"}}, `{"code":"during-a.1"}`); p.a.metric(t, `caddy_wechat_store_fallbacks_total{what="login_counters"}`) <= fallbacks {
		t.Error("no fallback counted for logins during the outage")
	}

	// Past max_staleness: token-bearing requests get 503; anonymous ones
	// are not the gate's to refuse.
	time.Sleep(time.Until(killed.Add(staleness + 500*time.Millisecond)))
	st, h, body := testenv.Do(t, c, "GET", p.b.url("/api/me"), testenv.Bearer(tok), "")
	if st != 503 || body["error"] != "store_unavailable" || h.Get("Retry-After") == "" {
		t.Errorf("a token past max_staleness: %d %v %v, want 503 store_unavailable with Retry-After", st, h, body)
	}
	// The gauge is published every 2s: by now it shows at least 1.5s.
	if age := p.b.metric(t, "caddy_wechat_revocations_age_seconds"); age < 1.5 {
		t.Errorf("revocations_age_seconds %v during the outage", age)
	}

	p.redis.Restart()
	restarted := time.Now()
	for _, inst := range []*instance{p.a, p.b} {
		for {
			st, _, _ := testenv.Do(t, c, "GET", inst.url("/api/me"), testenv.Bearer(tok), "")
			if st == 200 {
				break
			}
			if time.Since(restarted) > 15*time.Second {
				t.Fatalf("%s has not recovered 15s after Redis came back: %d", inst.name, st)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if st, _, _ := testenv.Do(t, c, "GET", inst.url("/api/me"), testenv.Bearer(ended), ""); st != 401 {
			t.Errorf("%s: a session ended before the outage passes after it: %d", inst.name, st)
		}
	}
	t.Logf("recovered %v after Redis came back", time.Since(restarted))
	if st, _, _ := testenv.Do(t, c, "POST", p.a.url("/logout"), testenv.Bearer(tok), ""); st != 204 {
		t.Errorf("logout after the outage: %d", st)
	}
	refusedWithin(t, c, p.b, tok, time.Now(), time.Second)
	for inst, n := range base {
		if got := inst.settled(t, n+5); got > n+5 {
			t.Errorf("%s: %d goroutines after the outage, %d before", inst.name, got, n)
		}
	}
}

// TestMaxStalenessOff: with max_staleness off, the gate keeps deciding
// with its local copy however long Redis is away.
func TestMaxStalenessOff(t *testing.T) {
	p := newPair(t, options{maxStaleness: "off"}, redisserver.Options{})
	c := testenv.NewClient()
	tok, _ := testenv.LoginAt(t, c, p.a.site, "off.1", testenv.AppID)
	p.redis.Kill()
	time.Sleep(2 * time.Second)
	if st, _, body := testenv.Do(t, c, "GET", p.b.url("/api/me"), testenv.Bearer(tok), ""); st != 200 {
		t.Errorf("max_staleness off, Redis down: %d %v", st, body)
	}
}
