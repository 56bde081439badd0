package storetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-wechat/caddy-wechat/internal/store"
	"github.com/caddy-wechat/caddy-wechat/wechat"
)

// Shared describes a store that several instances share, for RunShared.
type Shared struct {
	// New returns two handles on one empty store, as two instances have
	// on one server (the memory store: the same object twice). Each call
	// must return a store of its own (a fresh key prefix will do).
	New func(t *testing.T) (a, b store.Store)
	// DropSubscriptions, when set, cuts the connection of every
	// subscription, as a network failure would. A store without
	// connections leaves it nil, and the case that needs it is not run.
	DropSubscriptions func(t *testing.T)
}

// RunShared checks what two instances sharing a store must agree on: a
// limit counted once for both, one winner of a race across them, a
// revocation on one seen by the other, one token and one lock holder for
// both.
func RunShared(t *testing.T, h Shared) {
	t.Run("counters race across instances", func(t *testing.T) {
		a, b := h.New(t)
		countersRaceAcross(t, a.Counters(), b.Counters())
	})
	t.Run("add and take race across instances", func(t *testing.T) {
		a, b := h.New(t)
		valuesRaceAcross(t, a.Values(), b.Values())
	})
	t.Run("revocations across instances", func(t *testing.T) {
		a, b := h.New(t)
		revocationsAcross(t, a.Revocations(), b.Revocations())
	})
	t.Run("user revocations keep the latest", func(t *testing.T) {
		a, b := h.New(t)
		userRevocationsMerge(t, a.Revocations(), b.Revocations())
	})
	t.Run("access tokens across instances", func(t *testing.T) {
		a, b := h.New(t)
		accessTokensAcross(t, a.AccessTokens(), b.AccessTokens())
	})
	if a, _ := h.New(t); isLocker(a.AccessTokens()) {
		t.Run("token lock", func(t *testing.T) {
			a, b := h.New(t)
			tokenLock(t, a.AccessTokens().(wechat.TokenLocker), b.AccessTokens().(wechat.TokenLocker))
		})
	}
	if h.DropSubscriptions != nil {
		t.Run("resync after a dropped subscription", func(t *testing.T) {
			a, b := h.New(t)
			resyncAfterDrop(t, a.Revocations(), b.Revocations(), func() { h.DropSubscriptions(t) })
		})
	}
}

func isLocker(c wechat.TokenCache) bool {
	_, ok := c.(wechat.TokenLocker)
	return ok
}

