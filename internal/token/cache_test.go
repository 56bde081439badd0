package token

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestVerifiedCacheBounds checks the cache's three limits: a hit never
// outlives the token's exp, expired entries are swept as time passes, and
// the table never holds more than its bound.
func TestVerifiedCacheBounds(t *testing.T) {
	c := NewCache(100)
	now := time.Now()
	id := c.Put("tok", &Identity{OpenID: "o", ExpiresAt: now.Add(time.Second)}, now)
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
	if n := c.Len(); n != 1 {
		t.Fatalf("after a sweep %d entries remain, want only the fresh one", n)
	}
	for i := 0; i < 1000; i++ {
		c.Put("b"+strconv.Itoa(i), long, later)
		if c.Len() > 100 {
			t.Fatalf("cache grew to %d entries, bound 100", c.Len())
		}
	}
}

// TestCacheBindsTheWholeToken: a token that carries a cached token's
// signature but differs anywhere else is a miss, never that identity.
func TestCacheBindsTheWholeToken(t *testing.T) {
	c := NewCache(10)
	now := time.Now()
	tok := "eyJoZWFkZXIifQ.eyJzdWIiOiJvQWxpY2UifQ.c2lnbmF0dXJl"
	id := c.Put(tok, &Identity{OpenID: "oAlice", ExpiresAt: now.Add(time.Hour)}, now)
	if c.Get(tok, now) != id {
		t.Fatal("the cached token is a miss")
	}
	sig := tok[strings.LastIndexByte(tok, '.'):]
	for _, other := range []string{
		"eyJoZWFkZXIifQ.eyJzdWIiOiJvTWFsbG9yeSJ9" + sig, // another payload
		"eyJoZWFkZXIifQ.eyJzdWIiOiJvQWxpY2UiFQ" + sig,   // the same length
		"eyJoZWFkZXIiFQ.eyJzdWIiOiJvQWxpY2UifQ" + sig,   // another header
		"x" + tok[1:], // one byte
		sig[1:],       // the signature alone
	} {
		if c.Get(other, now) != nil {
			t.Errorf("%q has the cached identity", other)
		}
	}
}

// TestCacheMemory measures the heap that DefaultCacheSize verified tokens
// hold in the cache (identities included: the verifier makes them for the
// cache alone), against the budget of 64 MB for 100,000 tokens.
func TestCacheMemory(t *testing.T) {
	v, toks := distinctUsers(t, DefaultCacheSize)
	now := time.Now()
	c := NewCache(DefaultCacheSize)
	before := heapInUse()
	for _, tok := range toks {
		verifyAndPut(t, v, c, tok, now)
	}
	after := heapInUse()
	if c.Len() != DefaultCacheSize {
		t.Fatalf("the cache holds %d tokens, want %d", c.Len(), DefaultCacheSize)
	}
	per := float64(after-before) / DefaultCacheSize
	t.Logf("%d tokens of %d bytes: %.1f MB, %.0f bytes an entry", DefaultCacheSize, len(toks[0]), float64(after-before)/1e6, per)
	if after-before > 64<<20 {
		t.Fatalf("the cache holds %.1f MB for %d tokens, budget 64 MB", float64(after-before)/(1<<20), DefaultCacheSize)
	}
	runtime.KeepAlive(toks)
	runtime.KeepAlive(c)
}

// distinctUsers mints a token for each of n users, unionid and sealed
// session_key included, and gives the verifier that accepts them.
func distinctUsers(tb testing.TB, n int) (*Verifier, []string) {
	ks, _ := NewKeySet("caddy-wechat", mustKey(tb))
	now := time.Now()
	toks := make([]string, n)
	for i := range toks {
		tok, _, err := ks.Mint(Session{AppID: "wx0123456789abcdef", OpenID: fmt.Sprintf("oMem%024d", i), UnionID: fmt.Sprintf("uMem%024d", i), SessionKey: "tiihtNczf5v6AKRyjwEUhQ=="}, now, time.Hour)
		if err != nil {
			tb.Fatal(err)
		}
		toks[i] = tok
	}
	return NewVerifier(ks, func(string) bool { return true }), toks
}

func verifyAndPut(tb testing.TB, v *Verifier, c *Cache, tok string, now time.Time) {
	id, err := v.Verify(tok)
	if err != nil {
		tb.Fatal(err)
	}
	c.Put(tok, id, now)
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func mustKey(t testing.TB) *Key {
	k, err := NewKey(HS256, []byte("memory-test-key-0123456789-abcdefghijklm"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}
