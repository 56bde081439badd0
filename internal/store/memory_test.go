package store_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/caddy-wechat/caddy-wechat/internal/store"
	"github.com/caddy-wechat/caddy-wechat/internal/store/storetest"
)

func TestMemoryContract(t *testing.T) {
	storetest.Run(t, func(*testing.T) store.Store { return store.NewMemory() })
}

// TestMemoryShared: one process's instances (its configs across reloads)
// share the memory store, and agree as instances sharing Redis do.
func TestMemoryShared(t *testing.T) {
	storetest.RunShared(t, storetest.Shared{New: func(*testing.T) (store.Store, store.Store) {
		m := store.NewMemory()
		return m, m
	}})
}

// TestMemoryBounds: a full table refuses new keys and keeps counting the
// old ones; expired entries make room.
func TestMemoryBounds(t *testing.T) {
	ctx := context.Background()
	m := store.NewMemory()
	c := m.Counters()
	for i := range store.MaxMemoryCounters {
		if ok, _, err := c.Allow(ctx, "k"+strconv.Itoa(i), 10, time.Minute); !ok || err != nil {
			t.Fatalf("key %d: %v %v", i, ok, err)
		}
	}
	if _, _, err := c.Allow(ctx, "one-too-many", 10, time.Minute); !errors.Is(err, store.ErrFull) {
		t.Fatalf("a new key in a full table: %v", err)
	}
	if ok, _, err := c.Allow(ctx, "k7", 10, time.Minute); !ok || err != nil {
		t.Fatalf("an old key in a full table: %v %v", ok, err)
	}
}
