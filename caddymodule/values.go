package caddymodule

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Values holds short-lived values that every instance must see: the
// answers kept for repeated codes, and later web-view tickets and payment
// notification ids. The memory store serves one instance; a network store
// implements the same methods to share them, and reports its failures as
// errors so that callers can decide to fail closed.
type Values interface {
	// Get returns the value under key, if it has not expired.
	Get(ctx context.Context, key string) ([]byte, bool, error)
	// Set stores val under key for ttl, replacing any value.
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error
	// Add stores val under key for ttl only if key holds nothing, and
	// reports whether it did.
	Add(ctx context.Context, key string, val []byte, ttl time.Duration) (bool, error)
	// Take returns the value under key and removes it, atomically: of
	// callers racing for one key, exactly one gets the value.
	Take(ctx context.Context, key string) ([]byte, bool, error)
	// Delete removes key.
	Delete(ctx context.Context, key string) error
}

// maxMemoryValues bounds the memory store. Past it, writes fail rather
// than let a flood of distinct keys grow the process without bound.
const maxMemoryValues = 200_000

// errStoreFull is the memory store refusing a write at its bound.
var errStoreFull = errors.New("wechat: the memory store is full")

// memoryValues is Values for one process. It has no janitor goroutine:
// expired entries are ignored on read and swept on write, at most every
// ten seconds, or at once when the table is full.
type memoryValues struct {
	mu        sync.Mutex
	m         map[string]memoryValue
	max       int
	nextSweep time.Time
}

type memoryValue struct {
	val   []byte
	until time.Time
}

func newMemoryValues(max int) *memoryValues {
	return &memoryValues{m: make(map[string]memoryValue), max: max}
}

func (s *memoryValues) Get(_ context.Context, key string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[key]
	if !ok || !time.Now().Before(e.until) {
		return nil, false, nil
	}
	return e.val, true, nil
}

func (s *memoryValues) Set(_ context.Context, key string, val []byte, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.put(key, val, ttl, time.Now())
}

func (s *memoryValues) Add(_ context.Context, key string, val []byte, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if e, ok := s.m[key]; ok && now.Before(e.until) {
		return false, nil
	}
	return true, s.put(key, val, ttl, now)
}

func (s *memoryValues) Take(_ context.Context, key string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[key]
	delete(s.m, key)
	if !ok || !time.Now().Before(e.until) {
		return nil, false, nil
	}
	return e.val, true, nil
}

func (s *memoryValues) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}

// put writes with the lock held. The value is copied, so that a caller
// reusing its buffer cannot change what is stored.
func (s *memoryValues) put(key string, val []byte, ttl time.Duration, now time.Time) error {
	if ttl <= 0 {
		delete(s.m, key)
		return nil
	}
	if _, exists := s.m[key]; !exists && (len(s.m) >= s.max || !now.Before(s.nextSweep)) {
		s.sweep(now)
		if len(s.m) >= s.max {
			return errStoreFull
		}
	}
	s.m[key] = memoryValue{val: append([]byte(nil), val...), until: now.Add(ttl)}
	return nil
}

func (s *memoryValues) sweep(now time.Time) {
	for k, e := range s.m {
		if !now.Before(e.until) {
			delete(s.m, k)
		}
	}
	s.nextSweep = now.Add(10 * time.Second)
}

// Interface guards
var _ Values = (*memoryValues)(nil)
