package token

import (
	"fmt"
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
	ks, _ := NewKeySet("caddy-wechat", mustKey(tb))
	v := NewVerifier(ks, func(string) bool { return true })
	now := time.Now()
	c := NewCache(DefaultCacheSize)
	for i := range DefaultCacheSize {
		tok, _, err := ks.Mint(Session{AppID: "wx0123456789abcdef", OpenID: fmt.Sprintf("oMem%024d", i), UnionID: fmt.Sprintf("uMem%024d", i), SessionKey: "tiihtNczf5v6AKRyjwEUhQ=="}, now, time.Hour)
		if err != nil {
			tb.Fatal(err)
		}
		id, err := v.Verify(tok)
		if err != nil {
			tb.Fatal(err)
		}
		c.Put(tok, id, now)
	}
	return c
}
