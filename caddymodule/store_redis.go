package caddymodule

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-wechat/caddy-wechat/internal/metrics"
	"github.com/caddy-wechat/caddy-wechat/internal/store"
	"github.com/caddy-wechat/caddy-wechat/internal/store/redisstore"
	"github.com/caddy-wechat/caddy-wechat/wechat"
)

func init() {
	caddy.RegisterModule(RedisStore{})
}

// defaultMaxStaleness is how long the gate trusts its local copy of the
// revocations without a successful synchronisation, unless configured.
const defaultMaxStaleness = time.Minute

// minMaxStaleness leaves room for a PONG delayed by a loaded machine.
const minMaxStaleness = 5 * time.Second

// RedisStore keeps what several instances must share in Redis: rate-limit
// counters, single-use values (tickets, repeated codes' answers),
// revocations, and the access_token with its fetch lock. The gate never
// waits on it: it decides with a local copy of the revocations, fed by
// pub/sub and resynchronised every 10 s.
type RedisStore struct {
	// URL is the server: redis://[[user]:password@]host[:port][/db], or
	// rediss:// for TLS. {env.*} and {file.*} placeholders are expanded
	// at provisioning: put the password in one, so that it stays out of
	// the config. The URL never appears in a log or an error.
	URL string `json:"url,omitempty"`

	// KeyPrefix starts every key and the pub/sub channel's name, so that
	// several deployments can share one Redis. Default: "caddy-wechat:".
	KeyPrefix string `json:"key_prefix,omitempty"`

	// MaxStaleness is how long the gate keeps deciding with its local
	// copy of the revocations after the last successful synchronisation
	// with Redis; past it, requests with a token are refused with 503
	// store_unavailable. 0 (the Caddyfile's "off") keeps serving however
	// old the copy is. At least 5s. Default: 1m.
	MaxStaleness *caddy.Duration `json:"max_staleness,omitempty"`

	pooled *pooledRedis
	key    string
}

// CaddyModule returns the Caddy module information.
func (RedisStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "wechat.stores.redis",
		New: func() caddy.Module { return new(RedisStore) },
	}
}

// redisPool keeps one client per distinct URL and prefix across reloads,
// as Caddy's storage modules do: a reload must not reconnect, nor drop
// the subscription's place in the channel, nor leak a client.
var redisPool = caddy.NewUsagePool()

// pooledRedis is one Store with the hooks that report it. The hooks log
// with the logger of the config provisioned last, since the Store
// outlives the config that made it.
type pooledRedis struct {
	*redisstore.Store
	logger  atomic.Pointer[zap.Logger]
	ops     map[[2]string]func() // Inc of each operation's counter, by op and result
	failing atomic.Bool          // the last resync failed
}

// Destruct stops the subscriptions and closes the connections, when the
// last config using this client is gone.
func (p *pooledRedis) Destruct() error { return p.Close() }

func newPooledRedis(url, prefix string) (*pooledRedis, error) {
	// Label values resolved once: OnOp runs on every operation.
	p := &pooledRedis{ops: make(map[[2]string]func(), 2*len(redisstore.Ops))}
	for _, op := range redisstore.Ops {
		for _, result := range []string{redisstore.ResultOK, redisstore.ResultError} {
			p.ops[[2]string{op, result}] = metrics.StoreOps.WithLabelValues(op, result).Inc
		}
	}
	st, err := redisstore.New(redisstore.Options{
		URL:         url,
		KeyPrefix:   prefix,
		OnOp:        p.onOp,
		OnReconnect: p.onReconnect,
		OnResync:    p.onResync,
	})
	if err != nil {
		return nil, err
	}
	p.Store = st
	return p, nil
}

// log is the logger of the config provisioned last.
func (p *pooledRedis) log() *zap.Logger {
	if l := p.logger.Load(); l != nil {
		return l
	}
	return zap.NewNop()
}

func (p *pooledRedis) onOp(op, result string) {
	if inc := p.ops[[2]string{op, result}]; inc != nil {
		inc()
	}
}

func (p *pooledRedis) onReconnect() {
	metrics.StoreReconnects.Inc()
	if ce := p.log().Check(zapcore.InfoLevel, "wechat redis store: revocation subscription re-established; resynchronising"); ce != nil {
		ce.Write(zap.String("addr", p.Addr()))
	}
}

// onResync logs only the changes between failing and working, so that an
// outage is two lines, not one every second.
func (p *pooledRedis) onResync(err error) {
	if err != nil && !p.failing.Swap(true) {
		if ce := p.log().Check(zapcore.WarnLevel, "wechat redis store: cannot read the revocations; the gate decides with its local copy until max_staleness"); ce != nil {
			ce.Write(zap.String("addr", p.Addr()), zap.Error(err))
		}
	}
	if err == nil && p.failing.Swap(false) {
		if ce := p.log().Check(zapcore.InfoLevel, "wechat redis store: revocations synchronised again"); ce != nil {
			ce.Write(zap.String("addr", p.Addr()))
		}
	}
}

