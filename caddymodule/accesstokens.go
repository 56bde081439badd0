package caddymodule

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-wechat/caddy-wechat/wechat"
)

// tokenPool holds the one access_token cache every config shares. Each
// config load, caddy reload included, provisions a new App; a cache owned
// by the App would die with it and cost one stable_token call per app per
// reload, against a daily quota.
var tokenPool = caddy.NewUsagePool()

const tokenPoolKey = "wechat_tokens"

// tokenHolders records which App instances hold a reference in tokenPool,
// so that Cleanup releases exactly once even when Caddy calls it after a
// failed Provision or Validate. It is kept outside App so that the handlers
// of a stopping config can still read a.tokens while Cleanup runs.
var tokenHolders sync.Map // *App -> struct{}

// pooledState is what outlives a config in tokenPool: the access_token
// cache and the short-lived values (remembered answers). Neither has a
// goroutine to stop, so Destruct has nothing to do.
type pooledState struct {
	tokens wechat.TokenCache
	values *memoryValues
}

func (pooledState) Destruct() error { return nil }

// scopedTokenCache prefixes every key with the API origin, so that a
// token fetched from one api_base (a simulator, say) is never sent to
// another after a reload that changed it. The TokenCache interface is
// kept, so a shared implementation can replace the memory cache.
type scopedTokenCache struct {
	inner  wechat.TokenCache
	prefix string
}

func (c scopedTokenCache) Get(appID string) (string, bool) { return c.inner.Get(c.prefix + appID) }

func (c scopedTokenCache) Set(appID, token string, ttl time.Duration) {
	c.inner.Set(c.prefix+appID, token, ttl)
}

func (c scopedTokenCache) CompareAndDelete(appID, token string) {
	c.inner.CompareAndDelete(c.prefix+appID, token)
}

// apiOrigin is the API origin the client really calls, so that an empty
// api_base and an explicit default share cache entries.
func (a *App) apiOrigin() string {
	if a.APIBase == "" {
		return wechat.DefaultBaseURL
	}
	return strings.TrimRight(a.APIBase, "/")
}

// provisionAccessTokens sets up one access_token manager per app. They
// all use the cache in tokenPool, so a token outlives the config that
// fetched it; the managers themselves (and their in-flight fetch) are per
// config, which at worst costs one extra fetch during a reload.
func (a *App) provisionAccessTokens() error {
	v, _, err := tokenPool.LoadOrNew(tokenPoolKey, func() (caddy.Destructor, error) {
		return pooledState{tokens: wechat.NewMemoryTokenCache(), values: newMemoryValues(maxMemoryValues)}, nil
	})
	if err != nil {
		return err
	}
	tokenHolders.Store(a, struct{}{})
	state := v.(pooledState)
	a.values = state.values
	cache := scopedTokenCache{inner: state.tokens, prefix: a.apiOrigin() + "\x00"}

	a.tokens = make(map[string]*wechat.AccessTokens, len(a.Apps))
	for _, mp := range a.Apps {
		appID := mp.AppID
		refreshes := metrics.tokenRefresh.WithLabelValues(appID)
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
		}
	}
	return nil
}

// withAccessToken runs call with the app's access_token through
// AccessTokens.Do, which retries once with a fresh token when WeChat
// calls the token stale. The retry is logged (the errcode, never the
// token), so that an operator can tell a burst of stale tokens, such as
// another server forcing refreshes, from WeChat being slow.
func (a *App) withAccessToken(ctx context.Context, appID string, call func(token string) error) error {
	tokens := a.tokens[appID]
	if tokens == nil {
		return &wechat.TransportError{Op: "access_token", Kind: wechat.KindConfig, Reason: "app " + appID + " is not configured"}
	}
	first := true
	return tokens.Do(ctx, func(token string) error {
		err := call(token)
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

// releaseAccessTokens drops this config's reference to the shared cache.
func (a *App) releaseAccessTokens() error {
	if _, held := tokenHolders.LoadAndDelete(a); !held {
		return nil
	}
	_, err := tokenPool.Delete(tokenPoolKey)
	return err
}

// Interface guards
var (
	_ wechat.TokenCache = scopedTokenCache{}
	_ caddy.Destructor  = pooledState{}
)
