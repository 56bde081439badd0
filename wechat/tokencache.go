package wechat

import (
	"context"
	"sync"
	"time"

	gocache "github.com/patrickmn/go-cache"
)

// TokenCache holds access tokens, one per appid. A network cache shares
// them across instances (WeChat counts stable_token calls per app across
// every server); its methods report failures as errors, which
// AccessTokens treats as a miss rather than a reason to fail the call.
type TokenCache interface {
	Get(ctx context.Context, appID string) (string, bool, error)
	Set(ctx context.Context, appID, token string, ttl time.Duration) error
	// CompareAndDelete drops the entry only if it still holds token.
	CompareAndDelete(ctx context.Context, appID, token string) error
}

// TokenLocker is a TokenCache that also holds a lock per appid for every
// instance sharing it, so that when the token is missing everywhere at
// once, one instance fetches it and the others read what it stored:
// WeChat counts stable_token calls per app across all servers.
// AccessTokens uses the lock when its Cache implements this interface; a
// failure of the lock only costs a fetch of this instance's own.
type TokenLocker interface {
	// Lock takes the lock of appID for at most ttl and reports whether it
	// did: of callers racing for it, on any instance, exactly one does,
	// until it unlocks or ttl passes. unlock releases the lock only while
	// it is still this caller's (after ttl another caller may hold it);
	// it is nil unless ok.
	Lock(ctx context.Context, appID string, ttl time.Duration) (unlock func(), ok bool, err error)
}

// NewMemoryTokenCache returns a TokenCache for one process. It has no
// janitor goroutine (go-cache's would only stop through a finalizer, and
// leak across Caddy reloads); expired entries are ignored on Get and
// replaced on the next Set, which is enough for one entry per appid.
func NewMemoryTokenCache() TokenCache {
	return &memoryTokenCache{c: gocache.New(gocache.NoExpiration, 0)}
}

type memoryTokenCache struct {
	// mu orders Set against CompareAndDelete, so that a compare that saw
	// the old token cannot delete a newer one written in between.
	mu sync.Mutex
	c  *gocache.Cache
}

func (m *memoryTokenCache) Get(_ context.Context, appID string) (string, bool, error) {
	v, ok := m.c.Get(appID)
	if !ok {
		return "", false, nil
	}
	s, ok := v.(string)
	return s, ok, nil
}

// Set stores token for ttl. A ttl <= 0 drops the entry instead: go-cache
// would read 0 as "default" and -1 as "forever".
func (m *memoryTokenCache) Set(_ context.Context, appID, token string, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ttl <= 0 {
		m.c.Delete(appID)
		return nil
	}
	m.c.Set(appID, token, ttl)
	return nil
}

func (m *memoryTokenCache) CompareAndDelete(_ context.Context, appID, token string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.c.Get(appID); ok && v == token {
		m.c.Delete(appID)
	}
	return nil
}
