package integration

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-wechat/caddy-wechat/internal/store"
	"github.com/caddy-wechat/caddy-wechat/internal/store/redisstore"
	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"
	"github.com/caddy-wechat/caddy-wechat/internal/testenv/redisserver"
)

// redisConfig is one instance with the Redis store: login, the gate and
// the simulator. The password comes through a placeholder, as the docs
// advise.
func redisConfig(apiBase, up, addr, prefix string, ttl int) string {
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
			ttl %[9]dm
		}
		store redis {
			url redis://:{env.WECHAT_TEST_REDIS_PASSWORD}@%[7]s/0
			key_prefix %[8]s
			max_staleness 30s
		}
	}
}
:%[3]d {
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
:%[10]d {
	wechat_mock
}
`, apiBase, up, MainPort, AppID, Secret, SigningKey, addr, prefix, ttl, MockPort)
}

// tokenSID reads the sid claim of a token, without checking it.
func tokenSID(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %.20q", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal(raw, &claims); err != nil || claims.SID == "" {
		t.Fatalf("no sid in %s: %v", raw, err)
	}
	return claims.SID
}

// redisClients counts the server's client connections named by the
// store, by type: normal and pubsub.
func redisClients(t *testing.T, srv *redisserver.Server, password string) (normal, pubsub int) {
	t.Helper()
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr(), Password: password})
	defer admin.Close()
	list, err := admin.ClientList(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(list, "\n") {
		if !strings.Contains(line, " name=caddy-wechat ") {
			continue
		}
		if strings.Contains(line, " flags=P ") {
			pubsub++
		} else {
			normal++
		}
	}
	return normal, pubsub
}

// TestRedisStore: the wechat.stores.redis module in a real Caddy against
// a real redis-server. Caddy starts while Redis is down; once it is up,
// logins work and a revocation made in Redis (by another instance, as it
// were) is refused by this instance's gate within a second; 20 reloads
// keep one client, one subscription, and the store's metrics.
func TestRedisStore(t *testing.T) {
	const password = "redis-pw-it-3b9d"
	t.Setenv("WECHAT_TEST_REDIS_PASSWORD", password)
	srv := redisserver.StartWith(t, redisserver.Options{Password: password})
	srv.Kill()
	up := NewUpstream(t)
	up.Config.SetKeepAlivesEnabled(false)
	mock := At(MockPort, "")
	const prefix = "it-redis:"
	StartCaddy(t, redisConfig(mock, up.URL, srv.Addr(), prefix, 60))

	srv.Restart()
	c := NewClient()
	c.Transport.(*http.Transport).DisableKeepAlives = true
	var tok string
	// The store reconnects by itself; the first login may land before it
	// has.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		st, _, body := Do(t, c, "POST", At(MainPort, "/login"), http.Header{"Content-Type": {"application/json"}},
			fmt.Sprintf(`{"code": %q}`, fmt.Sprintf("redis.%d", time.Now().UnixNano())))
		if st == 200 {
			tok = body["token"].(string)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no login within 10s of Redis coming up: %d %v", st, body)
		}
	}
	// Until its subscription has read the revocations once, the gate knows
	// none of them and refuses tokens with 503 store_unavailable; never
	// does it let one through before that.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		st, h, body := Do(t, c, "GET", At(MainPort, "/x"), Bearer(tok), "")
		if st == 200 {
			break
		}
		if st != 503 || body["error"] != "store_unavailable" || h.Get("Retry-After") == "" || time.Now().After(deadline) {
			t.Fatalf("a fresh token, before the gate has read the revocations: %d %v, want 503 store_unavailable with Retry-After, then 200 within 5s", st, body)
		}
	}
	if _, n := up.Received(); n != 1 {
		t.Fatalf("the upstream saw %d requests, want 1", n)
	}

	for i := range 20 {
		StartCaddy(t, redisConfig(mock, up.URL, srv.Addr(), prefix, 60+i%2))
		awaitServing(c, At(MainPort, "/"))
	}
	if st, _, _ := Do(t, c, "GET", At(MainPort, "/x"), Bearer(tok), ""); st != 200 {
		t.Fatalf("the token after 20 reloads: %d", st)
	}
	// The old configs' subscriptions stop with them; one remains.
	var normal, pubsub int
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if normal, pubsub = redisClients(t, srv, password); pubsub == 1 || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("after 20 reloads: %d connections and %d subscriptions to Redis", normal, pubsub)
	if pubsub != 1 || normal > 10 {
		t.Fatalf("after 20 reloads: %d connections and %d subscriptions, want at most 10 and 1", normal, pubsub)
	}

	other, err := redisstore.New(redisstore.Options{URL: "redis://:" + password + "@" + srv.Addr() + "/0", KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	revoked := time.Now()
	if err := other.Revocations().Revoke(context.Background(), store.Revocation{SID: tokenSID(t, tok), Until: time.Now().Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for {
		st, _, _ := Do(t, c, "GET", At(MainPort, "/x"), Bearer(tok), "")
		if st == 401 {
			break
		}
		if time.Since(revoked) > time.Second {
			t.Fatalf("a session revoked in Redis was still accepted after %v: %d", time.Since(revoked), st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("a revocation in Redis refused by the gate after %v", time.Since(revoked))

	resp, err := http.Get(AdminURL("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`caddy_wechat_store_operations_total{op="list",result="ok"}`,
		"caddy_wechat_revocations_age_seconds",
		"caddy_wechat_store_pubsub_reconnects_total",
	} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
	if strings.Contains(string(raw), password) {
		t.Fatal("/metrics shows the Redis password")
	}
}
