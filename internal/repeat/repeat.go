// Package repeat remembers the answer to a single-use code for a short
// while, so that the same code sent again (a double tap, a retry after a
// lost response) gets that answer instead of WeChat's 40163 or 40029.
package repeat

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/caddy-wechat/caddy-wechat/internal/slot"
	"github.com/caddy-wechat/caddy-wechat/internal/store"
)

// DefaultWindow is how long an answer is remembered. A double tap, or a
// retry after a lost response, arrives within seconds.
const DefaultWindow = 30 * time.Second

var window atomic.Int64

func init() { window.Store(int64(DefaultWindow)) }

// SetWindow changes how long answers are remembered from now on, for
// tests that must see the answer after the window, and returns a function
// that puts the old window back.
func SetWindow(d time.Duration) (restore func()) {
	old := window.Swap(int64(d))
	return func() { window.Store(old) }
}

// Slot is where one code's answer is kept: a slot of package slot, keyed
// by a hash of the code and sealed under it.
type Slot struct{ s *slot.Slot }

// NewSlot derives the slot for code in scope ("login", "phone"), bound to
// every string in binding: for login the API origin, the signing key's
// kid, the appid and the client address; for phone the user instead of
// the address. The same code under another binding is another slot, so it
// gets today's answer.
func NewSlot(scope string, binding []string, code string) (*Slot, error) {
	s, err := slot.New("repeat:"+scope, binding, code)
	return &Slot{s}, err
}

// Recall fills out with the remembered answer and reports whether there
// was one.
func (s *Slot) Recall(ctx context.Context, v store.Values, out any) (bool, error) {
	return s.s.Get(ctx, v, out)
}

// Remember keeps val for the window.
func (s *Slot) Remember(ctx context.Context, v store.Values, val any) error {
	return s.s.Set(ctx, v, val, time.Duration(window.Load()))
}

// RecallClaiming is Recall and, in the same round trip, an Add of val to
// claim for ttl: found tells whether there was an answer, claimed whether
// the claim was added.
func (s *Slot) RecallClaiming(ctx context.Context, v store.PairedValues, out any, claim *slot.Slot, val any, ttl time.Duration) (found, claimed bool, err error) {
	return s.s.GetAdd(ctx, v, out, claim, val, ttl)
}

// RememberReleasing is Remember and then the removal of claim, in one
// round trip.
func (s *Slot) RememberReleasing(ctx context.Context, v store.PairedValues, val any, claim *slot.Slot) error {
	return s.s.SetDelete(ctx, v, val, time.Duration(window.Load()), claim)
}
