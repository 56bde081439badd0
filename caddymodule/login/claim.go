package login

import (
	"context"
	"time"

	"github.com/caddy-wechat/caddy-wechat/internal/repeat"
	"github.com/caddy-wechat/caddy-wechat/internal/slot"
	"github.com/caddy-wechat/caddy-wechat/internal/store"
)

// Several instances sharing a store may be handed the same code at once
// (a double tap that the load balancer splits). WeChat takes a code once,
// so one instance claims it in the store and exchanges it; the others
// wait for the answer it remembers. Within one instance the flight group
// already makes one exchange of concurrent requests.

// claimPoll is how often a waiting instance looks for the answer.
const claimPoll = 25 * time.Millisecond

// claim is one code's exchange, held in the store by whoever makes it.
type claim struct {
	s   *slot.Slot
	ttl time.Duration
	// tried and won: recall has already taken the claim, or found it
	// held, in its round trip.
	tried, won bool
	released   bool // by remember, in the round trip that kept the answer
}

func (l *Login) newClaim(appID, code string) (*claim, error) {
	s, err := slot.New("login-claim", []string{l.App.APIOrigin(), appID}, code)
	return &claim{s: s, ttl: l.App.CallTimeout() + 2*time.Second}, err
}

// take claims the exchange, or, when another instance holds it, waits
// until it is done: ans is that instance's answer when the client's
// repeat slot holds it. Without an answer this instance exchanges the
// code itself: it won the claim (held, to be released), or the claim
// ended without an answer for this client (another address, or a
// failure), or the store failed, and then each instance exchanges on its
// own.
func (c *claim) take(ctx context.Context, l *Login, rep *repeat.Slot) (ans *answer, held bool) {
	values := l.App.Store().Values()
	won := c.won
	var err error
	if !c.tried {
		won, err = c.s.Add(ctx, values, true, c.ttl)
	}
	if err != nil {
		l.logStoreFailure("claiming a code's exchange", err)
		return nil, false
	}
	if won {
		return nil, true
	}
	t := time.NewTicker(claimPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, false
		case <-t.C:
		}
		var got answer
		if ok, err := rep.Recall(ctx, values, &got); err == nil && ok {
			return &got, false
		}
		var busy bool
		if ok, err := c.s.Get(ctx, values, &busy); err != nil || !ok {
			// The holder remembers its answer before it releases the
			// claim: one more look sees an answer given in between.
			if ok, err := rep.Recall(ctx, values, &got); err == nil && ok {
				return &got, false
			}
			return nil, false
		}
	}
}

// recall fills out with the answer remembered for a repeat of this code
// by this client. On a store over the network it claims the exchange in
// the same round trip, for take; a claim won by a repeat is ended at once.
func (c *claim) recall(ctx context.Context, l *Login, rep *repeat.Slot, out *answer) (bool, error) {
	values := l.App.Store().Values()
	pv, ok := values.(store.PairedValues)
	if !ok {
		return rep.Recall(ctx, values, out)
	}
	found, won, err := rep.RecallClaiming(ctx, pv, out, c.s, true, c.ttl)
	if err != nil {
		return false, err
	}
	c.tried, c.won = true, won
	if found && won {
		c.release(l)
	}
	return found, nil
}

// remember keeps the answer for a repeat and, for the holder of the claim
// on a store over the network, ends the claim in the same round trip (its
// release then finds nothing left to do).
func (c *claim) remember(ctx context.Context, l *Login, rep *repeat.Slot, ans *answer, held bool) error {
	values := l.App.Store().Values()
	if pv, ok := values.(store.PairedValues); ok && held {
		if err := rep.RememberReleasing(ctx, pv, ans, c.s); err != nil {
			return err
		}
		c.released = true
		return nil
	}
	return rep.Remember(ctx, values, ans)
}

// abandon ends a claim that recall took for a request that will not
// exchange the code: refused by a limit, or joined to another's flight.
func (c *claim) abandon(l *Login) {
	if c.tried && c.won {
		c.release(l)
	}
}

// release ends the claim once the answer, if any, is remembered.
func (c *claim) release(l *Login) {
	if c.released {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := l.App.Store().Values().Delete(ctx, c.s.Key()); err != nil {
		l.logStoreFailure("releasing a code's claim", err)
	}
}
