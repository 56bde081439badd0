package pay

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-wechat/caddy-wechat/internal/metrics"
	"github.com/caddy-wechat/caddy-wechat/internal/store"
)

func TestMarksClaimAcknowledgeRelease(t *testing.T) {
	ctx := context.Background()
	mk := &marks{values: store.NewMemory().Values(), markTTL: 300 * time.Millisecond}
	key := notifyKey("1900000001", "id-1")
	if key != notifyKey("1900000001", "id-1") || key == notifyKey("1900000002", "id-1") || key == notifyKey("1900000001", "id-2") {
		t.Fatal("keys must be per merchant and id")
	}

	got, token, err := mk.claim(ctx, key)
	if err != nil || got != claimed || len(token) == 0 {
		t.Fatalf("first claim: %v %v", got, err)
	}
	// Held: another claim waits out the mark's lifetime, then gives up.
	start := time.Now()
	if got, _, _ := mk.claim(ctx, key); got != stillBusy || time.Since(start) > time.Second {
		t.Fatalf("claim while held: %v after %v", got, time.Since(start))
	}
	// Released: the next claim is its own.
	if err := mk.release(ctx, key, token); err != nil {
		t.Fatal(err)
	}
	got, token, _ = mk.claim(ctx, key)
	if got != claimed {
		t.Fatalf("claim after release: %v", got)
	}
	// Someone else's mark is not released by a stale token.
	if err := mk.release(ctx, key, []byte("in_progress:someone-else")); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := mk.claim(ctx, key); got != stillBusy {
		t.Fatalf("a foreign token released the mark: %v", got)
	}
	if err := mk.acknowledge(ctx, key); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := mk.claim(ctx, key); got != acknowledged {
		t.Fatalf("after acknowledge: %v", got)
	}
	_ = token
}

// TestMarksConcurrentClaims: of many claims at once, one wins; the others
// wait and see it acknowledged, or, when it is released, one of them wins
// in its place.
func TestMarksConcurrentClaims(t *testing.T) {
	ctx := context.Background()
	for _, release := range []bool{false, true} {
		mk := &marks{values: store.NewMemory().Values(), markTTL: 2 * time.Second}
		key := notifyKey("1900000001", "concurrent")
		var won, acked, busy atomic.Int32
		var first sync.Once
		var wg sync.WaitGroup
		for range 32 {
			wg.Go(func() {
				got, token, err := mk.claim(ctx, key)
				if err != nil {
					t.Error(err)
					return
				}
				switch got {
				case claimed:
					won.Add(1)
					time.Sleep(50 * time.Millisecond)
					failed := false
					if release {
						first.Do(func() { failed = true })
					}
					if failed {
						_ = mk.release(ctx, key, token)
					} else {
						_ = mk.acknowledge(ctx, key)
					}
				case acknowledged:
					acked.Add(1)
				case stillBusy:
					busy.Add(1)
				}
			})
		}
		wg.Wait()
		wantWon := int32(1)
		if release {
			wantWon = 2
		}
		if won.Load() != wantWon || acked.Load() != 32-wantWon || busy.Load() != 0 {
			t.Errorf("release=%v: won %d, acknowledged %d, busy %d", release, won.Load(), acked.Load(), busy.Load())
		}
	}
}

// failingValues is a store whose every call fails, as an unreachable
// Redis would.
type failingValues struct{ store.Values }

var errDown = errors.New("store down")

func (failingValues) Get(context.Context, string) ([]byte, bool, error) { return nil, false, errDown }
func (failingValues) Add(context.Context, string, []byte, time.Duration) (bool, error) {
	return false, errDown
}

func TestMarksStoreFailure(t *testing.T) {
	mk := &marks{values: failingValues{}, markTTL: time.Second}
	if _, _, err := mk.claim(context.Background(), "k"); !errors.Is(err, errDown) {
		t.Fatalf("a failing store: %v", err)
	}
}

func TestPayLabels(t *testing.T) {
	for in, want := range map[string]string{
		"TRANSACTION.SUCCESS": "TRANSACTION.SUCCESS", "REFUND.ABNORMAL": "REFUND.ABNORMAL", "REFUND.CLOSED": "REFUND.CLOSED",
		"": "unknown", "PAYSCORE.USER_OPEN_SERVICE": "other", "TRANSACTION.": "other", "TRANSACTION.success": "other",
		"REFUND.SUCCESS\n": "other", "TRANSACTION." + string(make([]byte, 60)): "other",
	} {
		if got := metrics.PayEventLabel(in); got != want {
			t.Errorf("PayEventLabel(%q) = %q, want %q", in, got, want)
		}
	}
	if metrics.PaySerialLabel("PUB_KEY_ID_1", true) != "PUB_KEY_ID_1" || metrics.PaySerialLabel("PUB_KEY_ID_1", false) != "unknown" || metrics.PaySerialLabel("", false) != "none" {
		t.Error("PaySerialLabel")
	}
}

func TestCertSerialShape(t *testing.T) {
	for s, want := range map[string]bool{
		"5157F09EFDC096DE15EBE81A47057A7232F19D0B": true, "ABC": true,
		"": false, "PUB_KEY_ID_0114232134912410000000000000": false, "5157f09e": false, "XYZ": false,
		"0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0": false,
	} {
		if looksLikeCertSerial(s) != want {
			t.Errorf("%q: %v", s, !want)
		}
	}
}
