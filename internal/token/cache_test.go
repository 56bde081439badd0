package token

import (
	"strconv"
	"testing"
	"time"
)

// TestVerifiedCacheBounds checks the cache's three limits: a hit never
// outlives the token's exp, expired entries are swept as time passes, and
// the table never holds more than its bound.
func TestVerifiedCacheBounds(t *testing.T) {
	c := NewCache(100)
	now := time.Now()
	id := &Identity{OpenID: "o", ExpiresAt: now.Add(time.Second)}
	c.Put("tok", id, now)
	if c.Get("tok", now) != id || c.Get("tok2", now) != nil {
		t.Fatal("hit or miss wrong")
	}
	if c.Get("tok", now.Add(2*time.Second)) != nil {
		t.Fatal("an entry outlived its token's exp")
	}

	long := &Identity{OpenID: "o", ExpiresAt: now.Add(time.Hour)}
	for i := 0; i < 50; i++ {
		c.Put("a"+strconv.Itoa(i), long, now)
	}
	later := now.Add(MaxCacheAge + sweepEvery + time.Second)
	c.Put("fresh", long, later)
	if n := len(c.m); n != 1 {
		t.Fatalf("after a sweep %d entries remain, want only the fresh one", n)
	}
	for i := 0; i < 1000; i++ {
		c.Put("b"+strconv.Itoa(i), long, later)
		if len(c.m) > 100 {
			t.Fatalf("cache grew to %d entries, bound 100", len(c.m))
		}
	}
}
