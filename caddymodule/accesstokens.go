package caddymodule

import (
	"context"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-wechat/caddy-wechat/internal/metrics"
	"github.com/caddy-wechat/caddy-wechat/wechat"
)

// scopedTokenCache prefixes every key with the API origin, so that a
// token fetched from one api_base (a simulator, say) is never sent to
// another after a reload that changed it.
type scopedTokenCache struct {
	inner  wechat.TokenCache
	prefix string
}

func (c scopedTokenCache) Get(ctx context.Context, appID string) (string, bool, error) {
	return c.inner.Get(ctx, c.prefix+appID)
}

func (c scopedTokenCache) Set(ctx context.Context, appID, token string, ttl time.Duration) error {
	return c.inner.Set(ctx, c.prefix+appID, token, ttl)
}

func (c scopedTokenCache) CompareAndDelete(ctx context.Context, appID, token string) error {
	return c.inner.CompareAndDelete(ctx, c.prefix+appID, token)
}

// scopedLockingCache is a scopedTokenCache over a cache that also locks
// (a network store's), so that the access_token managers still see the
// wechat.TokenLocker through the scope and fetch once per cluster.
type scopedLockingCache struct {
	scopedTokenCache
	locker wechat.TokenLocker
}

func (c scopedLockingCache) Lock(ctx context.Context, appID string, ttl time.Duration) (func(), bool, error) {
	return c.locker.Lock(ctx, c.prefix+appID, ttl)
}

// scopeTokenCache scopes inner to prefix, keeping its lock if it has one.
func scopeTokenCache(inner wechat.TokenCache, prefix string) wechat.TokenCache {
	s := scopedTokenCache{inner: inner, prefix: prefix}
	if l, ok := inner.(wechat.TokenLocker); ok {
		return scopedLockingCache{scopedTokenCache: s, locker: l}
	}
	return s
}

// APIOrigin is the API origin the client really calls, so that an empty
// api_base and an explicit default share cache entries.
func (a *App) APIOrigin() string {
	if a.APIBase == "" {
		return wechat.DefaultBaseURL
	}
	return strings.TrimRight(a.APIBase, "/")
}

// provisionAccessTokens sets up one access_token manager per app. They
// all use the store's cache, so a token outlives the config that fetched
// it (the memory store survives reloads; a network store, instances); the
// managers themselves, and their in-flight fetch, are per config, which at
// worst costs one extra fetch during a reload.
func (a *App) provisionAccessTokens() {
	cache := scopeTokenCache(a.store.AccessTokens(), a.APIOrigin()+"\x00")
	a.tokens = make(map[string]*wechat.AccessTokens, len(a.Apps))
	for _, mp := range a.Apps {
		appID := mp.AppID
		refreshes := metrics.TokenRefresh.WithLabelValues(appID)
		a.tokens[appID] = &wechat.AccessTokens{
			Client: a.client,
			AppID:  appID,
			Secret: mp.secret,
			Cache:  cache,
			// The token itself is never logged, only that one was fetched:
			// a burst of these means tokens are being rejected.
			OnRefresh: func() {
				refreshes.Inc()
				if ce := a.logger.Check(zapcore.DebugLevel, "wechat access_token fetched"); ce != nil {
					ce.Write(zap.String("appid", appID))
				}
			},
			OnCacheError: func(err error) {
				if ce := a.logger.Check(zapcore.WarnLevel, "wechat access_token cache failed; fetching without it"); ce != nil {
					ce.Write(zap.String("appid", appID), zap.Error(err))
				}
			},
		}
	}
}

// WithAccessToken runs call with the app's access_token through
// AccessTokens.Do, which retries once with a fresh token when WeChat
// calls the token stale. The retry is logged (the errcode, never the
// token), so that an operator can tell a burst of stale tokens, such as
// another server forcing refreshes, from WeChat being slow.
func (a *App) WithAccessToken(ctx context.Context, appID string, call func(accessToken string) error) error {
	tokens := a.tokens[appID]
	if tokens == nil {
		return &wechat.TransportError{Op: "access_token", Kind: wechat.KindConfig, Reason: "app " + appID + " is not configured"}
	}
	first := true
	return tokens.Do(ctx, func(accessToken string) error {
		err := call(accessToken)
		if first && wechat.KindOf(err) == wechat.KindToken {
			if ce := a.logger.Check(zapcore.DebugLevel, "wechat access_token refused; fetching a new one and retrying once"); ce != nil {
				code, _ := wechat.ErrCode(err)
				ce.Write(zap.String("appid", appID), zap.Int("errcode", code))
			}
		}
		first = false
		return err
	})
}

// Interface guards
var (
	_ wechat.TokenCache  = scopedTokenCache{}
	_ wechat.TokenLocker = scopedLockingCache{}
)
