package slot_test

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-wechat/caddy-wechat/internal/slot"
	"github.com/caddy-wechat/caddy-wechat/internal/store"
)

type value struct{ A, B string }

// TestSlotHidesTheSecretAndTheValue: the store holds neither the secret
// nor the value; another binding or secret is another slot; a value that
// does not open is no value.
func TestSlotHidesTheSecretAndTheValue(t *testing.T) {
	ctx := context.Background()
	mem := store.NewMemory()
	v := mem.Values()
	const secret = "ticket-0123456789abcdef"
	s, err := slot.New("ticket", []string{"wx0123456789abcdef"}, secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, v, value{"session-key-in-clear", "openid"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	var got value
	if ok, err := s.Get(ctx, v, &got); !ok || err != nil || got.A != "session-key-in-clear" {
		t.Fatalf("Get: %v %v %+v", ok, err, got)
	}
	other, _ := slot.New("ticket", []string{"wx1111111111111111"}, secret)
	if ok, _ := other.Get(ctx, v, &got); ok {
		t.Fatal("another binding found the value")
	}
	spy := &spyValues{Values: v}
	if err := s.Set(ctx, spy, value{"session-key-in-clear", "openid"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(spy.key, []byte(secret)) || bytes.Contains(spy.val, []byte("session-key-in-clear")) || bytes.Contains(spy.val, []byte("openid")) {
		t.Fatalf("the store saw %q = %q", spy.key, spy.val)
	}
	if err := v.Set(ctx, string(spy.key), []byte("garbage that does not open"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Get(ctx, v, &got); ok {
		t.Fatal("a value that does not open was returned")
	}
}

// TestSlotTakeOnce: of many goroutines taking one slot, one gets it.
func TestSlotTakeOnce(t *testing.T) {
	ctx := context.Background()
	v := store.NewMemory().Values()
	s, _ := slot.New("ticket", nil, "t1")
	if err := s.Set(ctx, v, value{A: "x"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var got value
			if ok, _ := s.Take(ctx, v, &got); ok && got.A == "x" {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d takers got the value", wins.Load())
	}
}

type spyValues struct {
	store.Values
	key, val []byte
}

func (s *spyValues) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	s.key, s.val = []byte(key), append([]byte(nil), val...)
	return s.Values.Set(ctx, key, val, ttl)
}
