package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-wechat/caddy-wechat/wechat"
)

// tokens are the access_token cache every instance shares, one key per
// appid, with a lock beside each so that one instance fetches for all.
type tokens struct{ s *Store }

func (t *tokens) key(appID string) string  { return t.s.prefix + "tok:" + esc(appID) }
func (t *tokens) lock(appID string) string { return t.s.prefix + "tok-lock:" + esc(appID) }

// compareAndDeleteScript deletes the key only if it still holds ARGV[1]:
// a token another instance has just replaced survives a stale compare,
// and a lock that expired and was taken by another is not released.
var compareAndDeleteScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('DEL', KEYS[1])
end
return 0
`)

// unlockTimeout bounds the release of a lock, which runs after its
// caller may have given up; an unreleased lock expires with its TTL.
const unlockTimeout = time.Second

// Get implements wechat.TokenCache.
func (t *tokens) Get(ctx context.Context, appID string) (string, bool, error) {
	var tok string
	var ok bool
	err := t.s.do(ctx, OpTokenGet, func(ctx context.Context) error {
		var err error
		tok, ok, err = hit(t.s.c.Get(ctx, t.key(appID)).Result())
		return err
	})
	return tok, ok, err
}

// Set implements wechat.TokenCache. A ttl of zero or less removes the
// entry, as the memory cache does.
func (t *tokens) Set(ctx context.Context, appID, token string, ttl time.Duration) error {
	return t.s.do(ctx, OpTokenSet, func(ctx context.Context) error {
		if ttl <= 0 {
			return t.s.c.Del(ctx, t.key(appID)).Err()
		}
		return t.s.c.Set(ctx, t.key(appID), token, time.Duration(ms(ttl))*time.Millisecond).Err()
	})
}

// CompareAndDelete implements wechat.TokenCache.
func (t *tokens) CompareAndDelete(ctx context.Context, appID, token string) error {
	return t.s.do(ctx, OpTokenDrop, func(ctx context.Context) error {
		return compareAndDeleteScript.Run(ctx, t.s.c, []string{t.key(appID)}, token).Err()
	})
}

// Lock implements wechat.TokenLocker: SET NX PX of a random value, which
// unlock deletes only while the lock still holds it.
func (t *tokens) Lock(ctx context.Context, appID string, ttl time.Duration) (func(), bool, error) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	mine := hex.EncodeToString(b[:])
	key := t.lock(appID)
	var ok bool
	err := t.s.do(ctx, OpLock, func(ctx context.Context) error {
		var err error
		ok, err = t.s.c.SetNX(ctx, key, mine, time.Duration(ms(ttl))*time.Millisecond).Result()
		return err
	})
	if err != nil || !ok {
		return nil, false, err
	}
	unlock := func() {
		ctx, cancel := context.WithTimeout(context.Background(), unlockTimeout)
		defer cancel()
		_ = t.s.do(ctx, OpUnlock, func(ctx context.Context) error {
			return compareAndDeleteScript.Run(ctx, t.s.c, []string{key}, mine).Err()
		})
	}
	return unlock, true, nil
}

// Interface guards
var (
	_ wechat.TokenCache  = (*tokens)(nil)
	_ wechat.TokenLocker = (*tokens)(nil)
)