// Provision expands the URL's placeholders and takes this config's hold
// on the client for that URL and prefix, making it if needed. It does not
// connect: the store must come up while Redis is down, and reconnects by
// itself.
func (r *RedisStore) Provision(ctx caddy.Context) error {
	logger := ctx.Logger()
	if r.KeyPrefix == "" {
		r.KeyPrefix = redisstore.DefaultKeyPrefix
	}
	if r.MaxStaleness == nil {
		d := caddy.Duration(defaultMaxStaleness)
		r.MaxStaleness = &d
	}
	url := caddy.NewReplacer().ReplaceKnown(r.URL, "")
	if url == "" {
		return errors.New("wechat: the redis store has no url (an empty environment variable or file counts as missing); set 'url redis://host:6379/0'")
	}
	key := url + "\x00" + r.KeyPrefix
	v, loaded, err := redisPool.LoadOrNew(key, func() (caddy.Destructor, error) {
		return newPooledRedis(url, r.KeyPrefix)
	})
	if err != nil {
		// redisstore's errors never quote the URL.
		return fmt.Errorf("wechat: the redis store: %v", err)
	}
	p := v.(*pooledRedis)
	p.logger.Store(logger)
	r.pooled, r.key = p, key
	if !loaded {
		if ce := logger.Check(zapcore.InfoLevel, "wechat redis store configured"); ce != nil {
			ce.Write(zap.String("addr", p.Addr()), zap.String("key_prefix", r.KeyPrefix), zap.Duration("max_staleness", r.Staleness()))
		}
	}
	return nil
}

// Validate checks what Provision leaves.
func (r *RedisStore) Validate() error {
	if r.MaxStaleness != nil && *r.MaxStaleness < 0 {
		return errors.New("wechat: the redis store's max_staleness must not be negative (0 is off)")
	}
	if r.MaxStaleness != nil && *r.MaxStaleness > 0 && time.Duration(*r.MaxStaleness) < minMaxStaleness {
		return fmt.Errorf("wechat: the redis store's max_staleness must be at least %v (or off): a healthy subscription proves its copy current about once a second", minMaxStaleness)
	}
	return nil
}

// Cleanup releases this config's hold on the client; the last one closes
// it. Caddy calls it also after a failed Provision elsewhere, so it
// releases only what Provision took.
func (r *RedisStore) Cleanup() error {
	if r.pooled == nil {
		return nil
	}
	r.pooled = nil
	_, err := redisPool.Delete(r.key)
	return err
}

// Staleness is how long the gate may decide with a local copy of the
// revocations that has not been synchronised: 0 means forever (off).
func (r *RedisStore) Staleness() time.Duration {
	if r.MaxStaleness == nil {
		return defaultMaxStaleness
	}
	return time.Duration(*r.MaxStaleness)
}

// UnmarshalCaddyfile reads:
//
//	store redis {
//	    url           redis://host:6379/0
//	    key_prefix    caddy-wechat:
//	    max_staleness 1m|off
//	}
func (r *RedisStore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // "redis"
	if d.NextArg() {
		return d.Err("store redis takes its options in a block: store redis { url redis://host:6379/0 }")
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch sub := d.Val(); sub {
		case "url":
			if r.URL != "" {
				return d.Err("url is given twice")
			}
			if !d.AllArgs(&r.URL) {
				return d.ArgErr()
			}
			// Never quote the URL: it may hold the password.
			if !strings.HasPrefix(r.URL, "{") && !strings.HasPrefix(r.URL, "redis://") && !strings.HasPrefix(r.URL, "rediss://") {
				return d.Err("url: the scheme must be redis:// or rediss:// (rediss for TLS), as in redis://127.0.0.1:6379/0")
			}
		case "key_prefix":
			if !d.AllArgs(&r.KeyPrefix) {
				return d.ArgErr()
			}
		case "max_staleness":
			var v string
			if !d.AllArgs(&v) {
				return d.ArgErr()
			}
			dur := time.Duration(0)
			if v != "off" {
				var err error
				if dur, err = caddy.ParseDuration(v); err != nil || dur <= 0 {
					return d.Errf("max_staleness: %q is not a positive duration such as 1m, or off", v)
				}
			}
			cd := caddy.Duration(dur)
			r.MaxStaleness = &cd
		default:
			return d.Errf("unknown subdirective %q in store redis; expected url, key_prefix or max_staleness", sub)
		}
	}
	if r.URL == "" {
		return d.Err("store redis needs a url: store redis { url redis://127.0.0.1:6379/0 }")
	}
	return nil
}

func (r *RedisStore) Counters() store.Counters        { return r.pooled.Counters() }
func (r *RedisStore) Values() store.Values            { return r.pooled.Values() }
func (r *RedisStore) Revocations() store.Revocations  { return r.pooled.Revocations() }
func (r *RedisStore) AccessTokens() wechat.TokenCache { return r.pooled.AccessTokens() }

// Interface guards
var (
	_ store.Store           = (*RedisStore)(nil)
	_ caddy.Provisioner     = (*RedisStore)(nil)
	_ caddy.Validator       = (*RedisStore)(nil)
	_ caddy.CleanerUpper    = (*RedisStore)(nil)
	_ caddyfile.Unmarshaler = (*RedisStore)(nil)
	_ caddy.Destructor      = (*pooledRedis)(nil)
)
