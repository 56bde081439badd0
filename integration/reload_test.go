package integration

import (
	"fmt"
	"net/http"
	"runtime"
	"testing"
	"time"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"
)

// reloadConfig gives every reverse_proxy an explicit transport: the
// implicit one leaks an idle connection per reload inside Caddy itself,
// which would hide ours.
func reloadConfig(apiBase, up string, ttl int) string {
	return fmt.Sprintf(`{
	admin localhost:2999
	http_port %[3]d
	auto_https off
	skip_install_trust
	wechat {
		api_base %[1]s
		timeout 1s
		app %[4]s {
			secret %[5]s
		}
		token {
			signing_key %[6]s
			ttl %[7]dm
		}
	}
}
:%[3]d {
	# The test logs in 110 times from one address; rate-limit counters
	# are in the store and survive reloads, as they must.
	wechat_login /login {
		rate_limit client off
	}
	wechat_auth
	reverse_proxy %[2]s {
		transport http {
			keepalive 1s
		}
	}
}
:%[8]d {
	wechat_mock
}
`, apiBase, up, MainPort, AppID, Secret, SigningKey, ttl, MockPort)
}

// awaitServing waits until the new config answers: for a moment after a
// reload, a connection can still land on the old server as it shuts down
// (Caddy's own reload behaviour, not this plugin's) and end with EOF.
func awaitServing(c *http.Client, u string) {
	for i := 0; i < 50; i++ {
		resp, err := c.Get(u)
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestReloadHundredTimes reloads a changed config 100 times, with traffic
// in between: goroutines and heap must not grow, and a token issued before
// the first reload stays valid after the last.
func TestReloadHundredTimes(t *testing.T) {
	up := NewUpstream(t)
	up.Config.SetKeepAlivesEnabled(false)
	mock := At(MockPort, "")
	StartCaddy(t, reloadConfig(mock, up.URL, 60))
	c := NewClient()
	c.Transport.(*http.Transport).DisableKeepAlives = true
	tok, _ := Login(t, c, "reload.0")

	cycle := func(i int) {
		StartCaddy(t, reloadConfig(mock, up.URL, 60+i%2))
		awaitServing(c, At(MainPort, "/"))
		Login(t, c, fmt.Sprintf("reload.%d", i+1))
		if st, _, _ := Do(t, c, "GET", At(MainPort, "/x"), Bearer(tok), ""); st != 200 {
			t.Fatalf("reload %d: token issued before the reloads refused: %d", i, st)
		}
	}
	for i := 0; i < 10; i++ { // warm up pools and caches
		cycle(i)
	}
	g0, h0 := settledGoroutines(0), heapAfterGC()
	for i := 10; i < 110; i++ {
		cycle(i)
	}
	g1 := settledGoroutines(g0 + g0/10)
	h1 := heapAfterGC()
	t.Logf("after 100 reloads: goroutines %d -> %d, heap %d KiB -> %d KiB", g0, g1, h0>>10, h1>>10)
	if g1 > g0+g0/10 {
		t.Errorf("goroutines grew from %d to %d over 100 reloads", g0, g1)
	}
	if h1 > h0+h0/10+(2<<20) {
		t.Errorf("heap grew from %d KiB to %d KiB over 100 reloads", h0>>10, h1>>10)
	}
	if h, _ := up.Received(); h.Get("X-Openid") == "" {
		t.Fatal("no identity reached the upstream")
	}
}
