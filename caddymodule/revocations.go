package caddymodule

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-wechat/caddy-wechat/internal/metrics"
	"github.com/caddy-wechat/caddy-wechat/internal/store"
	"github.com/caddy-wechat/caddy-wechat/internal/token"
)

// feedRevocations loads the store's revocations into the local copy the
// gate asks on every request, and keeps it current from the store's
// subscription, so that no request waits on the store.
func (a *App) feedRevocations(ctx caddy.Context) error {
	a.revoked = token.NewRevoked()
	revs := a.store.Revocations()
	var nextSweep atomic.Int64
	apply := func(r store.Revocation) {
		now := time.Now()
		if n := nextSweep.Load(); now.UnixNano() >= n && nextSweep.CompareAndSwap(n, now.Add(time.Minute).UnixNano()) {
			a.revoked.Sweep(now)
		}
		applyRevocation(a.revoked, r)
		metrics.Revocations.Set(float64(a.revoked.Len()))
	}
	// Subscribe first, so that nothing revoked between the List and the
	// subscription is missed; applying a revocation twice is harmless.
	if ss, ok := revs.(store.SyncedSubscriber); ok {
		a.stopFeed = ss.SubscribeSynced(apply, a.markSynced)
		if st, ok := a.store.(interface{ Staleness() time.Duration }); ok {
			a.maxStaleness = st.Staleness()
		}
		a.stopAge = a.reportAge()
	} else {
		a.stopFeed = revs.Subscribe(apply)
	}
	start := time.Now()
	list, err := revs.List(context.WithoutCancel(ctx))
	if _, resyncs := revs.(store.Freshness); err != nil && resyncs {
		// A network store's subscription loads everything by itself once
		// the store answers, and its LastSync tells the gate how old the
		// copy is meanwhile. Failing here would keep Caddy from starting,
		// or a reload from applying, while Redis is down.
		if ce := a.logger.Check(zapcore.WarnLevel, "wechat: cannot load the revocations from the store yet; they load when it answers"); ce != nil {
			ce.Write(zap.Error(err))
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("wechat: loading revocations from the store: %v", err)
	}
	for _, r := range list {
		apply(r)
	}
	a.markSynced(start)
	metrics.Revocations.Set(float64(a.revoked.Len()))
	return nil
}

// markSynced records that the local copy held every revocation made
// before t.
func (a *App) markSynced(t time.Time) {
	n := t.UnixNano()
	for old := a.syncedAt.Load(); n > old && !a.syncedAt.CompareAndSwap(old, n); old = a.syncedAt.Load() {
	}
}

// RevocationsStale reports whether the local copy of the revocations has
// gone without a full synchronisation for longer than the store's
// max_staleness: token-bearing requests are then refused (503
// store_unavailable), since a session ended meanwhile on another instance
// could pass. Never with a store that is always current, or with
// max_staleness off.
func (a *App) RevocationsStale(now time.Time) bool {
	if a.maxStaleness <= 0 {
		return false
	}
	last := a.syncedAt.Load()
	return last == 0 || now.UnixNano()-last > int64(a.maxStaleness)
}

// ageReportEvery is how often the age of the local copy is published.
const ageReportEvery = 2 * time.Second

// reportAge keeps caddy_wechat_revocations_age_seconds current until the
// returned function is called.
func (a *App) reportAge() (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(ageReportEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				if last := a.syncedAt.Load(); last != 0 {
					metrics.RevocationsAge.Set(now.Sub(time.Unix(0, last)).Seconds())
				}
			}
		}
	}()
	return func() { close(done) }
}

// applyRevocation puts one revocation into a local copy.
func applyRevocation(set *token.Revoked, r store.Revocation) {
	if r.SID != "" {
		set.RevokeSession(r.SID, r.Until)
		return
	}
	set.RevokeUser(r.AppID, r.OpenID, r.NotBefore, r.Until)
}
