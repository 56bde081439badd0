package wechat

import (
	"sync"
	"time"

	gocache "github.com/patrickmn/go-cache"
)

// TokenCache holds access tokens; a Redis-backed implementation can share them across instances.
type TokenCache interface {
	Get(appID string) (string, bool)
	Set(appID, token string, ttl time.Duration)
	// CompareAndDelete drops the entry only if it still holds token.
	CompareAndDelete(appID, token string)
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

func (m *memoryTokenCache) Get(appID string) (string, bool) {
	v, ok := m.c.Get(appID)
	if !ok {
		return "", false
	}
	s, ok := v.(string)
	return s, ok
}

// Set stores token for ttl. A ttl <= 0 drops the entry instead: go-cache
// would read 0 as "default" and -1 as "forever".
func (m *memoryTokenCache) Set(appID, token string, ttl time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ttl <= 0 {
		m.c.Delete(appID)
		return
	}
	m.c.Set(appID, token, ttl)
}

func (m *memoryTokenCache) CompareAndDelete(appID, token string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.c.Get(appID); ok && v == token {
		m.c.Delete(appID)
	}
}
