package store

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/caddy-wechat/caddy-wechat/wechat"
)

// Bounds of the memory store. Past them, writes of new keys fail rather
// than let a flood of distinct keys grow the process without bound: a new
// client address is refused a login, a ticket is not minted; everyone
// already counted is unaffected.
const (
	MaxMemoryCounters = 100_000
	MaxMemoryValues   = 200_000
)

// ErrFull is the memory store refusing a new key at its bound.
var ErrFull = errors.New("wechat: the memory store is full")

// sweepEvery is how often writes sweep expired entries out of the memory
// tables, besides whenever a table is full.
const sweepEvery = 10 * time.Second

// Memory is a Store for one process. It has no goroutine: expired entries
// are ignored on read and swept on write.
type Memory struct {
	counters memoryCounters
	values   memoryValues
	revs     memoryRevocations
	tokens   wechat.TokenCache
}

// NewMemory makes an empty memory store.
func NewMemory() *Memory {
	return &Memory{
		counters: memoryCounters{newTable[*window](MaxMemoryCounters)},
		values:   memoryValues{newTable[[]byte](MaxMemoryValues)},
		tokens:   wechat.NewMemoryTokenCache(),
	}
}

// Counters implements Store.
func (s *Memory) Counters() Counters { return &s.counters }

// Values implements Store.
func (s *Memory) Values() Values { return &s.values }

// Revocations implements Store.
func (s *Memory) Revocations() Revocations { return &s.revs }

// AccessTokens implements Store.
func (s *Memory) AccessTokens() wechat.TokenCache { return s.tokens }

type (
	memoryCounters struct{ t table[*window] }
	memoryValues   struct{ t table[[]byte] }
)

// table is a map with an expiry per entry, a bound, and sweeps on write.
type table[V any] struct {
	mu        sync.Mutex
	m         map[string]entry[V]
	max       int
	nextSweep time.Time
}

type entry[V any] struct {
	val   V
	until time.Time
}

func newTable[V any](max int) table[V] {
	return table[V]{m: make(map[string]entry[V]), max: max}
}

// live returns the entry under key unless it has expired. Called with the
// lock held.
func (t *table[V]) live(key string, now time.Time) (V, bool) {
	e, ok := t.m[key]
	if !ok || !now.Before(e.until) {
		var zero V
		return zero, false
	}
	return e.val, true
}

// put writes with the lock held.
func (t *table[V]) put(key string, val V, ttl time.Duration, now time.Time) error {
	if ttl <= 0 {
		delete(t.m, key)
		return nil
	}
	if _, exists := t.m[key]; !exists && (len(t.m) >= t.max || !now.Before(t.nextSweep)) {
		for k, e := range t.m {
			if !now.Before(e.until) {
				delete(t.m, k)
			}
		}
		t.nextSweep = now.Add(sweepEvery)
		if len(t.m) >= t.max {
			return ErrFull
		}
	}
	t.m[key] = entry[V]{val: val, until: now.Add(ttl)}
	return nil
}

// window is one fixed window of a counter.
type window struct {
	n     int
	reset time.Time
}

// Allow implements Counters.
func (s *memoryCounters) Allow(_ context.Context, key string, limit int, win time.Duration) (bool, time.Duration, error) {
	now := time.Now()
	t := &s.t
	t.mu.Lock()
	defer t.mu.Unlock()
	w, ok := t.live(key, now)
	if !ok {
		w = &window{reset: now.Add(win)}
		if err := t.put(key, w, win, now); err != nil {
			return false, time.Second, err
		}
	}
	w.n++
	if w.n > limit {
		return false, w.reset.Sub(now), nil
	}
	return true, 0, nil
}

// Get implements Values.
func (s *memoryValues) Get(_ context.Context, key string) ([]byte, bool, error) {
	t := &s.t
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.live(key, time.Now())
	return v, ok, nil
}

// Set implements Values. The value is copied, so that a caller reusing
// its buffer cannot change what is stored.
func (s *memoryValues) Set(_ context.Context, key string, val []byte, ttl time.Duration) error {
	t := &s.t
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.put(key, append([]byte(nil), val...), ttl, time.Now())
}

// Add implements Values.
func (s *memoryValues) Add(_ context.Context, key string, val []byte, ttl time.Duration) (bool, error) {
	t := &s.t
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	if _, ok := t.live(key, now); ok {
		return false, nil
	}
	if err := t.put(key, append([]byte(nil), val...), ttl, now); err != nil {
		return false, err
	}
	return true, nil
}

// Take implements Values.
func (s *memoryValues) Take(_ context.Context, key string) ([]byte, bool, error) {
	t := &s.t
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.live(key, time.Now())
	delete(t.m, key)
	return v, ok, nil
}

// Delete implements Values.
func (s *memoryValues) Delete(_ context.Context, key string) error {
	t := &s.t
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, key)
	return nil
}

// Interface guards
var (
	_ Store       = (*Memory)(nil)
	_ Counters    = (*memoryCounters)(nil)
	_ Values      = (*memoryValues)(nil)
	_ Revocations = (*memoryRevocations)(nil)
)
