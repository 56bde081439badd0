package caddymodule

import (
	"hash/maphash"
	"sync"
	"time"
)

// maxVerifiedAge bounds how long a verified token is trusted without
// checking its signature again; a token's own exp bounds it further.
const maxVerifiedAge = 5 * time.Minute

// maxVerified bounds the cache. A flood of distinct valid tokens can only
// come from real logins, so the bound is about memory (about 700 bytes an
// entry), not attack.
const maxVerified = 20_000

// sweepEvery is how often expired entries are dropped, so that the cache
// holds the tokens in use rather than every token seen since the table
// last filled up.
const sweepEvery = time.Minute

// verifiedCache remembers tokens whose signature and claims were checked,
// so that the gate's common case is a hash and a map lookup instead of an
// HMAC or signature check. The full token is compared on a hit: the hash
// only picks the slot, so a collision is a miss, never a wrong identity.
type verifiedCache struct {
	seed maphash.Seed
	mu   sync.RWMutex
	m    map[uint64]verifiedEntry
	max  int
	next int64 // unix nanoseconds of the next sweep; guarded by mu
}

type verifiedEntry struct {
	token string
	id    *Identity
	until int64 // unix nanoseconds
}

func newVerifiedCache(max int) *verifiedCache {
	return &verifiedCache{seed: maphash.MakeSeed(), m: make(map[uint64]verifiedEntry), max: max}
}

func (c *verifiedCache) get(token string, now time.Time) *Identity {
	h := maphash.String(c.seed, token)
	c.mu.RLock()
	e, ok := c.m[h]
	c.mu.RUnlock()
	if !ok || e.token != token || now.UnixNano() >= e.until {
		return nil
	}
	return e.id
}

func (c *verifiedCache) put(token string, id *Identity, now time.Time) {
	until := now.Add(maxVerifiedAge)
	if id.ExpiresAt.Before(until) {
		until = id.ExpiresAt
	}
	h := maphash.String(c.seed, token)
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := now.UnixNano(); n >= c.next {
		c.dropExpired(n)
		c.next = n + int64(sweepEvery)
	}
	if len(c.m) >= c.max {
		c.evict(now.UnixNano())
	}
	c.m[h] = verifiedEntry{token: token, id: id, until: until.UnixNano()}
}

// evict drops expired entries, then arbitrary ones (map order is random)
// until a tenth of the room is free. Called with the lock held.
func (c *verifiedCache) evict(now int64) {
	c.dropExpired(now)
	for h := range c.m {
		if len(c.m) < c.max-c.max/10 {
			break
		}
		delete(c.m, h)
	}
}

func (c *verifiedCache) dropExpired(now int64) {
	for h, e := range c.m {
		if now >= e.until {
			delete(c.m, h)
		}
	}
}

// Revocations says whether a token id (jti) was revoked. The memory store
// serves one instance; a Redis store can implement it to share logouts
// across instances. The gate asks on every request, cache hit or not.
type Revocations interface {
	Revoked(jti string) bool
	// Revoke refuses the token until its expiry.
	Revoke(jti string, until time.Time)
}

type memoryRevocations struct {
	mu sync.RWMutex
	m  map[string]time.Time
}

func newMemoryRevocations() *memoryRevocations {
	return &memoryRevocations{m: make(map[string]time.Time)}
}

func (r *memoryRevocations) Revoked(jti string) bool {
	r.mu.RLock()
	until, ok := r.m[jti]
	r.mu.RUnlock()
	return ok && time.Now().Before(until)
}

func (r *memoryRevocations) Revoke(jti string, until time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	for k, u := range r.m { // expired entries go as new ones come
		if now.After(u) {
			delete(r.m, k)
		}
	}
	r.m[jti] = until
}

// Interface guards
var _ Revocations = (*memoryRevocations)(nil)
