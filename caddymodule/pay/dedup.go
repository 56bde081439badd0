package pay

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/caddy-wechat/caddy-wechat/internal/store"
)

// A notification id goes through two marks in the store. While its
// backend call runs, it holds an in-progress mark (Add: of the instances
// that receive the same notification at once, exactly one forwards it),
// which lasts a little longer than the call may, so that it cannot lapse
// under a call still running. Once the backend has taken it, it holds
// the acknowledged mark for 25 hours: WeChat Pay retries a notification
// for about 24 hours, and every retry in that time is acknowledged
// without calling the backend again. A failed call removes its mark, so
// that WeChat Pay's retry is forwarded.
const (
	ackTTL       = 25 * time.Hour
	markMargin   = 5 * time.Second
	pollFirst    = 20 * time.Millisecond
	pollMax      = 200 * time.Millisecond
	ackedValue   = "acked"
	markedPrefix = "in_progress:"
)

// claimResult is what claiming a notification id found.
type claimResult int

const (
	claimed      claimResult = iota + 1 // ours to forward
	acknowledged                        // the backend already took it
	stillBusy                           // another call still holds it after the wait
)

// marks keeps notification ids in the store.
type marks struct {
	values  store.Values
	markTTL time.Duration // how long an in-progress mark lasts
}

// notifyKey is the store key of a notification id: a hash, so that keys
// have one length whatever the id.
func notifyKey(mchid, id string) string {
	sum := sha256.Sum256([]byte(id))
	return "wechatpay/notify/" + mchid + "/" + hex.EncodeToString(sum[:16])
}

// claim takes the id for this call, or finds it acknowledged, or waits
// for another call holding it to finish, until ctx ends or the mark's own
// lifetime has passed. The token returned names this call's mark.
func (mk *marks) claim(ctx context.Context, key string) (claimResult, []byte, error) {
	token := newMarkToken()
	deadline := time.Now().Add(mk.markTTL)
	wait := pollFirst
	for {
		v, ok, err := mk.values.Get(ctx, key)
		if err != nil {
			return 0, nil, err
		}
		if ok && string(v) == ackedValue {
			return acknowledged, nil, nil
		}
		if !ok {
			won, err := mk.values.Add(ctx, key, token, mk.markTTL)
			if err != nil {
				return 0, nil, err
			}
			if won {
				return claimed, token, nil
			}
			continue // taken meanwhile: look at what took it
		}
		if time.Now().Add(wait).After(deadline) {
			return stillBusy, nil, nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return stillBusy, nil, nil
		case <-t.C:
		}
		wait = min(wait*2, pollMax)
	}
}

// acknowledge records that the backend took the notification.
func (mk *marks) acknowledge(ctx context.Context, key string) error {
	return mk.values.Set(ctx, key, []byte(ackedValue), ackTTL)
}

// release removes this call's mark after a failure, so that the retry is
// forwarded; a mark that is no longer this call's is left alone.
func (mk *marks) release(ctx context.Context, key string, token []byte) error {
	v, ok, err := mk.values.Get(ctx, key)
	if err != nil || !ok || !bytes.Equal(v, token) {
		return err
	}
	return mk.values.Delete(ctx, key)
}

func newMarkToken() []byte {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return []byte(markedPrefix + hex.EncodeToString(b))
}
