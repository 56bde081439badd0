package caddymodule

import (
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/patrickmn/go-cache"
)

// maxRateKeys bounds the per-client table. When it is full of live
// windows (a flood from many addresses), new clients are refused rather
// than letting the table grow without bound; the per-app limit and
// WeChat's own quota still protect everyone already counted.
const maxRateKeys = 100_000

// RateLimit is a number of requests per window.
type RateLimit struct {
	// Requests allowed per window; 0 turns the limit off.
	Requests int `json:"requests,omitempty"`
	// Window is the counting period.
	Window caddy.Duration `json:"window,omitempty"`
}

func (l *RateLimit) enabled() bool { return l != nil && l.Requests > 0 && l.Window > 0 }

// RateStore counts requests per key in fixed windows. The memory store
// serves one instance; a Redis store (INCR with EXPIRE) can implement the
// same interface to share the limits across instances.
type RateStore interface {
	// Take counts one request for key and reports whether it is within
	// limit, and otherwise how long until the window resets.
	Take(key string, limit RateLimit) (ok bool, retryAfter time.Duration)
}

type rateWindow struct {
	mu    sync.Mutex
	n     int
	reset time.Time
}

// memoryRates is a RateStore in go-cache, without a janitor goroutine:
// expired windows are swept when the table fills up.
type memoryRates struct {
	c   *cache.Cache
	max int
	mu  sync.Mutex // serialises window creation and sweeps
}

func newMemoryRates(max int) *memoryRates {
	return &memoryRates{c: cache.New(cache.NoExpiration, 0), max: max}
}

func (m *memoryRates) window(key string, d time.Duration, now time.Time) *rateWindow {
	if v, ok := m.c.Get(key); ok {
		return v.(*rateWindow)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.c.Get(key); ok {
		return v.(*rateWindow)
	}
	if m.c.ItemCount() >= m.max {
		m.c.DeleteExpired()
		if m.c.ItemCount() >= m.max {
			return nil
		}
	}
	w := &rateWindow{reset: now.Add(d)}
	m.c.Set(key, w, d)
	return w
}

// Take implements RateStore.
func (m *memoryRates) Take(key string, limit RateLimit) (bool, time.Duration) {
	now := time.Now()
	d := time.Duration(limit.Window)
	w := m.window(key, d, now)
	if w == nil {
		return false, time.Second
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !now.Before(w.reset) {
		w.n, w.reset = 0, now.Add(d)
	}
	w.n++
	if w.n > limit.Requests {
		return false, w.reset.Sub(now)
	}
	return true, 0
}

// Interface guards
var _ RateStore = (*memoryRates)(nil)
