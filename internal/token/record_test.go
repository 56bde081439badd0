package token

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRecordHoldsNoPointers: the garbage collector skips memory whose type
// has no pointers, which is what keeps a full cache off every GC cycle.
func TestRecordHoldsNoPointers(t *testing.T) {
	var walk func(reflect.Type) bool
	walk = func(ty reflect.Type) bool {
		switch ty.Kind() {
		case reflect.Array:
			return walk(ty.Elem())
		case reflect.Struct:
			for i := range ty.NumField() {
				if !walk(ty.Field(i).Type) {
					return false
				}
			}
			return true
		case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
			reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
			return true
		}
		return false
	}
	for _, ty := range []reflect.Type{reflect.TypeFor[record](), reflect.TypeFor[map[uint64]uint32]().Key(), reflect.TypeFor[map[uint64]uint32]().Elem()} {
		if !walk(ty) {
			t.Errorf("%v holds a pointer", ty)
		}
	}
}

// TestCachedIdentityIsTheVerifiedOne: an identity made again from its
// record, once its hot slot went to another token, is the one the
// verifier made, field by field.
func TestCachedIdentityIsTheVerifiedOne(t *testing.T) {
	ks, _ := NewKeySet("caddy-wechat", mustKey(t))
	v := NewVerifier(ks, func(string) bool { return true })
	now := time.Now()
	c := oneHotSlot(NewCache(10)) // every other token takes it
	for _, s := range []Session{
		{AppID: "wx0123456789abcdef", OpenID: "oAlice", UnionID: "uAlice", SessionKey: "tiihtNczf5v6AKRyjwEUhQ=="},
		{AppID: "wxfedcba9876543210", OpenID: "oBob", SID: "a-session", AuthTime: now.Add(-time.Hour)},
	} {
		tok, _, err := ks.Mint(s, now, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		want, err := v.Verify(tok)
		if err != nil {
			t.Fatal(err)
		}
		c.Put(tok, want, now)
		other, _, _ := ks.Mint(Session{AppID: s.AppID, OpenID: "oSomeoneElse"}, now, time.Hour)
		oid, _ := v.Verify(other)
		c.Put(other, oid, now)
		got := c.Get(tok, now)
		if got == nil {
			t.Fatalf("%s: a miss", s.OpenID)
		}
		if c.Get(tok, now) != got {
			t.Errorf("%s: the requests carrying one token do not share its Identity", s.OpenID)
		}
		type view struct {
			OpenID, UnionID, AppID, ID, SID, sealed, kid string
			AuthTime, IssuedAt, ExpiresAt                time.Time
			repl                                         [3]any
			session                                      Session
		}
		see := func(id *Identity) view {
			return view{id.OpenID, id.UnionID, id.AppID, id.ID, id.SID, id.sealedKey, id.keyID,
				id.AuthTime.UTC(), id.IssuedAt.UTC(), id.ExpiresAt.UTC(),
				[3]any{id.ReplOpenID, id.ReplUnionID, id.ReplAppID}, id.Session()}
		}
		if g, w := see(got), see(want); !reflect.DeepEqual(g, w) {
			t.Errorf("%s: from the record\n%+v\nverified\n%+v", s.OpenID, g, w)
		}
	}
}

// TestHotSlotYieldsOnlyItsToken: tokens that share a hot slot, or whose
// signature is another's, never get each other's identity.
func TestHotSlotYieldsOnlyItsToken(t *testing.T) {
	c := oneHotSlot(NewCache(100))
	now := time.Now()
	var toks []string
	for i := range 20 {
		tok := fmt.Sprintf("eyJoIjoxfQ.payload%02d.sig%02d", i, i)
		c.Put(tok, &Identity{OpenID: fmt.Sprint("o", i), ExpiresAt: now.Add(time.Hour)}, now)
		toks = append(toks, tok)
	}
	for round := range 2 {
		for i, tok := range toks {
			if id := c.Get(tok, now); id == nil || id.OpenID != fmt.Sprint("o", i) {
				t.Fatalf("round %d: token %d has identity %v", round, i, id)
			}
			forged := tok[:strings.LastIndexByte(tok, '.')+1] + toks[(i+1)%len(toks)][len(tok)-5:]
			if id := c.Get(forged, now); id != nil {
				t.Fatalf("a token with another's signature has identity %v", id)
			}
		}
	}
}

// oneHotSlot makes every token of c compete for one hot slot.
func oneHotSlot(c *Cache) *Cache {
	c.hot = make([]atomic.Pointer[Identity], 1)
	return c
}

// TestOversizedIdentityIsNotCached: an identity larger than a record is
// verified on every request rather than cut short.
func TestOversizedIdentityIsNotCached(t *testing.T) {
	c := NewCache(10)
	now := time.Now()
	id := &Identity{OpenID: strings.Repeat("o", recordData), ExpiresAt: now.Add(time.Hour)}
	if got := c.Put("a.b.c", id, now); got != id {
		t.Fatal("Put did not hand back the identity it could not cache")
	}
	if c.Get("a.b.c", now) != nil || c.Len() != 0 {
		t.Fatal("an identity too large for a record was cached")
	}
}

// TestCacheUnderConcurrentUse: gets, puts, evictions and sweeps at once
// (run under -race by make test) never give a token another's identity.
func TestCacheUnderConcurrentUse(t *testing.T) {
	c := NewCache(64)
	start := time.Now()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 3000 {
				n := (i*7 + g) % 200
				now := start.Add(time.Duration(i) * 50 * time.Millisecond)
				tok := fmt.Sprintf("h.p%03d.s%03d", n, n)
				if id := c.Get(tok, now); id != nil {
					if id.OpenID != fmt.Sprint("o", n) {
						t.Errorf("token %d has identity %v", n, id)
						return
					}
					continue
				}
				id := c.Put(tok, &Identity{OpenID: fmt.Sprint("o", n), ExpiresAt: now.Add(time.Minute)}, now)
				if id.OpenID != fmt.Sprint("o", n) {
					t.Errorf("token %d was put as %v", n, id)
					return
				}
			}
		}()
	}
	wg.Wait()
	if c.Len() > 64 {
		t.Fatalf("%d entries, bound 64", c.Len())
	}
}
