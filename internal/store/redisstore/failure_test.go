package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-wechat/caddy-wechat/internal/store"
	"github.com/caddy-wechat/caddy-wechat/internal/store/redisstore"
	"github.com/caddy-wechat/caddy-wechat/internal/testenv/redisserver"
	"github.com/caddy-wechat/caddy-wechat/wechat"
)

// collector is a subscriber that remembers what it was given.
type collector struct {
	mu  sync.Mutex
	got []store.Revocation
}

func (c *collector) add(r store.Revocation) {
	c.mu.Lock()
	c.got = append(c.got, r)
	c.mu.Unlock()
}

func (c *collector) count(sid string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, r := range c.got {
		if r.SID == sid {
			n++
		}
	}
	return n
}

// eventually polls cond every 10ms and fails with what when it is not
// true within limit.
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMissedMessageResync: a revocation whose message never arrived (it
// is written behind the store's back, without a publish) reaches the
// subscriber by the next resync, and LastSync moves with each resync.
func TestMissedMessageResync(t *testing.T) {
	srv := redisserver.Start(t)
	prefix := freshPrefix()
	const resync = 300 * time.Millisecond
	s := open(t, redisstore.Options{URL: srv.URL(), KeyPrefix: prefix, Resync: resync})
	fresh, ok := s.Revocations().(store.Freshness)
	if !ok {
		t.Fatal("the Redis revocations do not implement store.Freshness")
	}
	if !fresh.LastSync().IsZero() {
		t.Fatalf("LastSync before any read: %v", fresh.LastSync())
	}
	c := new(collector)
	stop := s.Revocations().Subscribe(c.add)
	defer stop()
	eventually(t, 5*time.Second, "the first resync", func() bool { return !fresh.LastSync().IsZero() })

	until := time.Now().Add(time.Hour)
	key := prefix + "rev:s:sid-missed"
	r := admin(t, srv)
	if err := r.HSet(context.Background(), key, "sid", "sid-missed", "until", fmt.Sprintf("%020d", until.UnixNano())).Err(); err != nil {
		t.Fatal(err)
	}
	r.PExpireAt(context.Background(), key, until)
	written := time.Now()
	eventually(t, resync+2*time.Second, "the missed revocation delivered by a resync", func() bool { return c.count("sid-missed") > 0 })
	if took := time.Since(written); took > resync+time.Second {
		t.Fatalf("the missed revocation took %v, with a resync period of %v", took, resync)
	}
	before := fresh.LastSync()
	eventually(t, 5*resync, "LastSync moving on", func() bool { return fresh.LastSync().After(before) })
}

// TestDownAtStart: a store made while Redis is down is made at once, its
// operations fail fast with ErrUnavailable, its subscription does not
// block; when Redis comes up everything works without a new store.
func TestDownAtStart(t *testing.T) {
	srv := redisserver.Start(t)
	srv.Kill()
	start := time.Now()
	s := open(t, redisstore.Options{URL: srv.URL(), KeyPrefix: freshPrefix(), Resync: time.Hour})
	c := new(collector)
	stop := s.Revocations().Subscribe(c.add)
	defer stop()
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Fatalf("New and Subscribe took %v while Redis was down", took)
	}
	ctx := context.Background()
	for name, op := range map[string]func() error{
		"allow": func() error { _, _, err := s.Counters().Allow(ctx, "k", 1, time.Minute); return err },
		"add":   func() error { _, err := s.Values().Add(ctx, "k", []byte("v"), time.Minute); return err },
		"take":  func() error { _, _, err := s.Values().Take(ctx, "k"); return err },
		"revoke": func() error {
			return s.Revocations().Revoke(ctx, store.Revocation{SID: "x", Until: time.Now().Add(time.Hour)})
		},
		"list":  func() error { _, err := s.Revocations().List(ctx); return err },
		"token": func() error { _, _, err := s.AccessTokens().Get(ctx, "wx"); return err },
	} {
		began := time.Now()
		err := op()
		if !errors.Is(err, redisstore.ErrUnavailable) {
			t.Errorf("%s while Redis is down: %v, want ErrUnavailable", name, err)
		}
		if took := time.Since(began); took > 2500*time.Millisecond {
			t.Errorf("%s while Redis is down took %v", name, took)
		}
	}
	if !s.Revocations().(store.Freshness).LastSync().IsZero() {
		t.Fatal("LastSync set while Redis was never reached")
	}
	srv.Restart()
	eventually(t, 10*time.Second, "the subscription established after Redis came up", func() bool {
		return !s.Revocations().(store.Freshness).LastSync().IsZero()
	})
	other := open(t, redisstore.Options{URL: srv.URL(), KeyPrefix: s.Prefix()})
	if err := other.Revocations().Revoke(ctx, store.Revocation{SID: "after-start", Until: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "a revocation from another instance", func() bool { return c.count("after-start") > 0 })
	if _, err := s.Values().Add(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatalf("Add after Redis came up: %v", err)
	}
}

// TestKilledAndRestarted: Redis killed under a subscribed store and
// started again (with its data, as with persistence): operations fail
// fast during the outage, LastSync stops moving, and afterwards the
// store reconnects by itself, redelivers what was revoked before, and
// delivers what is revoked after.
func TestKilledAndRestarted(t *testing.T) {
	srv := redisserver.StartWith(t, redisserver.Options{AppendOnly: true})
	var reconnects atomic.Int32
	var resyncErrors atomic.Int32
	const resync = 500 * time.Millisecond
	s := open(t, redisstore.Options{
		URL: srv.URL(), KeyPrefix: freshPrefix(), Resync: resync,
		OnReconnect: func() { reconnects.Add(1) },
		OnResync: func(err error) {
			if err != nil {
				resyncErrors.Add(1)
			}
		},
	})
	fresh := s.Revocations().(store.Freshness)
	c := new(collector)
	stop := s.Revocations().Subscribe(c.add)
	defer stop()
	ctx := context.Background()
	if err := s.Revocations().Revoke(ctx, store.Revocation{SID: "before", Until: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "a revocation before the outage", func() bool { return c.count("before") > 0 })

	srv.Kill()
	killed := time.Now()
	for i := range 5 {
		began := time.Now()
		if _, err := s.Values().Add(ctx, fmt.Sprintf("k%d", i), []byte("v"), time.Minute); !errors.Is(err, redisstore.ErrUnavailable) {
			t.Fatalf("Add during the outage: %v", err)
		}
		if took := time.Since(began); took > 2500*time.Millisecond {
			t.Fatalf("Add during the outage took %v", took)
		}
	}
	eventually(t, 5*time.Second, "a failed resync reported", func() bool { return resyncErrors.Load() > 0 })
	time.Sleep(2 * resync)
	if last := fresh.LastSync(); last.After(killed) {
		t.Fatalf("LastSync %v moved on after Redis was killed at %v", last, killed)
	}

	before := c.count("before")
	srv.Restart()
	restarted := time.Now()
	eventually(t, 10*time.Second, "the subscription back after the restart", func() bool { return reconnects.Load() > 0 })
	eventually(t, 5*time.Second, "the earlier revocation redelivered", func() bool { return c.count("before") > before })
	eventually(t, 5*time.Second, "LastSync after the restart", func() bool { return fresh.LastSync().After(restarted) })
	if err := s.Revocations().Revoke(ctx, store.Revocation{SID: "after", Until: time.Now().Add(time.Hour)}); err != nil {
		t.Fatalf("Revoke after the restart: %v", err)
	}
	eventually(t, 5*time.Second, "a revocation after the restart", func() bool { return c.count("after") > 0 })
	list, err := s.Revocations().List(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("List after the restart: %+v %v", list, err)
	}
}

// TestNoPasswordInErrors: neither a wrong password nor a URL too broken
// to parse shows up in an error's text.
func TestNoPasswordInErrors(t *testing.T) {
	const right, wrong = "right-pw-8c1f", "wrong-pw-5e2a"
	srv := redisserver.StartWith(t, redisserver.Options{Password: right})
	for _, raw := range []string{
		"redis://:" + wrong + "@" + srv.Addr() + "/0",
		"redis://user:" + wrong + "@" + srv.Addr() + "/0",
	} {
		s := open(t, redisstore.Options{URL: raw, KeyPrefix: freshPrefix()})
		_, _, err := s.Values().Get(context.Background(), "k")
		if err == nil || strings.Contains(err.Error(), wrong) || strings.Contains(fmt.Sprintf("%+v", err), wrong) {
			t.Fatalf("Get with a wrong password: %v", err)
		}
		_, err = s.Revocations().List(context.Background())
		if err == nil || strings.Contains(err.Error(), wrong) {
			t.Fatalf("List with a wrong password: %v", err)
		}
	}
	for _, raw := range []string{
		"redis://:" + wrong + "@host:port/0",
		"redis://:" + wrong + "@" + srv.Addr() + "/notadb",
		"redis://:" + wrong + "@[::1/0",
		"redis://:" + wrong + "%zz@" + srv.Addr(),
		"http://:" + wrong + "@" + srv.Addr(),
		"redis://:" + wrong + "@" + srv.Addr() + "/0?dial_timeout=" + wrong,
	} {
		_, err := redisstore.New(redisstore.Options{URL: raw})
		if err == nil || strings.Contains(err.Error(), wrong) {
			t.Fatalf("New(%q): %v", raw, err)
		}
	}
	s := open(t, redisstore.Options{URL: srv.URL(), KeyPrefix: freshPrefix()})
	if _, _, err := s.Values().Get(context.Background(), "k"); err != nil {
		t.Fatalf("Get with the right password: %v", err)
	}
}

// TestHungServerBounded: a server that accepts connections and never
// answers costs an operation its timeout, not a hang; a subscription on
// it stops at once.
func TestHungServerBounded(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held sync.WaitGroup
	accepting := make(chan struct{})
	// The store's connections end with s.Close (deferred below, so run
	// before this), and the accept loop with the listener.
	defer func() {
		l.Close()
		<-accepting
		held.Wait()
	}()
	go func() {
		defer close(accepting)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held.Add(1)
			go func() {
				defer held.Done()
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	s, err := redisstore.New(redisstore.Options{URL: "redis://" + l.Addr().String() + "/0", KeyPrefix: freshPrefix()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stop := s.Revocations().Subscribe(func(store.Revocation) {})
	for name, op := range map[string]func(ctx context.Context) error{
		"allow": func(ctx context.Context) error { _, _, err := s.Counters().Allow(ctx, "k", 1, time.Minute); return err },
		"take":  func(ctx context.Context) error { _, _, err := s.Values().Take(ctx, "k"); return err },
		// Batched (batch.go): the caller stops waiting at its deadline.
		"get": func(ctx context.Context) error { _, _, err := s.Values().Get(ctx, "k"); return err },
		"getadd": func(ctx context.Context) error {
			_, _, _, err := s.Values().(store.PairedValues).GetAdd(ctx, "k", "c", []byte("1"), time.Minute)
			return err
		},
		"list": func(ctx context.Context) error { _, err := s.Revocations().List(ctx); return err },
	} {
		began := time.Now()
		if err := op(context.Background()); !errors.Is(err, redisstore.ErrUnavailable) {
			t.Errorf("%s on a hung server: %v", name, err)
		}
		if took := time.Since(began); took > redisstore.DefaultTimeout+500*time.Millisecond {
			t.Errorf("%s on a hung server took %v, over the store's timeout of %v", name, took, redisstore.DefaultTimeout)
		}
		// The caller's deadline wins when it is shorter.
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		began = time.Now()
		err := op(ctx)
		cancel()
		t.Logf("%s with a 200ms deadline: %v after %v", name, err, time.Since(began))
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(began) > time.Second {
			t.Errorf("%s with a 200ms deadline: %v after %v", name, err, time.Since(began))
		}
	}
	began := time.Now()
	stop()
	if took := time.Since(began); took > time.Second {
		t.Fatalf("stopping a subscription on a hung server took %v", took)
	}
}

// TestNoGoroutineLeak: a store, its subscriptions and its connections
// leave no goroutine behind once stopped and closed, also after Redis
// went away and came back meanwhile.
func TestNoGoroutineLeak(t *testing.T) {
	srv := redisserver.Start(t)
	base := runtime.NumGoroutine()
	for range 3 {
		s, err := redisstore.New(redisstore.Options{URL: srv.URL(), KeyPrefix: freshPrefix(), Resync: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		stops := []func(){s.Revocations().Subscribe(func(store.Revocation) {}), s.Revocations().Subscribe(func(store.Revocation) {})}
		if _, _, err := s.Counters().Allow(context.Background(), "k", 1, time.Minute); err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, "a resync", func() bool { return !s.Revocations().(store.Freshness).LastSync().IsZero() })
		stops[0]()
		// The other subscription is stopped by Close.
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	srv.Kill()
	srv.Restart()
	// go-redis's dial probe, started while the server was down, ends
	// within a second of Close.
	eventually(t, 5*time.Second, fmt.Sprintf("goroutines back to %d", base), func() bool { return runtime.NumGoroutine() <= base })
}

// TestOnOp: every operation reports its result once, under a name in Ops.
func TestOnOp(t *testing.T) {
	srv := redisserver.Start(t)
	var mu sync.Mutex
	counts := map[string]int{}
	s := open(t, redisstore.Options{URL: srv.URL(), KeyPrefix: freshPrefix(), OnOp: func(op, result string) {
		mu.Lock()
		counts[op+" "+result]++
		mu.Unlock()
	}})
	ctx := context.Background()
	_, _, _ = s.Counters().Allow(ctx, "k", 1, time.Minute)
	_ = s.Values().Set(ctx, "v", []byte("x"), time.Minute)
	_, _, _ = s.Values().Get(ctx, "v")
	_, _, _ = s.Values().Get(ctx, "missing") // a miss is a success
	_, _ = s.Values().Add(ctx, "v", []byte("x"), time.Minute)
	_, _, _ = s.Values().Take(ctx, "v")
	_ = s.Values().Delete(ctx, "v")
	pv := s.Values().(store.PairedValues)
	_, _, _, _ = pv.GetAdd(ctx, "v", "w", []byte("x"), time.Minute)
	_ = pv.SetDelete(ctx, "v", []byte("x"), time.Minute, "w")
	_ = s.Revocations().Revoke(ctx, store.Revocation{SID: "s", Until: time.Now().Add(time.Hour)})
	_, _ = s.Revocations().List(ctx)
	tc := s.AccessTokens()
	_ = tc.Set(ctx, "wx", "tok", time.Hour)
	_, _, _ = tc.Get(ctx, "wx")
	_ = tc.CompareAndDelete(ctx, "wx", "tok")
	unlock, _, _ := tc.(wechat.TokenLocker).Lock(ctx, "wx", time.Minute)
	unlock()
	mu.Lock()
	for _, op := range redisstore.Ops {
		want := 1
		if op == redisstore.OpGet {
			want = 2
		}
		if counts[op+" ok"] != want || counts[op+" error"] != 0 {
			t.Errorf("%s: %d ok and %d errors reported, want %d and 0", op, counts[op+" ok"], counts[op+" error"], want)
		}
	}
	mu.Unlock()
	srv.Kill()
	_, _, _ = s.Values().Get(ctx, "v")
	mu.Lock()
	defer mu.Unlock()
	if counts[redisstore.OpGet+" error"] != 1 {
		t.Errorf("a failed Get reported %d errors", counts[redisstore.OpGet+" error"])
	}
}

// TestEveryKeyExpires: whatever the store writes has a TTL, so that
// nothing grows without bound.
func TestEveryKeyExpires(t *testing.T) {
	srv := redisserver.Start(t)
	prefix := freshPrefix()
	s := open(t, redisstore.Options{URL: srv.URL(), KeyPrefix: prefix})
	ctx := context.Background()
	now := time.Now()
	_, _, _ = s.Counters().Allow(ctx, "203.0.113.7", 5, time.Minute)
	_ = s.Values().Set(ctx, "answer", []byte("x"), time.Minute)
	_, _ = s.Values().Add(ctx, "ticket", []byte("x"), time.Minute)
	_ = s.Revocations().Revoke(ctx, store.Revocation{SID: "s:with:colons", Until: now.Add(time.Hour)})
	_ = s.Revocations().Revoke(ctx, store.Revocation{AppID: "wx0123456789abcdef", OpenID: "o1", NotBefore: now, Until: now.Add(time.Hour)})
	_ = s.AccessTokens().Set(ctx, "https://api.weixin.qq.com\x00wx0123456789abcdef", "tok", time.Hour)
	_, _, _ = s.AccessTokens().(wechat.TokenLocker).Lock(ctx, "wx0123456789abcdef", time.Minute)
	r := admin(t, srv)
	keys, err := r.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 7 {
		t.Fatalf("keys: %q", keys)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix) {
			t.Errorf("key %q is outside the prefix %q", k, prefix)
		}
		if ttl, err := r.PTTL(ctx, k).Result(); err != nil || ttl <= 0 {
			t.Errorf("key %q has no TTL: %v %v", k, ttl, err)
		}
	}
	// A revocation's key lives until its until, not longer.
	ttl, _ := r.PTTL(ctx, prefix+"rev:s:s%3Awith%3Acolons").Result()
	if ttl <= 59*time.Minute || ttl > time.Hour+time.Second {
		t.Fatalf("a revocation until an hour from now expires in %v", ttl)
	}
}

// TestSyncedBetweenResyncs: a live subscription reports its copy complete
// about every pingEvery, far more often than Resync, and stops doing so
// the moment Redis is gone; messages flowing do not hold it back.
func TestSyncedBetweenResyncs(t *testing.T) {
	srv := redisserver.Start(t)
	s := open(t, redisstore.Options{URL: srv.URL(), KeyPrefix: freshPrefix(), Resync: time.Hour})
	var last atomic.Int64
	c := new(collector)
	stop := s.Revocations().(store.SyncedSubscriber).SubscribeSynced(c.add, func(at time.Time) { last.Store(at.UnixNano()) })
	defer stop()
	eventually(t, 5*time.Second, "the first full read", func() bool { return last.Load() != 0 })
	ctx := context.Background()
	deadline := time.Now().Add(3 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		if err := s.Revocations().Revoke(ctx, store.Revocation{SID: fmt.Sprint("busy", i), Until: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if age := time.Since(time.Unix(0, last.Load())); age > 2500*time.Millisecond {
		t.Fatalf("with messages flowing, the copy was last reported complete %v ago (Resync is an hour)", age)
	}
	srv.Kill()
	killed := time.Now()
	time.Sleep(2500 * time.Millisecond)
	if at := time.Unix(0, last.Load()); at.After(killed) {
		t.Fatalf("reported complete as of %v, after Redis was killed at %v", at, killed)
	}
}
