package redisstore

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-wechat/caddy-wechat/internal/store"
)

// counters are fixed windows: a key counts events from its first one
// until its TTL, the window, runs out. One script counts and reads the
// TTL, so that instances racing on one key each see their own count.
type counters struct{ s *Store }

// allowScript counts one event and returns the count and the window's
// remaining milliseconds. A key without a TTL (one a PERSIST or a
// server's bug left behind) gets the window again, so that no counter
// lives forever.
var allowScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
	redis.call('PEXPIRE', KEYS[1], ARGV[1])
	ttl = tonumber(ARGV[1])
end
return {n, ttl}
`)

// Allow implements store.Counters.
func (c *counters) Allow(ctx context.Context, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	var n, ttl int64
	err := c.s.do(ctx, OpAllow, func(ctx context.Context) error {
		res, err := allowScript.Run(ctx, c.s.c, []string{c.s.prefix + "c:" + key}, ms(window)).Int64Slice()
		if err == nil && len(res) == 2 {
			n, ttl = res[0], res[1]
		}
		return err
	})
	if err != nil {
		// A second, as the memory store does when full: a client told to
		// retry does not hammer a store that is down.
		return false, time.Second, err
	}
	if n > int64(limit) {
		return false, max(time.Duration(ttl)*time.Millisecond, time.Millisecond), nil
	}
	return true, 0, nil
}

// Interface guards
var _ store.Counters = (*counters)(nil)
