package redisstore_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-wechat/caddy-wechat/internal/store"
	"github.com/caddy-wechat/caddy-wechat/internal/store/redisstore"
	"github.com/caddy-wechat/caddy-wechat/internal/store/storetest"
	"github.com/caddy-wechat/caddy-wechat/internal/testenv/redisserver"
)

// prefixes makes every store of a test binary a key prefix of its own, so
// that the contract's "empty store" holds on one shared server.
var prefixes atomic.Int32

func freshPrefix() string { return fmt.Sprintf("test-%d:", prefixes.Add(1)) }

// open makes a store on srv and closes it when the test ends.
func open(t *testing.T, o redisstore.Options) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// admin is a plain client on srv, for what a test does behind the store's
// back.
func admin(t *testing.T, srv *redisserver.Server) *redis.Client {
	t.Helper()
	o, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestContract runs the contract every store passes against a real
// redis-server.
func TestContract(t *testing.T) {
	srv := redisserver.Start(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, redisstore.Options{URL: srv.URL(), KeyPrefix: freshPrefix()})
	})
}

// TestShared runs the two-instance contract: two store objects, as two
// Caddy instances have, on one redis-server.
func TestShared(t *testing.T) {
	srv := redisserver.Start(t)
	storetest.RunShared(t, storetest.Shared{
		New: func(t *testing.T) (store.Store, store.Store) {
			// A long resync, so that only the reconnect can explain a
			// re-delivery after DropSubscriptions.
			o := redisstore.Options{URL: srv.URL(), KeyPrefix: freshPrefix(), Resync: time.Hour}
			return open(t, o), open(t, o)
		},
		DropSubscriptions: func(t *testing.T) {
			n, err := admin(t, srv).ClientKillByFilter(context.Background(), "TYPE", "pubsub").Result()
			if err != nil || n == 0 {
				t.Fatalf("CLIENT KILL TYPE pubsub: %d killed, %v", n, err)
			}
		},
	})
}

// aclRules are the least privileges docs/redis-store.md recommends, for
// the prefix "acl-test:": the commands the store sends, on its own keys
// and channel only.
const aclRules = "on >acl-pw-71c4 resetkeys resetchannels ~acl-test:* &acl-test:* -@all " +
	"+hello +auth +ping +select +client|setname " +
	"+get +set +del +incr +pttl +pexpire +pexpireat +hset +hget +hmget +hgetall +scan " +
	"+eval +evalsha +publish +subscribe"

// TestLeastPrivilege runs both contracts as a Redis user with only the
// documented ACL, so that the docs' rules are known to be enough.
func TestLeastPrivilege(t *testing.T) {
	srv := redisserver.Start(t)
	adm := admin(t, srv)
	if err := adm.Do(context.Background(), append([]any{"ACL", "SETUSER", "caddy"}, splitArgs(aclRules)...)...).Err(); err != nil {
		t.Fatalf("ACL SETUSER: %v", err)
	}
	url := "redis://caddy:acl-pw-71c4@" + srv.Addr() + "/0"
	prefix := func() string { return "acl-test:" + freshPrefix() }
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, redisstore.Options{URL: url, KeyPrefix: prefix()})
	})
	storetest.RunShared(t, storetest.Shared{
		New: func(t *testing.T) (store.Store, store.Store) {
			o := redisstore.Options{URL: url, KeyPrefix: prefix(), Resync: time.Hour}
			return open(t, o), open(t, o)
		},
		DropSubscriptions: func(t *testing.T) {
			if n, err := adm.ClientKillByFilter(context.Background(), "TYPE", "pubsub").Result(); err != nil || n == 0 {
				t.Fatalf("CLIENT KILL TYPE pubsub: %d killed, %v", n, err)
			}
		},
	})
	// And nothing outside the prefix.
	s := open(t, redisstore.Options{URL: url, KeyPrefix: "other:"})
	if err := s.Values().Set(context.Background(), "k", []byte("v"), time.Minute); err == nil {
		t.Fatal("the ACL let the store write outside its prefix")
	}
}

func splitArgs(s string) []any {
	var out []any
	for _, f := range strings.Fields(s) {
		out = append(out, f)
	}
	return out
}

// TestPairedValues: GetAdd and SetDelete do what Get then Add, and Set
// then Delete, do.
func TestPairedValues(t *testing.T) {
	srv := redisserver.Start(t)
	pv := open(t, redisstore.Options{URL: srv.URL(), KeyPrefix: freshPrefix(), Resync: time.Hour}).Values().(store.PairedValues)
	ctx := context.Background()
	got, found, added, err := pv.GetAdd(ctx, "answer", "claim", []byte("mine"), time.Minute)
	if err != nil || found || !added || got != nil {
		t.Fatalf("GetAdd on an empty store: %q %v %v %v, want nothing found and the claim added", got, found, added, err)
	}
	if _, _, added, err := pv.GetAdd(ctx, "answer", "claim", []byte("theirs"), time.Minute); err != nil || added {
		t.Fatalf("GetAdd of a held claim: added %v %v", added, err)
	}
	if v, ok, _ := pv.Get(ctx, "claim"); !ok || string(v) != "mine" {
		t.Fatalf("the claim holds %q %v, want the first adder's", v, ok)
	}
	if err := pv.SetDelete(ctx, "answer", []byte("token"), time.Minute, "claim"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := pv.Get(ctx, "claim"); ok {
		t.Fatal("SetDelete left the claim")
	}
	got, found, added, err = pv.GetAdd(ctx, "answer", "claim", []byte("again"), time.Minute)
	if err != nil || !found || string(got) != "token" || !added {
		t.Fatalf("GetAdd after SetDelete: %q %v %v %v, want the answer and the claim added", got, found, added, err)
	}
	if err := pv.SetDelete(ctx, "answer", nil, 0, "claim"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := pv.Get(ctx, "answer"); ok {
		t.Fatal("SetDelete with no ttl kept the value")
	}
}
