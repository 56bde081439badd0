package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-wechat/caddy-wechat/internal/store"
)

// revocations are one hash per revoked session (rev:s:<sid>) and one per
// revoked user (rev:u:<appid>:<openid>), each expiring at its until, and
// a message on the channel for every Revoke. Times are Unix nanoseconds
// as 20-digit decimal strings: the scripts compare them as strings, which
// for equal widths is comparing numbers, with no loss of precision (a Lua
// number is a double).
type revocations struct{ s *Store }

// listPage is how many keys one SCAN step asks for, and so how many
// records one pipelined read fetches.
const listPage = 500

// revokeSessionScript records a session's revocation, keeping the later
// until if one is already recorded, and publishes what is recorded. The
// key expires at until, rounded up to the millisecond.
var revokeSessionScript = redis.NewScript(`
local untl = ARGV[2]
local cur = redis.call('HGET', KEYS[1], 'until')
if cur and cur > untl then
	untl = cur
else
	redis.call('HSET', KEYS[1], 'sid', ARGV[1], 'until', untl)
end
redis.call('PEXPIREAT', KEYS[1], tonumber(string.sub(untl, 1, 14)) + 1)
redis.call('PUBLISH', ARGV[3], cjson.encode({sid = ARGV[1], ['until'] = untl}))
return 1
`)

// revokeUserScript records a user's not-before, keeping the latest
// not-before and the latest until of every Revoke of that user, and
// publishes the merged record.
var revokeUserScript = redis.NewScript(`
local nb, untl = ARGV[3], ARGV[4]
local cur = redis.call('HMGET', KEYS[1], 'nb', 'until')
if cur[1] and cur[1] > nb then nb = cur[1] end
if cur[2] and cur[2] > untl then untl = cur[2] end
redis.call('HSET', KEYS[1], 'appid', ARGV[1], 'openid', ARGV[2], 'nb', nb, 'until', untl)
redis.call('PEXPIREAT', KEYS[1], tonumber(string.sub(untl, 1, 14)) + 1)
redis.call('PUBLISH', ARGV[5], cjson.encode({appid = ARGV[1], openid = ARGV[2], nb = nb, ['until'] = untl}))
return 1
`)

// record is a revocation as the hashes and the messages hold it.
type record struct {
	SID    string `json:"sid" redis:"sid"`
	AppID  string `json:"appid" redis:"appid"`
	OpenID string `json:"openid" redis:"openid"`
	NB     string `json:"nb" redis:"nb"`
	Until  string `json:"until" redis:"until"`
}

// stamp is t as the scripts compare it. Times before 1970, the zero time
// included, are 0; times past 2262, which Unix nanoseconds cannot hold,
// are the last one they can.
func stamp(t time.Time) string {
	switch {
	case t.Before(time.Unix(0, 0)):
		return fmt.Sprintf("%020d", 0)
	case t.After(time.Unix(0, math.MaxInt64)):
		return fmt.Sprintf("%020d", int64(math.MaxInt64))
	}
	return fmt.Sprintf("%020d", t.UnixNano())
}

func unstamp(s string) (time.Time, error) {
	if len(s) != 20 {
		return time.Time{}, errors.New("not a 20-digit time")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, errors.New("not a 20-digit time")
	}
	if n == 0 {
		return time.Time{}, nil
	}
	return time.Unix(0, n), nil
}

// revocation decodes a record; ok is false for one that is malformed or
// names neither a session nor a user.
func (r record) revocation() (store.Revocation, bool) {
	until, err := unstamp(r.Until)
	if err != nil || until.IsZero() {
		return store.Revocation{}, false
	}
	if r.SID != "" {
		return store.Revocation{SID: r.SID, Until: until}, true
	}
	nb, err := unstamp(r.NB)
	if err != nil || r.AppID == "" || r.OpenID == "" {
		return store.Revocation{}, false
	}
	return store.Revocation{AppID: r.AppID, OpenID: r.OpenID, NotBefore: nb, Until: until}, true
}

// Revoke implements store.Revocations. A revocation whose Until has
// passed ends nothing and is not recorded.
func (v *revocations) Revoke(ctx context.Context, r store.Revocation) error {
	if r.SID == "" && (r.AppID == "" || r.OpenID == "") {
		return errors.New("redis store: a revocation needs a sid, or an appid and an openid")
	}
	if !time.Now().Before(r.Until) {
		return nil
	}
	s := v.s
	return s.do(ctx, OpRevoke, func(ctx context.Context) error {
		if r.SID != "" {
			return revokeSessionScript.Run(ctx, s.c, []string{s.prefix + "rev:s:" + esc(r.SID)},
				r.SID, stamp(r.Until), s.channel).Err()
		}
		return revokeUserScript.Run(ctx, s.c, []string{s.prefix + "rev:u:" + esc(r.AppID) + ":" + esc(r.OpenID)},
			r.AppID, r.OpenID, stamp(r.NotBefore), stamp(r.Until), s.channel).Err()
	})
}

// List implements store.Revocations: a SCAN of the revocation keys (never
// KEYS, which would stall the server) and a pipelined read of each page.
// A success is the store's new LastSync, as of when the List began.
func (v *revocations) List(ctx context.Context) ([]store.Revocation, error) {
	s := v.s
	began := time.Now()
	var out []store.Revocation
	seen := make(map[string]bool)
	match := globEscape(s.prefix) + "rev:*"
	var cursor uint64
	for {
		var keys []string
		err := s.do(ctx, OpList, func(ctx context.Context) error {
			var err error
			keys, cursor, err = s.c.Scan(ctx, cursor, match, listPage).Result()
			if err != nil || len(keys) == 0 {
				return err
			}
			pipe := s.c.Pipeline()
			cmds := make([]*redis.MapStringStringCmd, len(keys))
			for i, k := range keys {
				cmds[i] = pipe.HGetAll(ctx, k)
			}
			if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
				return err
			}
			now := time.Now()
			for i, cmd := range cmds {
				var rec record
				// An empty map is a key that expired since the SCAN.
				if seen[keys[i]] || cmd.Err() != nil || len(cmd.Val()) == 0 || cmd.Scan(&rec) != nil {
					continue
				}
				seen[keys[i]] = true
				if r, ok := rec.revocation(); ok && now.Before(r.Until) {
					out = append(out, r)
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if cursor == 0 {
			break
		}
	}
	s.synced(began)
	return out, nil
}

// synced moves LastSync forward to t.
func (s *Store) synced(t time.Time) {
	n := t.UnixNano()
	for {
		old := s.lastSync.Load()
		if old >= n || s.lastSync.CompareAndSwap(old, n) {
			return
		}
	}
}

// LastSync implements store.Freshness.
func (v *revocations) LastSync() time.Time {
	if n := v.s.lastSync.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// decodeMessage reads one message of the channel.
func decodeMessage(payload string) (store.Revocation, bool) {
	var rec record
	if json.Unmarshal([]byte(payload), &rec) != nil {
		return store.Revocation{}, false
	}
	return rec.revocation()
}

// Interface guards
var (
	_ store.Revocations      = (*revocations)(nil)
	_ store.Freshness        = (*revocations)(nil)
	_ store.SyncedSubscriber = (*revocations)(nil)
)
