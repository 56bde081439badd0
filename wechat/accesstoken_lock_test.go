package wechat

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// lockingCache is a TokenCache shared by several AccessTokens, as a
// network cache is by several instances, with a TokenLocker beside it.
type lockingCache struct {
	TokenCache
	mu      sync.Mutex
	holder  map[string]*int // appid -> the lock's owner, while held
	until   map[string]time.Time
	refused atomic.Int32 // Lock calls that found the lock held
	taken   atomic.Int32
	lockErr error // when set, every Lock fails with it
}

func newLockingCache() *lockingCache {
	return &lockingCache{TokenCache: NewMemoryTokenCache(), holder: map[string]*int{}, until: map[string]time.Time{}}
}

func (c *lockingCache) Lock(_ context.Context, appID string, ttl time.Duration) (func(), bool, error) {
	if c.lockErr != nil {
		return nil, false, c.lockErr
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.holder[appID] != nil && time.Now().Before(c.until[appID]) {
		c.refused.Add(1)
		return nil, false, nil
	}
	me := new(int)
	c.holder[appID], c.until[appID] = me, time.Now().Add(ttl)
	c.taken.Add(1)
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.holder[appID] == me {
			delete(c.holder, appID)
		}
	}, true, nil
}

func (c *lockingCache) held(appID string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.holder[appID] != nil && time.Now().Before(c.until[appID])
}

// TestAccessTokensOneFetchAcrossInstances: two managers of one appid (two
// instances) sharing a locking cache, 20 callers each, one stable_token
// request; the instance that did not fetch waited for the other's token.
func TestAccessTokensOneFetchAcrossInstances(t *testing.T) {
	s := &tokenServer{gate: make(chan struct{}), entered: make(chan struct{}, 10)}
	cache := newLockingCache()
	a, b := newAccessTokens(t, s), newAccessTokens(t, s)
	a.Cache, b.Cache = cache, cache
	const n = 20
	var wg sync.WaitGroup
	got := make(chan string, 2*n)
	for _, m := range []*AccessTokens{a, b} {
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tok, err := m.Token(context.Background())
				if err != nil {
					t.Error(err)
				}
				got <- tok
			}()
		}
	}
	<-s.entered
	// Hold the fetch until the other instance has found the lock taken.
	for deadline := time.Now().Add(5 * time.Second); cache.refused.Load() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the second instance never asked for the lock")
		}
	}
	close(s.gate)
	wg.Wait()
	close(got)
	for tok := range got {
		if tok != "tok-1" {
			t.Fatalf("a caller got %q, want tok-1", tok)
		}
	}
	if r := s.requests.Load(); r != 1 {
		t.Fatalf("%d stable_token requests for two instances, want 1", r)
	}
	if cache.held(testAppID) {
		t.Fatal("the lock is still held after the fetch")
	}
}

// TestAccessTokensLockErrorFetchesAnyway: a failing lock is reported and
// costs a fetch of this instance's own, never the call.
func TestAccessTokensLockErrorFetchesAnyway(t *testing.T) {
	s := &tokenServer{}
	cache := newLockingCache()
	cache.lockErr = errors.New("lock store down")
	a := newAccessTokens(t, s)
	a.Cache = cache
	var reported atomic.Int32
	a.OnCacheError = func(err error) {
		if errors.Is(err, cache.lockErr) {
			reported.Add(1)
		}
	}
	if tok, err := a.Token(context.Background()); err != nil || tok != "tok-1" {
		t.Fatalf("Token: %q %v", tok, err)
	}
	if reported.Load() != 1 || s.requests.Load() != 1 {
		t.Fatalf("lock errors reported %d, requests %d; want 1 and 1", reported.Load(), s.requests.Load())
	}
}

// TestAccessTokensStuckHolder: a lock held by an instance that never
// stores a token delays the fetch by the lock wait, not longer.
func TestAccessTokensStuckHolder(t *testing.T) {
	s := &tokenServer{}
	cache := newLockingCache()
	if _, ok, _ := cache.Lock(context.Background(), testAppID, time.Hour); !ok {
		t.Fatal("could not take the lock")
	}
	a := newAccessTokens(t, s)
	a.Cache = cache
	a.lockWait = 150 * time.Millisecond
	start := time.Now()
	tok, err := a.Token(context.Background())
	if took := time.Since(start); err != nil || tok != "tok-1" || took < 150*time.Millisecond || took > 2*time.Second {
		t.Fatalf("Token under a stuck lock: %q %v after %v", tok, err, took)
	}
}

// TestAccessTokensHolderFails: when the holder's fetch fails it releases
// the lock, and a waiting instance takes it and fetches at once rather
// than waiting out the lock wait.
func TestAccessTokensHolderFails(t *testing.T) {
	cache := newLockingCache()
	failing := &tokenServer{errBody: `{"errcode":40013,"errmsg":"invalid appid"}`, gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	good := &tokenServer{}
	a, b := newAccessTokens(t, failing), newAccessTokens(t, good)
	a.Cache, b.Cache = cache, cache
	b.lockWait = time.Minute
	errA := make(chan error, 1)
	go func() {
		_, err := a.Token(context.Background())
		errA <- err
	}()
	<-failing.entered
	start := time.Now()
	tokB := make(chan string, 1)
	go func() {
		tok, err := b.Token(context.Background())
		if err != nil {
			t.Error(err)
		}
		tokB <- tok
	}()
	for deadline := time.Now().Add(5 * time.Second); cache.refused.Load() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("b never asked for the lock")
		}
	}
	close(failing.gate)
	if err := <-errA; KindOf(err) != KindConfig {
		t.Fatalf("a's failed fetch returned %v", err)
	}
	if tok := <-tokB; tok != "tok-1" || time.Since(start) > 5*time.Second {
		t.Fatalf("b got %q after %v", tok, time.Since(start))
	}
	if good.requests.Load() != 1 || cache.taken.Load() != 2 {
		t.Fatalf("b's requests %d, locks taken %d; want 1 and 2", good.requests.Load(), cache.taken.Load())
	}
}

// TestAccessTokensLockedThenCached: an instance that takes the lock just
// after another released it, with the token stored, does not fetch.
func TestAccessTokensLockedThenCached(t *testing.T) {
	s := &tokenServer{}
	cache := newLockingCache()
	a := newAccessTokens(t, s)
	// What a cache miss followed by the other instance's Set looks like:
	// Token's first Get misses, and the token is there by the lock.
	racing := &raceCache{lockingCache: cache, setOnLock: "tok-other"}
	a.Cache = racing
	if tok, err := a.Token(context.Background()); err != nil || tok != "tok-other" {
		t.Fatalf("Token: %q %v", tok, err)
	}
	if s.requests.Load() != 0 || cache.held(testAppID) {
		t.Fatalf("requests %d, lock held %v; want 0 and false", s.requests.Load(), cache.held(testAppID))
	}
}

// raceCache stores a token as it hands out the lock, as another instance
// finishing its fetch at that moment would.
type raceCache struct {
	*lockingCache
	setOnLock string
}

func (r *raceCache) Lock(ctx context.Context, appID string, ttl time.Duration) (func(), bool, error) {
	unlock, ok, err := r.lockingCache.Lock(ctx, appID, ttl)
	if ok {
		_ = r.Set(ctx, appID, r.setOnLock, time.Hour)
	}
	return unlock, ok, err
}

// Interface guards
var (
	_ TokenLocker = (*lockingCache)(nil)
	_ TokenLocker = (*raceCache)(nil)
)
