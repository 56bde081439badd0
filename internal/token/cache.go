package token

import (
	"hash/maphash"
	"sync"
	"time"
)

// MaxCacheAge bounds how long a verified token is trusted without
// checking its signature again; a token's own exp bounds it further.
const MaxCacheAge = 5 * time.Minute

// DefaultCacheSize bounds the cache. A flood of distinct valid tokens can
// only come from real logins, so the bound is about memory (about 700
// bytes an entry), not attack.
const DefaultCacheSize = 20_000

// sweepEvery is how often expired entries are dropped, so that the cache
// holds the tokens in use rather than every token seen since the table
// last filled up.
const sweepEvery = time.Minute

// Cache remembers tokens whose signature and claims were checked, so that
// the gate's common case is a hash and a map lookup instead of an HMAC or
// signature check. The full token is compared on a hit: the hash only
// picks the slot, so a collision is a miss, never a wrong identity.
// Revocation is not its business: the gate asks Revoked on every request,
// hit or miss.
type Cache struct {
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

// NewCache makes a cache of at most max tokens.
func NewCache(max int) *Cache {
	return &Cache{seed: maphash.MakeSeed(), m: make(map[uint64]verifiedEntry), max: max}
}

// Get returns the identity of token if it was verified and is still
// within its time.
func (c *Cache) Get(token string, now time.Time) *Identity {
	h := maphash.String(c.seed, token)
	c.mu.RLock()
	e, ok := c.m[h]
	c.mu.RUnlock()
	if !ok || e.token != token || now.UnixNano() >= e.until {
		return nil
	}
	return e.id
}

// Put remembers a verified token until its exp, or MaxCacheAge.
func (c *Cache) Put(token string, id *Identity, now time.Time) {
	until := now.Add(MaxCacheAge)
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
func (c *Cache) evict(now int64) {
	c.dropExpired(now)
	for h := range c.m {
		if len(c.m) < c.max-c.max/10 {
			break
		}
		delete(c.m, h)
	}
}

func (c *Cache) dropExpired(now int64) {
	for h, e := range c.m {
		if now >= e.until {
			delete(c.m, h)
		}
	}
}
