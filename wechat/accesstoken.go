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

// With a TokenLocker, the lock is held for as long as a fetch may take, so
// that no second instance fetches beside a slow one. Another instance's
// fetch is waited for up to tokenLockWait (one normally takes well under
// a second): past that its holder is taken to be stuck or gone, and this
// instance fetches on its own, as it would without the lock. The cache is
// asked again every lockPoll, doubling to lockPollMax.
const (
	tokenLockTTL  = tokenFetchTimeout
	tokenLockWait = 5 * time.Second
	lockPoll      = 10 * time.Millisecond
	lockPollMax   = 200 * time.Millisecond
)

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
	lockWait time.Duration // tokenLockWait when zero; tests shorten it
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
// already under way, each giving up when its own ctx ends. When the cache
// is a TokenLocker, one fetch serves every instance that shares it.
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
	defer close(f.done)
	defer func() {
		a.mu.Lock()
		a.inflight = nil
		a.mu.Unlock()
	}()
	if l, ok := c.(TokenLocker); ok {
		tok, unlock, found := a.lockOrWait(ctx, c, l)
		if found {
			f.token = tok
			return
		}
		// Released after the Set below, so that whoever takes the lock
		// next finds the token instead of fetching again.
		if unlock != nil {
			defer unlock()
		}
	}
	ctx, cancel := context.WithTimeout(ctx, tokenFetchTimeout)
	defer cancel()
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

// lockOrWait takes the shared lock on this appid's fetch, or waits for
// the instance that holds it: it asks the cache until that instance's
// token appears (found), the lock is free again and taken (its holder
// failed; this instance fetches, holding unlock), or the wait runs out
// (this instance fetches without the lock). An error of the lock or the
// cache means fetching without the lock: never a failed call.
func (a *AccessTokens) lockOrWait(ctx context.Context, c TokenCache, l TokenLocker) (tok string, unlock func(), found bool) {
	wait := a.lockWait
	if wait <= 0 {
		wait = tokenLockWait
	}
	deadline := time.Now().Add(wait)
	poll := lockPoll
	for {
		unlock, ok, err := l.Lock(ctx, a.AppID, tokenLockTTL)
		if err != nil {
			a.cacheError(err)
			return "", nil, false
		}
		if ok {
			// The last holder may have stored its token between this
			// instance's miss and its lock.
			if tok, hit := a.cached(ctx, c); hit {
				unlock()
				return tok, nil, true
			}
			return "", unlock, false
		}
		left := time.Until(deadline)
		if left <= 0 {
			return "", nil, false
		}
		time.Sleep(min(poll, left))
		poll = min(2*poll, lockPollMax)
		if tok, hit := a.cached(ctx, c); hit {
			return tok, nil, true
		}
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
