package cluster

import (
	"testing"

	"github.com/caddy-wechat/caddy-wechat/internal/testenv"
	"github.com/caddy-wechat/caddy-wechat/internal/testenv/redisserver"
)

// TestReloads: 50 reloads of both instances leave the connections to
// Redis and the goroutines where they were, and sessions keep working.
func TestReloads(t *testing.T) {
	p := newPair(t, options{}, redisserver.Options{})
	c := testenv.NewClient()
	tok, _ := testenv.LoginAt(t, c, p.a.site, "reload.1", testenv.AppID)
	for _, inst := range []*instance{p.a, p.b} {
		inst.reload(t)
	}
	conns := p.redisClients(t)
	base := map[*instance]int{p.a: p.a.settled(t, 0), p.b: p.b.settled(t, 0)}
	for range 50 {
		p.a.reload(t)
		p.b.reload(t)
	}
	for _, inst := range []*instance{p.a, p.b} {
		if st, _, _ := testenv.Do(t, c, "GET", inst.url("/api/me"), testenv.Bearer(tok), ""); st != 200 {
			t.Errorf("%s after 50 reloads: %d", inst.name, st)
		}
		if got := inst.settled(t, base[inst]+5); got > base[inst]+5 {
			t.Errorf("%s: %d goroutines after 50 reloads, %d before", inst.name, got, base[inst])
		}
	}
	if got := p.redisClients(t); got > conns+2 {
		t.Errorf("%d connections to Redis after 50 reloads of both, %d before", got, conns)
	}
	t.Logf("Redis connections: %d before, %d after 50 reloads of both", conns, p.redisClients(t))
}
