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
	a.stopFeed = revs.Subscribe(apply)
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
	metrics.Revocations.Set(float64(a.revoked.Len()))
	return nil
}

// applyRevocation puts one revocation into a local copy.
func applyRevocation(set *token.Revoked, r store.Revocation) {
	if r.SID != "" {
		set.RevokeSession(r.SID, r.Until)
		return
	}
	set.RevokeUser(r.AppID, r.OpenID, r.NotBefore, r.Until)
}
