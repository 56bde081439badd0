package redisstore

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-wechat/caddy-wechat/internal/store"
)

// values are plain strings with a TTL: Add is SET NX PX, so that of
// instances racing to add one key exactly one wins, and Take reads and
// deletes in one script, so that exactly one gets the value. All but Take
// go through the store's batcher (batch.go).
type values struct{ s *Store }

func (v *values) key(k string) string { return v.s.prefix + "v:" + k }

// takeScript is GETDEL for any server: GETDEL itself needs Redis 6.2.
var takeScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then redis.call('DEL', KEYS[1]) end
return v
`)

// Get implements store.Values.
func (v *values) Get(ctx context.Context, key string) ([]byte, bool, error) {
	var val []byte
	var ok bool
	err := v.s.do(ctx, OpGet, func(ctx context.Context) error {
		var get *redis.StringCmd
		if err := v.s.batch.do(ctx, func(p redis.Pipeliner) { get = p.Get(ctx, v.key(key)) }); err != nil {
			return err
		}
		var err error
		val, ok, err = hit(get.Bytes())
		return err
	})
	return val, ok, err
}

// Set implements store.Values. A ttl of zero or less removes the key, as
// in the memory store.
func (v *values) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	return v.s.do(ctx, OpSet, func(ctx context.Context) error {
		var cmd redis.Cmder
		if err := v.s.batch.do(ctx, func(p redis.Pipeliner) {
			if ttl <= 0 {
				cmd = p.Del(ctx, v.key(key))
			} else {
				cmd = p.Set(ctx, v.key(key), val, time.Duration(ms(ttl))*time.Millisecond)
			}
		}); err != nil {
			return err
		}
		return cmd.Err()
	})
}

// Add implements store.Values.
func (v *values) Add(ctx context.Context, key string, val []byte, ttl time.Duration) (bool, error) {
	var added bool
	err := v.s.do(ctx, OpAdd, func(ctx context.Context) error {
		var add *redis.BoolCmd
		if err := v.s.batch.do(ctx, func(p redis.Pipeliner) { add = p.SetNX(ctx, v.key(key), val, time.Duration(ms(ttl))*time.Millisecond) }); err != nil {
			return err
		}
		var err error
		added, err = add.Result()
		return err
	})
	return added && err == nil, err
}

// Take implements store.Values.
func (v *values) Take(ctx context.Context, key string) ([]byte, bool, error) {
	var val []byte
	var ok bool
	err := v.s.do(ctx, OpTake, func(ctx context.Context) error {
		s, hasVal, err := hit(takeScript.Run(ctx, v.s.c, []string{v.key(key)}).Text())
		val, ok = []byte(s), hasVal
		return err
	})
	return val, ok, err
}

// Delete implements store.Values.
func (v *values) Delete(ctx context.Context, key string) error {
	return v.s.do(ctx, OpDelete, func(ctx context.Context) error {
		var del *redis.IntCmd
		if err := v.s.batch.do(ctx, func(p redis.Pipeliner) { del = p.Del(ctx, v.key(key)) }); err != nil {
			return err
		}
		return del.Err()
	})
}

// GetAdd implements store.PairedValues: GET and SET NX PX, pipelined.
func (v *values) GetAdd(ctx context.Context, getKey, addKey string, val []byte, ttl time.Duration) (got []byte, found, added bool, err error) {
	err = v.s.do(ctx, OpGetAdd, func(ctx context.Context) error {
		var get *redis.StringCmd
		var add *redis.BoolCmd
		if err := v.s.batch.do(ctx, func(p redis.Pipeliner) {
			get = p.Get(ctx, v.key(getKey))
			add = p.SetNX(ctx, v.key(addKey), val, time.Duration(ms(ttl))*time.Millisecond)
		}); err != nil {
			return err
		}
		var err error
		if got, found, err = hit(get.Bytes()); err != nil {
			return err
		}
		added, err = add.Result()
		return err
	})
	if err != nil {
		return nil, false, false, err
	}
	return got, found, added, nil
}

// SetDelete implements store.PairedValues: SET PX and DEL, pipelined in
// that order.
func (v *values) SetDelete(ctx context.Context, setKey string, val []byte, ttl time.Duration, delKey string) error {
	return v.s.do(ctx, OpSetDelete, func(ctx context.Context) error {
		var set, del redis.Cmder
		if err := v.s.batch.do(ctx, func(p redis.Pipeliner) {
			if ttl <= 0 {
				set = p.Del(ctx, v.key(setKey))
			} else {
				set = p.Set(ctx, v.key(setKey), val, time.Duration(ms(ttl))*time.Millisecond)
			}
			del = p.Del(ctx, v.key(delKey))
		}); err != nil {
			return err
		}
		return errors.Join(set.Err(), del.Err())
	})
}

// hit turns go-redis's "no such key", redis.Nil, into a miss: the
// operation itself succeeded.
func hit[T any](val T, err error) (T, bool, error) {
	var zero T
	if errors.Is(err, redis.Nil) {
		return zero, false, nil
	}
	if err != nil {
		return zero, false, err
	}
	return val, true, nil
}

// Interface guards
var _ store.PairedValues = (*values)(nil)
