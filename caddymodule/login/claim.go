package login

import (
	"context"
	"time"

	"github.com/caddy-wechat/caddy-wechat/internal/repeat"
	"github.com/caddy-wechat/caddy-wechat/internal/slot"
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
	won, err := c.s.Add(ctx, values, true, c.ttl)
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
			return nil, false
		}
	}
}

// release ends the claim once the answer, if any, is remembered.
func (c *claim) release(l *Login) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := l.App.Store().Values().Delete(ctx, c.s.Key()); err != nil {
		l.logStoreFailure("releasing a code's claim", err)
	}
}
