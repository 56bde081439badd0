package login

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-wechat/caddy-wechat/internal/metrics"
	"github.com/caddy-wechat/caddy-wechat/internal/reply"
	"github.com/caddy-wechat/caddy-wechat/internal/store"
)

// RateLimit is a number of requests per window.
type RateLimit struct {
	// Requests allowed per window; 0 turns the limit off.
	Requests int `json:"requests,omitempty"`
	// Window is the counting period.
	Window caddy.Duration `json:"window,omitempty"`
}

func (l *RateLimit) enabled() bool { return l != nil && l.Requests > 0 && l.Window > 0 }

var (
	defaultClientRate = RateLimit{Requests: 30, Window: caddy.Duration(time.Minute)}
	defaultAppRate    = RateLimit{Requests: 6000, Window: caddy.Duration(time.Minute)}
)

// limit counts one login against lim under key in the store. The key
// also names the API origin and the limit itself: counters outlive
// reloads (they are in the store), so a login limit configured anew, or
// pointed at another WeChat, starts from zero, while the same limit
// keeps counting across a reload and across instances. A full
// memory store refuses a new client rather than grow. While a network
// store fails, the login is counted by this instance alone: refusing
// every login while the store is down would lock everyone out, and
// counting nothing would lift the limit; each instance's own count keeps
// a limit of N at N per instance, as a warning and
// caddy_wechat_store_fallbacks_total{what="login_counters"} say.
func (l *Login) limit(ctx context.Context, scope, key string, lim *RateLimit) *reply.Error {
	if !lim.enabled() {
		return nil
	}
	key = "login:" + l.App.APIOrigin() + "\x00" + strconv.Itoa(lim.Requests) + "/" + time.Duration(lim.Window).String() + "\x00" + key
	ok, wait, err := l.App.Store().Counters().Allow(ctx, key, lim.Requests, time.Duration(lim.Window))
	if err != nil && !errors.Is(err, store.ErrFull) {
		metrics.StoreFallbacks.WithLabelValues("login_counters").Inc()
		if ce := l.Logger.Check(zapcore.WarnLevel, "wechat store failed counting a login; counting it in this instance alone"); ce != nil {
			ce.Write(zap.String("scope", scope), zap.Error(err))
		}
		ok, wait, err = l.App.LocalCounters().Allow(ctx, key, lim.Requests, time.Duration(lim.Window))
	}
	switch {
	case errors.Is(err, store.ErrFull):
		metrics.RateLimited.WithLabelValues(scope).Inc()
		metrics.CountLogin("rate_limited", 0, false)
		return reply.RateLimited("too many clients are logging in; try again later", time.Second)
	case err != nil:
		return nil // the local counters cannot fail but by being full
	case !ok:
		metrics.RateLimited.WithLabelValues(scope).Inc()
		metrics.CountLogin("rate_limited", 0, false)
		return reply.RateLimited("too many login attempts; try again later", wait)
	}
	return nil
}