// countersRaceAcross: a limit of N allows exactly N of many concurrent
// events arriving at two instances, not N at each.
func countersRaceAcross(t *testing.T, a, b store.Counters) {
	const limit, tries = 25, 200
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for i := range tries {
		c := a
		if i%2 == 1 {
			c = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, _, err := c.Allow(context.Background(), "race-across", limit, time.Minute)
			if err != nil {
				t.Error(err)
			}
			if ok {
				allowed.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := allowed.Load(); n != limit {
		t.Fatalf("%d of %d concurrent events on two instances allowed under a limit of %d", n, tries, limit)
	}
}

// valuesRaceAcross: of goroutines on two instances racing to add one key,
// and then to take it, exactly one wins each race.
func valuesRaceAcross(t *testing.T, a, b store.Values) {
	ctx := context.Background()
	const n = 40
	for round := range 5 {
		key := fmt.Sprintf("race-across-%d", round)
		var adds, takes atomic.Int32
		race := func(f func(v store.Values) bool) {
			var wg sync.WaitGroup
			for i := range n {
				v := a
				if i%2 == 1 {
					v = b
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					f(v)
				}()
			}
			wg.Wait()
		}
		race(func(v store.Values) bool {
			added, err := v.Add(ctx, key, []byte("ticket"), time.Minute)
			if err != nil {
				t.Error(err)
			}
			if added {
				adds.Add(1)
			}
			return added
		})
		race(func(v store.Values) bool {
			got, ok, err := v.Take(ctx, key)
			if err != nil {
				t.Error(err)
			}
			if ok {
				takes.Add(1)
				if string(got) != "ticket" {
					t.Errorf("took %q", got)
				}
			}
			return ok
		})
		if adds.Load() != 1 || takes.Load() != 1 {
			t.Fatalf("round %d: %d adds and %d takes won across two instances, want 1 and 1", round, adds.Load(), takes.Load())
		}
	}
}

// revocationsAcross: what one instance revokes, the other's subscriber
// is told and its List returns.
func revocationsAcross(t *testing.T, a, b store.Revocations) {
	ctx := context.Background()
	got := newDeliveries()
	stop := b.Subscribe(got.add)
	defer stop()
	now := time.Now()
	sess := store.Revocation{SID: "sid-across", Until: now.Add(time.Hour)}
	user := store.Revocation{AppID: "wx0123456789abcdef", OpenID: "o-across", NotBefore: now, Until: now.Add(time.Hour)}
	for _, r := range []store.Revocation{sess, user} {
		if err := a.Revoke(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	got.waitFor(t, "the session revoked on the other instance", 5*time.Second, func(r store.Revocation) bool { return r.SID == sess.SID })
	got.waitFor(t, "the user revoked on the other instance", 5*time.Second, func(r store.Revocation) bool {
		return r.OpenID == user.OpenID && r.NotBefore.Equal(user.NotBefore) && r.Until.Equal(user.Until)
	})
	list, err := b.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !hasSID(list, sess.SID) || !hasUser(list, user) {
		t.Fatalf("the other instance's List: %+v", list)
	}
}

// userRevocationsMerge: two revocations of one user, from two instances,
// end every session that began before the later not-before, until the
// later until, whichever came first.
func userRevocationsMerge(t *testing.T, a, b store.Revocations) {
	ctx := context.Background()
	now := time.Now()
	const appID, openID = "wx0123456789abcdef", "o-merge"
	first := store.Revocation{AppID: appID, OpenID: openID, NotBefore: now, Until: now.Add(time.Hour)}
	second := store.Revocation{AppID: appID, OpenID: openID, NotBefore: now.Add(-time.Minute), Until: now.Add(2 * time.Hour)}
	if err := a.Revoke(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := b.Revoke(ctx, second); err != nil {
		t.Fatal(err)
	}
	list, err := a.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var nb, until time.Time
	for _, r := range list {
		if r.AppID == appID && r.OpenID == openID {
			if r.NotBefore.After(nb) {
				nb = r.NotBefore
			}
			if r.Until.After(until) {
				until = r.Until
			}
		}
	}
	if !nb.Equal(first.NotBefore) || !until.Equal(second.Until) {
		t.Fatalf("merged user revocation: not before %v until %v, want %v and %v (List %+v)", nb, until, first.NotBefore, second.Until, list)
	}
}

// accessTokensAcross: the instances share one token per appid, and a
// compare-and-delete of a stale token on one keeps the newer token the
// other has stored.
func accessTokensAcross(t *testing.T, a, b wechat.TokenCache) {
	ctx := context.Background()
	if err := a.Set(ctx, "wx-shared", "old", time.Hour); err != nil {
		t.Fatal(err)
	}
	if tok, ok, err := b.Get(ctx, "wx-shared"); err != nil || !ok || tok != "old" {
		t.Fatalf("the other instance's Get: %q %v %v", tok, ok, err)
	}
	if err := a.Set(ctx, "wx-shared", "new", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := b.CompareAndDelete(ctx, "wx-shared", "old"); err != nil {
		t.Fatal(err)
	}
	if tok, ok, _ := a.Get(ctx, "wx-shared"); !ok || tok != "new" {
		t.Fatalf("a stale compare-and-delete on the other instance dropped the new token: %q %v", tok, ok)
	}
	if err := b.CompareAndDelete(ctx, "wx-shared", "new"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := a.Get(ctx, "wx-shared"); ok {
		t.Fatal("a compare-and-delete of the current token kept it")
	}
}

// tokenLock: of lockers racing on two instances exactly one wins; the
// lock expires; a holder whose lock expired and was taken by another
// cannot release the other's.
func tokenLock(t *testing.T, a, b wechat.TokenLocker) {
	ctx := context.Background()
	const n = 20
	var wins atomic.Int32
	var unlocks sync.Map
	var wg sync.WaitGroup
	for i := range n {
		l := a
		if i%2 == 1 {
			l = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock, ok, err := l.Lock(ctx, "wx-lock", time.Minute)
			if err != nil {
				t.Error(err)
			}
			if ok != (unlock != nil) {
				t.Errorf("Lock: ok %v with unlock %v", ok, unlock != nil)
			}
			if ok {
				wins.Add(1)
				unlocks.Store(i, unlock)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d of %d racing lockers on two instances won, want 1", wins.Load(), n)
	}
	unlocks.Range(func(_, v any) bool { v.(func())(); return true })
	if _, ok, _ := b.Lock(ctx, "wx-lock", 200*time.Millisecond); !ok {
		t.Fatal("the lock was not free after its holder unlocked")
	}
	// The lock expires by itself.
	deadline := time.Now().Add(3 * time.Second)
	var late func()
	for {
		unlock, ok, err := a.Lock(ctx, "wx-lock", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			late = unlock
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a lock with a ttl of 200ms was still held after 3s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A holder whose lock expired cannot release the next holder's.
	early, ok, _ := b.Lock(ctx, "wx-other", 100*time.Millisecond)
	if !ok {
		t.Fatal("could not lock another appid")
	}
	time.Sleep(250 * time.Millisecond)
	next, ok, _ := a.Lock(ctx, "wx-other", time.Minute)
	if !ok {
		t.Fatal("an expired lock could not be taken")
	}
	early()
	if _, ok, _ := b.Lock(ctx, "wx-other", time.Minute); ok {
		t.Fatal("the unlock of an expired holder released the next holder's lock")
	}
	next()
	late()
	if _, ok, _ := b.Lock(ctx, "wx-other", time.Minute); !ok {
		t.Fatal("the lock was not free after its holder unlocked")
	}
}

// resyncAfterDrop: after its connection is cut, a subscription delivers
// every current revocation again (what was published while it was down
// is lost to pub/sub), and then the new ones.
func resyncAfterDrop(t *testing.T, a, b store.Revocations, drop func()) {
	ctx := context.Background()
	got := newDeliveries()
	stop := b.Subscribe(got.add)
	defer stop()
	pre := store.Revocation{SID: "sid-before-drop", Until: time.Now().Add(time.Hour)}
	if err := a.Revoke(ctx, pre); err != nil {
		t.Fatal(err)
	}
	isPre := func(r store.Revocation) bool { return r.SID == pre.SID }
	got.waitFor(t, "a revocation before the drop", 5*time.Second, isPre)
	got.reset()
	drop()
	got.waitFor(t, "the revocation from before the drop, again, after the reconnect", 10*time.Second, isPre)
	post := store.Revocation{SID: "sid-after-drop", Until: time.Now().Add(time.Hour)}
	if err := a.Revoke(ctx, post); err != nil {
		t.Fatal(err)
	}
	got.waitFor(t, "a revocation after the reconnect", 5*time.Second, func(r store.Revocation) bool { return r.SID == post.SID })
}

// deliveries records what a subscriber is given.
type deliveries struct {
	mu   sync.Mutex
	list []store.Revocation
	more chan struct{}
}

func newDeliveries() *deliveries { return &deliveries{more: make(chan struct{}, 1)} }

func (d *deliveries) add(r store.Revocation) {
	d.mu.Lock()
	d.list = append(d.list, r)
	d.mu.Unlock()
	select {
	case d.more <- struct{}{}:
	default:
	}
}

func (d *deliveries) reset() {
	d.mu.Lock()
	d.list = nil
	d.mu.Unlock()
}

// waitFor waits until a delivery matches, and fails the test, saying
// what it waited for and what came, when none does within limit.
func (d *deliveries) waitFor(t *testing.T, what string, limit time.Duration, match func(store.Revocation) bool) {
	t.Helper()
	deadline := time.After(limit)
	for {
		d.mu.Lock()
		for _, r := range d.list {
			if match(r) {
				d.mu.Unlock()
				return
			}
		}
		seen := len(d.list)
		d.mu.Unlock()
		select {
		case <-d.more:
		case <-deadline:
			t.Fatalf("the subscriber was not given %s within %v (%d other deliveries)", what, limit, seen)
		}
	}
}
