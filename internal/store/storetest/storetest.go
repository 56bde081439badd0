// Package storetest is the contract every store must pass: the memory
// store, and the network stores the wechat.stores modules provide. Call
// Run from a store's tests with a function that makes an empty store.
package storetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-wechat/caddy-wechat/internal/store"
)

// Run checks s against the contract. newStore must return an empty store
// each time it is called (a fresh key prefix will do).
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("counters", func(t *testing.T) { counters(t, newStore(t).Counters()) })
	t.Run("counters race", func(t *testing.T) { countersRace(t, newStore(t).Counters()) })
	t.Run("values", func(t *testing.T) { values(t, newStore(t).Values()) })
	t.Run("values expire", func(t *testing.T) { valuesExpire(t, newStore(t).Values()) })
	t.Run("values race", func(t *testing.T) { valuesRace(t, newStore(t).Values()) })
	t.Run("revocations", func(t *testing.T) { revocations(t, newStore(t).Revocations()) })
	t.Run("access tokens", func(t *testing.T) { accessTokens(t, newStore(t)) })
}

func counters(t *testing.T, c store.Counters) {
	ctx := context.Background()
	for i := range 3 {
		ok, _, err := c.Allow(ctx, "k", 3, time.Minute)
		if err != nil || !ok {
			t.Fatalf("event %d of 3: %v %v", i+1, ok, err)
		}
	}
	ok, wait, err := c.Allow(ctx, "k", 3, time.Minute)
	if err != nil || ok || wait <= 0 || wait > time.Minute {
		t.Fatalf("event 4 of 3: ok %v, retry after %v, %v", ok, wait, err)
	}
	if ok, _, err := c.Allow(ctx, "other", 3, time.Minute); err != nil || !ok {
		t.Fatalf("another key is counted with the first: %v %v", ok, err)
	}
	// The window ends, and counting starts again.
	if ok, _, _ := c.Allow(ctx, "short", 1, 300*time.Millisecond); !ok {
		t.Fatal("first event in a short window refused")
	}
	if ok, _, _ := c.Allow(ctx, "short", 1, 300*time.Millisecond); ok {
		t.Fatal("second event in a window of 1 allowed")
	}
	time.Sleep(400 * time.Millisecond)
	if ok, _, err := c.Allow(ctx, "short", 1, 300*time.Millisecond); err != nil || !ok {
		t.Fatalf("after the window: %v %v", ok, err)
	}
}

// countersRace: a limit of N allows exactly N of many concurrent events.
func countersRace(t *testing.T, c store.Counters) {
	const limit, tries = 25, 200
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for range tries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, _, err := c.Allow(context.Background(), "race", limit, time.Minute)
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
		t.Fatalf("%d of %d concurrent events allowed under a limit of %d", n, tries, limit)
	}
}

func values(t *testing.T, v store.Values) {
	ctx := context.Background()
	if _, ok, err := v.Get(ctx, "missing"); ok || err != nil {
		t.Fatalf("missing key: %v %v", ok, err)
	}
	buf := []byte("one")
	if err := v.Set(ctx, "a", buf, time.Minute); err != nil {
		t.Fatal(err)
	}
	buf[0] = 'X' // the store keeps its own copy
	if got, ok, err := v.Get(ctx, "a"); !ok || err != nil || string(got) != "one" {
		t.Fatalf("Get after Set: %q %v %v", got, ok, err)
	}
	if added, err := v.Add(ctx, "a", []byte("two"), time.Minute); added || err != nil {
		t.Fatalf("Add over a live value: %v %v", added, err)
	}
	if added, err := v.Add(ctx, "b", []byte("two"), time.Minute); !added || err != nil {
		t.Fatalf("Add of a new key: %v %v", added, err)
	}
	if got, ok, err := v.Take(ctx, "b"); !ok || err != nil || string(got) != "two" {
		t.Fatalf("Take: %q %v %v", got, ok, err)
	}
	if _, ok, _ := v.Take(ctx, "b"); ok {
		t.Fatal("a value was taken twice")
	}
	if _, ok, _ := v.Get(ctx, "b"); ok {
		t.Fatal("a taken value is still there")
	}
	if err := v.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := v.Get(ctx, "a"); ok {
		t.Fatal("a deleted value is still there")
	}
	if err := v.Set(ctx, "bin", []byte{0, 0xff, '\n'}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := v.Get(ctx, "bin"); string(got) != "\x00\xff\n" {
		t.Fatalf("binary value came back as %q", got)
	}
}

func valuesExpire(t *testing.T, v store.Values) {
	ctx := context.Background()
	if err := v.Set(ctx, "short", []byte("x"), 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if added, _ := v.Add(ctx, "short-add", []byte("x"), 200*time.Millisecond); !added {
		t.Fatal("Add refused")
	}
	time.Sleep(300 * time.Millisecond)
	if _, ok, _ := v.Get(ctx, "short"); ok {
		t.Fatal("an expired value is returned")
	}
	if _, ok, _ := v.Take(ctx, "short-add"); ok {
		t.Fatal("an expired value is taken")
	}
	if added, err := v.Add(ctx, "short", []byte("y"), time.Minute); !added || err != nil {
		t.Fatalf("Add over an expired value: %v %v", added, err)
	}
}

// valuesRace: of many goroutines racing to add or to take one key,
// exactly one wins: a ticket redeems once, a notification is forwarded
// once.
func valuesRace(t *testing.T, v store.Values) {
	ctx := context.Background()
	const n = 50
	for round := range 5 {
		key := fmt.Sprintf("race-%d", round)
		var adds, takes atomic.Int32
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if added, err := v.Add(ctx, key, []byte("v"), time.Minute); err == nil && added {
					adds.Add(1)
				}
			}()
		}
		wg.Wait()
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, ok, err := v.Take(ctx, key); err == nil && ok {
					takes.Add(1)
				}
			}()
		}
		wg.Wait()
		if adds.Load() != 1 || takes.Load() != 1 {
			t.Fatalf("round %d: %d adds and %d takes won, want 1 and 1", round, adds.Load(), takes.Load())
		}
	}
}

