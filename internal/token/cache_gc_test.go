package token

import (
	"runtime"
	"testing"
	"time"
)

// BenchmarkGCWithFullCache is one garbage collection with DefaultCacheSize
// verified tokens cached: what every GC cycle of a busy gate pays for the
// cache, since a collection marks all that is live.
func BenchmarkGCWithFullCache(b *testing.B) {
	c := fullCache(b)
	b.ResetTimer()
	for b.Loop() {
		runtime.GC()
	}
	runtime.KeepAlive(c)
}

// fullCache is a cache of DefaultCacheSize tokens of distinct users.
func fullCache(tb testing.TB) *Cache {
	v, toks := distinctUsers(tb, DefaultCacheSize)
	now := time.Now()
	c := NewCache(DefaultCacheSize)
	for _, tok := range toks {
		verifyAndPut(tb, v, c, tok, now)
	}
	return c
}
