package token

import (
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
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
// about 50 MB (TestCacheMemory measures it). A flood of distinct valid
// tokens can only come from real logins, so the bound is about memory, not
// attack.
const DefaultCacheSize = 100_000

// sweepEvery is how often expired entries are dropped, so that the cache
// holds the tokens in use rather than every token seen since the table
// last filled up.
const sweepEvery = time.Minute

// maxHotSlots bounds the identities kept as objects. Every other cached
// token is a record without pointers, so that a garbage collection, which
// marks all that is live, does not walk a hundred thousand identities on
// every cycle: with them as objects, GC marking was 15% of a busy gate's
// CPU.
const maxHotSlots = 4096

// Cache remembers tokens whose signature and claims were checked, so that
// the gate's common case is a lookup instead of an HMAC or signature
// check.
//
// An entry is keyed by a keyed 64-bit hash of the whole token and holds
// the token's signature and length: an HMAC-SHA256 or Ed25519 signature
// over everything before it, so a collision-resistant digest of the token
// that the signer has already computed. A lookup compares all three, so a
// token that differs anywhere is a miss and goes to full verification,
// and a hash collision is a miss too. A hit therefore needs the signature
// of the cached token itself: nothing but that token's own text can ever
// yield its identity, and the cache keeps no token. Revocation is not its
// business: the gate asks Revoked on every request, hit or miss.
//
// Entries are records without pointers (record.go). The identity of a
// token in use sits in a small direct-mapped table of hot slots, so that
// the requests carrying it share one Identity, and with it one renewal and
// one assertion; a record is made into an Identity again when its slot
// has been taken by another token.
type Cache struct {
	seed maphash.Seed
	hot  []atomic.Pointer[Identity]

	mu     sync.RWMutex
	index  map[uint64]uint32 // token hash → record number
	chunks []*[chunkRecords]record
	free   []uint32 // record numbers of dropped entries
	used   uint32   // record numbers handed out so far
	names  interned
	max    int
	next   int64 // unix nanoseconds of the next sweep
}

// chunkRecords is how many records are allocated at once, so that a
// small app does not pay for a hundred thousand.
const chunkRecords = 256

// NewCache makes a cache of at most max tokens (DefaultCacheSize when max
// is not positive).
func NewCache(max int) *Cache {
	if max <= 0 {
		max = DefaultCacheSize
	}
	slots := 1
	for slots*2 <= min(max, maxHotSlots) {
		slots *= 2
	}
	return &Cache{seed: maphash.MakeSeed(), hot: make([]atomic.Pointer[Identity], slots), index: make(map[uint64]uint32), max: max}
}

// signature is the last segment of tok.
func signature(tok string) string { return tok[strings.LastIndexByte(tok, '.')+1:] }

// Get returns the identity of tok if it was verified and is still within
// its time.
func (c *Cache) Get(tok string, now time.Time) *Identity {
	sum, nowNano := maphash.String(c.seed, tok), now.UnixNano()
	slot := &c.hot[sum&uint64(len(c.hot)-1)]
	if id := slot.Load(); id != nil && id.cached.is(sum, tok, nowNano) {
		return id
	}
	c.mu.RLock()
	n, ok := c.index[sum]
	if !ok {
		c.mu.RUnlock()
		return nil
	}
	r := c.record(n)
	if !r.is(sum, tok, nowNano) {
		c.mu.RUnlock()
		return nil
	}
	id := r.identity(&c.names)
	c.mu.RUnlock()
	return publish(slot, id, tok, nowNano)
}

// Put remembers a verified token until its exp, or MaxCacheAge, and
// returns the identity the cache holds for it: one put by a concurrent
// verification of the same token wins, so that every request carrying it
// shares one Identity, and with it one renewal. An identity too large for
// a record (record.go) is returned as it came, and not cached.
func (c *Cache) Put(tok string, id *Identity, now time.Time) *Identity {
	sum := maphash.String(c.seed, tok)
	until := now.Add(MaxCacheAge/2 + time.Duration(sum%uint64(MaxCacheAge/2)))
	if id.ExpiresAt.Before(until) {
		until = id.ExpiresAt
	}
	nowNano := now.UnixNano()
	c.mu.Lock()
	if nowNano >= c.next {
		c.dropExpired(nowNano)
		c.next = nowNano + int64(sweepEvery)
	}
	n, known := c.index[sum]
	if known && c.record(n).is(sum, tok, nowNano) {
		// A concurrent verification of the same token came first.
		id = c.record(n).identity(&c.names)
	} else {
		if !known {
			if len(c.index) >= c.max {
				c.evict(nowNano)
			}
			n = c.allocate()
		}
		if !c.record(n).fill(&c.names, tok, id, sum, until.UnixNano()) {
			delete(c.index, sum)
			c.free = append(c.free, n)
			c.mu.Unlock()
			return id
		}
		c.index[sum] = n
		id = c.record(n).identity(&c.names)
	}
	c.mu.Unlock()
	return publish(&c.hot[sum&uint64(len(c.hot)-1)], id, tok, nowNano)
}

// publish puts id in its hot slot, unless the slot already holds the same
// token's identity, which it returns instead.
func publish(slot *atomic.Pointer[Identity], id *Identity, tok string, now int64) *Identity {
	for {
		old := slot.Load()
		if old != nil && old.cached.is(id.cached.sum, tok, now) {
			return old
		}
		if slot.CompareAndSwap(old, id) {
			return id
		}
	}
}

// Len is the number of entries.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.index)
}

// record is entry n. Called with the lock held.
func (c *Cache) record(n uint32) *record { return &c.chunks[n/chunkRecords][n%chunkRecords] }

// allocate hands out a record number, a dropped entry's if there is one.
// Called with the lock held.
func (c *Cache) allocate() uint32 {
	if k := len(c.free); k > 0 {
		n := c.free[k-1]
		c.free = c.free[:k-1]
		return n
	}
	if c.used%chunkRecords == 0 {
		c.chunks = append(c.chunks, new([chunkRecords]record))
	}
	c.used++
	return c.used - 1
}

// evict drops expired entries, then arbitrary ones (map order is random)
// until a tenth of the room is free. Called with the lock held.
func (c *Cache) evict(now int64) {
	c.dropExpired(now)
	for sum, n := range c.index {
		if len(c.index) < c.max-c.max/10 {
			break
		}
		delete(c.index, sum)
		c.free = append(c.free, n)
	}
}

// dropExpired drops the entries past their time, and empties the hot
// slots whose identity is, so that neither holds memory for a token no
// longer in use. Called with the lock held.
func (c *Cache) dropExpired(now int64) {
	for sum, n := range c.index {
		if now >= c.record(n).until {
			delete(c.index, sum)
			c.free = append(c.free, n)
		}
	}
	for i := range c.hot {
		if id := c.hot[i].Load(); id != nil && now >= id.cached.until {
			c.hot[i].CompareAndSwap(id, nil)
		}
	}
}
