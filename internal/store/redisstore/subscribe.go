package redisstore

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-wechat/caddy-wechat/internal/store"
)

// A subscription listens on the channel and, besides, reads every
// revocation again (a resync) when it is first established, after every
// reconnect, and every Resync: a message is lost while the connection is
// down, and pub/sub never replays it, so the full read is what bounds how
// long a missed revocation can go unseen.
//
// Its own loop, rather than go-redis's Channel, so that it can tell a
// (re)subscription from a message, resync in the same goroutine as it
// delivers (fn is never called concurrently), and drop a connection that
// has gone silent.
const (
	// receiveWait is how long one read waits at most before the loop
	// looks at its clock, and how long a connection may be silent before
	// it is sent a PING.
	receiveWait = time.Second
	// silentAfter is how long a connection may go without a message or a
	// PONG before it is dropped and dialed again: it is half-open, as
	// after a network partition, where no read ever fails.
	silentAfter = 3 * receiveWait
	// retryMin and retryMax bound the pause after a failed read, which
	// while Redis is down is a failed dial.
	retryMin = 100 * time.Millisecond
	retryMax = time.Second
	// resyncRetry is how soon a failed resync is tried again.
	resyncRetry = time.Second
	// pingEvery is how often a live subscription is sent a PING even when
	// messages flow: its PONG, which Redis sends after every message
	// published before the PING, proves the local copy complete as of the
	// PING, so the copy's age stays near this between resyncs.
	pingEvery = time.Second
)

type subscription struct {
	s      *Store
	fn     func(store.Revocation)
	synced func(time.Time) // nil, or told of each full read
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once

	mu     sync.Mutex
	ps     *redis.PubSub
	closed bool
}

// Subscribe implements store.Revocations. fn gets every revocation
// published from now on, and every current one again at each resync, so
// it must accept the same revocation twice (the local copy does). It
// returns at once, even while Redis is down.
func (v *revocations) Subscribe(fn func(store.Revocation)) (stop func()) {
	return v.SubscribeSynced(fn, nil)
}

// SubscribeSynced implements store.SyncedSubscriber.
func (v *revocations) SubscribeSynced(fn func(store.Revocation), synced func(time.Time)) (stop func()) {
	s := v.s
	ctx, cancel := context.WithCancel(context.Background())
	sub := &subscription{s: s, fn: fn, synced: synced, ctx: ctx, cancel: cancel, done: make(chan struct{})}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		cancel()
		return func() {}
	}
	s.subs[sub] = struct{}{}
	s.mu.Unlock()
	go sub.run()
	return sub.stop
}

// stop ends the subscription and waits for its goroutine.
func (sub *subscription) stop() {
	sub.once.Do(func() {
		sub.cancel()
		sub.mu.Lock()
		sub.closed = true
		if sub.ps != nil {
			// Unblocks a read under way.
			_ = sub.ps.Close()
			sub.ps = nil
		}
		sub.mu.Unlock()
		<-sub.done
		sub.s.mu.Lock()
		delete(sub.s.subs, sub)
		sub.s.mu.Unlock()
	})
}

// pubsub returns the current connection's PubSub, making one if there is
// none; nil once stopped. go-redis dials it lazily and subscribes again by
// itself after a failed read.
func (sub *subscription) pubsub() *redis.PubSub {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.closed {
		return nil
	}
	if sub.ps == nil {
		sub.ps = sub.s.c.Subscribe(sub.ctx, sub.s.channel)
	}
	return sub.ps
}

// drop closes the current PubSub, so that the next read dials anew.
func (sub *subscription) drop() {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.ps != nil {
		_ = sub.ps.Close()
		sub.ps = nil
	}
}

func (sub *subscription) run() {
	defer close(sub.done)
	defer sub.drop()
	established := false
	pause := retryMin
	heard := time.Now()
	var pingedAt, lastPing time.Time // pingedAt is zero when no PING awaits its PONG
	// current: a full read succeeded on this connection, and the
	// connection has not failed since; only then does a PONG prove the
	// copy complete.
	current := false
	nextResync := time.Now().Add(sub.s.resync)
	for {
		ps := sub.pubsub()
		if ps == nil {
			return
		}
		// Wait no longer than the next resync, which runs between reads.
		wait := min(receiveWait, max(time.Until(nextResync), 10*time.Millisecond))
		msg, err := ps.ReceiveTimeout(sub.ctx, wait)
		if sub.ctx.Err() != nil {
			return
		}
		now := time.Now()
		switch {
		case err == nil:
			heard, pause = now, retryMin
			switch m := msg.(type) {
			case *redis.Subscription:
				if m.Kind != "subscribe" {
					break
				}
				// The first confirmation, or one after a reconnect: what
				// was published meanwhile is lost, so read everything.
				if established && sub.s.opts.OnReconnect != nil {
					sub.s.opts.OnReconnect()
				}
				established = true
				nextResync, current = sub.resync(now)
			case *redis.Message:
				if r, ok := decodeMessage(m.Payload); ok && now.Before(r.Until) {
					sub.fn(r)
				}
			case *redis.Pong:
				if current && !pingedAt.IsZero() && sub.synced != nil {
					sub.synced(pingedAt)
				}
				pingedAt = time.Time{}
			}
		case isTimeout(err):
		default:
			// go-redis has dropped the connection and dials again on the
			// next read; while Redis is down, each of those fails at once.
			select {
			case <-sub.ctx.Done():
				return
			case <-time.After(pause):
			}
			pause = min(2*pause, retryMax)
			heard, pingedAt, current = time.Now(), time.Time{}, false
		}
		if now.Sub(heard) > silentAfter || (!pingedAt.IsZero() && now.Sub(pingedAt) > silentAfter) {
			// Half-open, as after a network partition, where no read
			// ever fails: dial anew.
			sub.drop()
			heard, pingedAt, lastPing, current = now, time.Time{}, now, false
			continue
		}
		if now := time.Now(); pingedAt.IsZero() && now.Sub(heard) < silentAfter && now.Sub(lastPing) >= pingEvery {
			// A failed write makes go-redis reconnect and subscribe again.
			_ = ps.Ping(sub.ctx)
			pingedAt, lastPing = now, now
		}
		if !time.Now().Before(nextResync) {
			var ok bool
			if nextResync, ok = sub.resync(time.Now()); !ok {
				current = false
			} else if established {
				current = true
			}
		}
	}
}

// resync reads every revocation and hands each to fn, and returns when
// the next resync is due (after Resync, or sooner when this one failed)
// and whether it succeeded.
func (sub *subscription) resync(now time.Time) (time.Time, bool) {
	list, err := sub.s.revs.List(sub.ctx)
	if sub.s.opts.OnResync != nil && sub.ctx.Err() == nil {
		sub.s.opts.OnResync(err)
	}
	if err != nil {
		return now.Add(min(resyncRetry, sub.s.resync)), false
	}
	for _, r := range list {
		sub.fn(r)
	}
	if sub.synced != nil {
		sub.synced(now)
	}
	return now.Add(sub.s.resync), true
}

// isTimeout reports a read that waited receiveWait for nothing, as
// opposed to a connection that failed.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