func revocations(t *testing.T, r store.Revocations) {
	ctx := context.Background()
	got := make(chan store.Revocation, 100)
	stop := r.Subscribe(func(rev store.Revocation) { got <- rev })
	now := time.Now().Truncate(time.Millisecond)
	sess := store.Revocation{SID: "sid-1", Until: now.Add(time.Hour)}
	user := store.Revocation{AppID: "wx0123456789abcdef", OpenID: "o1", NotBefore: now, Until: now.Add(time.Hour)}
	gone := store.Revocation{SID: "sid-gone", Until: now.Add(200 * time.Millisecond)}
	for _, rev := range []store.Revocation{sess, user, gone} {
		if err := r.Revoke(ctx, rev); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		select {
		case rev := <-got:
			if rev.SID == "" && (rev.AppID != user.AppID || rev.OpenID != user.OpenID || !rev.NotBefore.Equal(user.NotBefore)) {
				t.Fatalf("subscriber got %+v", rev)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("the subscriber got %d of 3 revocations", i)
		}
	}
	stop()
	// A store may deliver a revocation more than once (a network store
	// delivers everything again at each resync); what it delivered before
	// stop returned is not a delivery after it.
	for len(got) > 0 {
		<-got
	}
	list, err := r.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !hasSID(list, "sid-1") || !hasUser(list, user) || !hasSID(list, "sid-gone") {
		t.Fatalf("List: %+v", list)
	}
	time.Sleep(300 * time.Millisecond)
	list, _ = r.List(ctx)
	if hasSID(list, "sid-gone") || !hasSID(list, "sid-1") {
		t.Fatalf("List after an Until passed: %+v", list)
	}
	// After stop, nothing more arrives.
	if err := r.Revoke(ctx, store.Revocation{SID: "sid-after", Until: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	select {
	case rev := <-got:
		t.Fatalf("a stopped subscriber got %+v", rev)
	case <-time.After(200 * time.Millisecond):
	}
}

func hasSID(list []store.Revocation, sid string) bool {
	for _, r := range list {
		if r.SID == sid {
			return true
		}
	}
	return false
}

func hasUser(list []store.Revocation, u store.Revocation) bool {
	for _, r := range list {
		if r.AppID == u.AppID && r.OpenID == u.OpenID && r.NotBefore.Equal(u.NotBefore) {
			return true
		}
	}
	return false
}

func accessTokens(t *testing.T, s store.Store) {
	ctx := context.Background()
	c := s.AccessTokens()
	if _, ok, err := c.Get(ctx, "a"); ok || err != nil {
		t.Fatalf("empty cache: %v %v", ok, err)
	}
	for _, step := range []func() error{
		func() error { return c.Set(ctx, "a", "new", time.Hour) },
		func() error { return c.Set(ctx, "b", "other", time.Hour) },
		func() error { return c.CompareAndDelete(ctx, "a", "old") },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	if tok, ok, _ := c.Get(ctx, "a"); !ok || tok != "new" {
		t.Fatalf("CompareAndDelete of an old token dropped the new one: %q %v", tok, ok)
	}
	if err := c.CompareAndDelete(ctx, "a", "new"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := c.Get(ctx, "a"); ok {
		t.Fatal("CompareAndDelete of the current token kept it")
	}
	if tok, _, _ := c.Get(ctx, "b"); tok != "other" {
		t.Fatalf("another appid was touched: %q", tok)
	}
	if err := c.Set(ctx, "b", "x", 0); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := c.Get(ctx, "b"); ok {
		t.Fatal("a ttl of 0 stored an entry")
	}
	if err := c.Set(ctx, "c", "short", 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if _, ok, _ := c.Get(ctx, "c"); ok {
		t.Fatal("an expired token is returned")
	}
}
