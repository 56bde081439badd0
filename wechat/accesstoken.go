package wechat

import (
	"context"
	"sync"
	"time"
)

// DefaultRefreshMargin is how long before expires_in runs out a cached
// access_token is dropped, when AccessTokens.RefreshMargin is not set.
// WeChat rotates a stable token 5 minutes before it expires.
const DefaultRefreshMargin = 5 * time.Minute

// tokenFetchTimeout bounds one stable_token fetch. The fetch runs apart
// from any caller's context, since it serves every caller waiting on it,
// so it needs its own limit or a hung WeChat would stall them all.
const tokenFetchTimeout = 15 * time.Second

// AccessTokens manages the access_token of one appid, safe for
// concurrent use. It only ever uses stable_token in normal mode, which
// does not invalidate tokens held by other instances; it never forces a
// refresh on its own. Set the fields before first use.
type AccessTokens struct {
	Client        *Client // nil means a zero Client
	AppID, Secret string
	Cache         TokenCache // nil means a private NewMemoryTokenCache
	// RefreshMargin: cache until this long before expires_in runs out
	// (zero or less means DefaultRefreshMargin, but never more than half
	// of expires_in).
	RefreshMargin time.Duration
	OnRefresh     func() // optional hook, called after each successful fetch (for metrics)
	// OnCacheError, when set, is told of every error of Cache: the call
	// goes on without the cache (a fetch, normal mode), so a cache outage
	// costs stable_token calls, never a failed request.
	OnCacheError func(error)

	once     sync.Once
	defCache TokenCache
	mu       sync.Mutex
	inflight *tokenFetch // the fetch under way, shared by all waiters
}

// tokenFetch is one stable_token request; done closes when token and err
// are set.
type tokenFetch struct {
	done  chan struct{}
	token string
	err   error
}

// Token returns the cached access_token, or fetches it once however many
// goroutines ask at the same moment: later callers wait for the fetch
// already under way, each giving up when its own ctx ends.
func (a *AccessTokens) Token(ctx context.Context) (string, error) {
	c := a.cache()
	if tok, ok := a.cached(ctx, c); ok {
		return tok, nil
	}
	a.mu.Lock()
	f := a.inflight
	if f == nil {
		// A fetch may have finished since the Get above.
		if tok, ok := a.cached(ctx, c); ok {
			a.mu.Unlock()
			return tok, nil
		}
		f = &tokenFetch{done: make(chan struct{})}
		a.inflight = f
		go a.fetch(context.WithoutCancel(ctx), c, f)
	}
	a.mu.Unlock()
	select {
	case <-f.done:
		return f.token, f.err
	case <-ctx.Done():
		return "", transportError("stable_token", ctx.Err())
	}
}

// Do runs call with the token. If call fails with KindToken (40001, 40014,
// 42001), the token is dropped from the cache only if it is still the one
// that failed (another goroutine may have replaced it already), a token is
// got again, and call is retried once. A second failure is returned.
func (a *AccessTokens) Do(ctx context.Context, call func(token string) error) error {
	tok, err := a.Token(ctx)
	if err != nil {
		return err
	}
	if err = call(tok); KindOf(err) != KindToken {
		return err
	}
	a.cacheError(a.cache().CompareAndDelete(ctx, a.AppID, tok))
	if tok, err = a.Token(ctx); err != nil {
		return err
	}
	return call(tok)
}

func (a *AccessTokens) fetch(ctx context.Context, c TokenCache, f *tokenFetch) {
	ctx, cancel := context.WithTimeout(ctx, tokenFetchTimeout)
	defer cancel()
	defer close(f.done)
	defer func() {
		a.mu.Lock()
		a.inflight = nil
		a.mu.Unlock()
	}()
	cl := a.Client
	if cl == nil {
		cl = &Client{}
	}
	tok, exp, err := cl.StableToken(ctx, a.AppID, a.Secret, false)
	f.token, f.err = tok, err
	if err != nil {
		return
	}
	// Cache before clearing inflight, so that no caller in between
	// starts a second fetch.
	a.cacheError(c.Set(ctx, a.AppID, tok, exp-a.margin(exp)))
	if a.OnRefresh != nil {
		a.OnRefresh()
	}
}

// cached asks the cache; an error counts as a miss.
func (a *AccessTokens) cached(ctx context.Context, c TokenCache) (string, bool) {
	tok, ok, err := c.Get(ctx, a.AppID)
	a.cacheError(err)
	return tok, ok && err == nil
}

func (a *AccessTokens) cacheError(err error) {
	if err != nil && a.OnCacheError != nil {
		a.OnCacheError(err)
	}
}

func (a *AccessTokens) margin(expiresIn time.Duration) time.Duration {
	m := a.RefreshMargin
	if m <= 0 {
		m = DefaultRefreshMargin
	}
	return min(m, expiresIn/2)
}

func (a *AccessTokens) cache() TokenCache {
	if a.Cache != nil {
		return a.Cache
	}
	a.once.Do(func() { a.defCache = NewMemoryTokenCache() })
	return a.defCache
}
