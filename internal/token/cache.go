package token

import (
	"hash/maphash"
	"strings"
	"sync"
	"time"
)

// MaxCacheAge bounds how long a verified token is trusted without
// checking its signature again; a token's own exp bounds it further. Each
// entry gets between half of it and all of it, at random, so that tokens
// cached together (a burst of logins, a bench) are not all checked again
// in the same second. The cache belongs to one loaded config, so a key
// removed by a reload is never trusted through it.
const MaxCacheAge = 30 * time.Minute

// DefaultCacheSize holds the tokens of 100,000 users active at once, in
// about 55 MB (TestCacheMemory measures it). A flood of distinct valid
// tokens can only come from real logins, so the bound is about memory, not
// attack.
const DefaultCacheSize = 100_000

// sweepEvery is how often expired entries are dropped, so that the cache
// holds the tokens in use rather than every token seen since the table
// last filled up.
const sweepEvery = time.Minute

// Cache remembers tokens whose signature and claims were checked, so that
// the gate's common case is a map lookup instead of an HMAC or signature
// check.
//
// An entry is keyed by the token's signature: an HMAC-SHA256 or Ed25519
// signature over everything before it, so a collision-resistant digest of
// the token that the signer has already computed. A lookup also compares
// a keyed hash of the whole token and its length, so a token that differs
// anywhere is a miss and goes to full verification. A hit therefore needs
// the signature of the cached token itself: nothing but that token's own
// text can ever yield its identity, and the cache keeps no token.
// Revocation is not its business: the gate asks Revoked on every request,
// hit or miss.
type Cache struct {
	seed maphash.Seed
	mu   sync.RWMutex
	m    map[string]cacheEntry
	max  int
	next int64 // unix nanoseconds of the next sweep; guarded by mu
}

type cacheEntry struct {
	id    *Identity
	sum   uint64 // maphash of the whole token
	size  int    // its length
	until int64  // unix nanoseconds
}

// NewCache makes a cache of at most max tokens (DefaultCacheSize when max
// is not positive).
func NewCache(max int) *Cache {
	if max <= 0 {
		max = DefaultCacheSize
	}
	return &Cache{seed: maphash.MakeSeed(), m: make(map[string]cacheEntry), max: max}
}

// signature is the last segment of tok.
func signature(tok string) string { return tok[strings.LastIndexByte(tok, '.')+1:] }

// Get returns the identity of tok if it was verified and is still within
// its time.
func (c *Cache) Get(tok string, now time.Time) *Identity {
	c.mu.RLock()
	e, ok := c.m[signature(tok)]
	c.mu.RUnlock()
	if !ok || e.size != len(tok) || now.UnixNano() >= e.until || e.sum != maphash.String(c.seed, tok) {
		return nil
	}
	return e.id
}

// Put remembers a verified token until its exp, or MaxCacheAge, and
// returns the identity the cache holds for it: one put by a concurrent
// verification of the same token wins, so that every request carrying it
// shares one Identity, and with it one renewal.
func (c *Cache) Put(tok string, id *Identity, now time.Time) *Identity {
	sum := maphash.String(c.seed, tok)
	until := now.Add(MaxCacheAge/2 + time.Duration(sum%uint64(MaxCacheAge/2)))
	if id.ExpiresAt.Before(until) {
		until = id.ExpiresAt
	}
	e := cacheEntry{id: id, sum: sum, size: len(tok), until: until.UnixNano()}
	key := strings.Clone(signature(tok))
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := now.UnixNano(); n >= c.next {
		c.dropExpired(n)
		c.next = n + int64(sweepEvery)
	}
	old, known := c.m[key]
	if known && old.size == e.size && old.sum == e.sum && now.UnixNano() < old.until {
		return old.id
	}
	if !known && len(c.m) >= c.max {
		c.evict(now.UnixNano())
	}
	c.m[key] = e
	return id
}

// Len is the number of entries.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// evict drops expired entries, then arbitrary ones (map order is random)
// until a tenth of the room is free. Called with the lock held.
func (c *Cache) evict(now int64) {
	c.dropExpired(now)
	for k := range c.m {
		if len(c.m) < c.max-c.max/10 {
			break
		}
		delete(c.m, k)
	}
}

func (c *Cache) dropExpired(now int64) {
	for k, e := range c.m {
		if now >= e.until {
			delete(c.m, k)
		}
	}
}
