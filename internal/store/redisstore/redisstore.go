// Package redisstore is a store.Store in Redis, for several instances
// behind one load balancer: rate-limit counters counted once for all of
// them, single-use values, revocations with a pub/sub channel and a
// periodic resynchronisation, and one access_token per app with a lock
// so that one instance fetches it for all. It is free of Caddy and of
// Prometheus; the wechat.stores.redis module wires its hooks to metrics
// and logs.
//
// Every key lives under the key prefix and has a TTL, so that nothing
// grows without bound. Every operation is bounded by Options.Timeout and
// by its caller's context, and no error carries the URL's password. The
// client connects lazily and reconnects by itself: New does not fail, nor
// wait, while Redis is down.
package redisstore

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/caddy-wechat/caddy-wechat/internal/store"
	"github.com/caddy-wechat/caddy-wechat/wechat"
)

// Defaults of Options.
const (
	DefaultKeyPrefix = "caddy-wechat:"
	DefaultResync    = 10 * time.Second
	DefaultTimeout   = 2 * time.Second
)

// Socket timeouts, unless the URL sets its own (dial_timeout,
// read_timeout, write_timeout, pool_timeout). A request waits on Redis for
// at most about a second per round trip, well within any request timeout;
// Options.Timeout bounds the whole operation besides.
const (
	dialTimeout = time.Second
	ioTimeout   = time.Second
)

// The operations, as OnOp names them.
const (
	OpAllow     = "allow"
	OpGet       = "get"
	OpSet       = "set"
	OpAdd       = "add"
	OpTake      = "take"
	OpDelete    = "delete"
	OpRevoke    = "revoke"
	OpList      = "list"
	OpTokenGet  = "token_get"
	OpTokenSet  = "token_set"
	OpTokenDrop = "token_compare_and_delete"
	OpLock      = "lock"
	OpUnlock    = "unlock"
	OpGetAdd    = "get_add"
	OpSetDelete = "set_delete"
)

// Ops are every operation name OnOp is called with, so that a caller can
// resolve its metrics' label values once.
var Ops = []string{OpAllow, OpGet, OpSet, OpAdd, OpTake, OpDelete, OpRevoke, OpList, OpTokenGet, OpTokenSet, OpTokenDrop, OpLock, OpUnlock, OpGetAdd, OpSetDelete}

// The results OnOp reports.
const (
	ResultOK    = "ok"
	ResultError = "error"
)

// Options configure a Store. URL is required.
type Options struct {
	// URL is redis://[[user]:password@]host[:port][/db] or rediss:// for
	// TLS. go-redis's query options (read_timeout=3s, pool_size=…) work.
	URL string
	// KeyPrefix starts every key and the channel name, so that several
	// deployments can share one Redis. Default: DefaultKeyPrefix.
	KeyPrefix string
	// Resync is how often a subscription reads every revocation again, so
	// that a missed message cannot leave a revoked session valid longer
	// than this. Default: DefaultResync.
	Resync time.Duration
	// Timeout bounds each operation, besides its caller's context.
	// Default: DefaultTimeout.
	Timeout time.Duration
	// OnOp, when set, is told the result (ResultOK or ResultError) of
	// every operation, by its name in Ops. It must not block.
	OnOp func(op, result string)
	// OnReconnect, when set, is called each time a subscription is
	// established again after its connection was lost.
	OnReconnect func()
	// OnResync, when set, is told the outcome of every periodic read of
	// the revocations: nil, or the error. It must not block.
	OnResync func(err error)
}

// ErrUnavailable is in the chain of every error of the store (errors.Is):
// Redis did not answer, or answered with an error. The text of the
// store's errors says more, without the password.
var ErrUnavailable = errors.New("redis store unavailable")

// Store is a store.Store in Redis. Close it when done.
type Store struct {
	c        *redis.Client
	batch    *batcher
	prefix   string
	channel  string
	resync   time.Duration
	timeout  time.Duration
	opts     Options
	secret   string // the URL's password, kept out of error texts
	lastSync atomic.Int64

	counters counters
	values   values
	revs     revocations
	tokens   tokens

	mu     sync.Mutex
	subs   map[*subscription]struct{}
	closed bool
}

// New makes a Store for opts. It checks the URL but does not connect:
// the client dials on first use, and again after every failure.
func New(opts Options) (*Store, error) {
	ro, secret, err := clientOptions(opts.URL)
	if err != nil {
		return nil, err
	}
	if opts.KeyPrefix == "" {
		opts.KeyPrefix = DefaultKeyPrefix
	}
	if opts.Resync <= 0 {
		opts.Resync = DefaultResync
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	s := &Store{
		c:       redis.NewClient(ro),
		prefix:  opts.KeyPrefix,
		channel: opts.KeyPrefix + "revocations",
		resync:  opts.Resync,
		timeout: opts.Timeout,
		opts:    opts,
		secret:  secret,
		subs:    make(map[*subscription]struct{}),
	}
	s.batch = newBatcher(s.c, s.timeout)
	s.counters.s, s.values.s, s.revs.s, s.tokens.s = s, s, s, s
	return s, nil
}

// clientOptions parses a redis:// or rediss:// URL into go-redis options
// with bounded timeouts. Its errors never quote the URL: url.Parse's
// would, password included.
func clientOptions(raw string) (*redis.Options, string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, "", errors.New("redisstore: the url is not a valid URL; want redis://[[user]:password@]host[:port][/db] or rediss://…")
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, "", errors.New("redisstore: the url's scheme must be redis or rediss (rediss for TLS), not " + strings.ToValidUTF8(u.Scheme, "?"))
	}
	if u.Host == "" {
		return nil, "", errors.New("redisstore: the url has no host; want redis://host:port/db")
	}
	secret, _ := u.User.Password()
	ro, err := redis.ParseURL(raw)
	if err != nil {
		return nil, "", errors.New("redisstore: the url's port, database or query options are not valid; want redis://[[user]:password@]host[:port][/db][?read_timeout=1s…]")
	}
	if ro.DialTimeout == 0 {
		ro.DialTimeout = dialTimeout
	}
	if ro.ReadTimeout == 0 {
		ro.ReadTimeout = ioTimeout
	}
	if ro.WriteTimeout == 0 {
		ro.WriteTimeout = ioTimeout
	}
	if ro.PoolTimeout == 0 {
		ro.PoolTimeout = ioTimeout
	}
	// One retry covers a pooled connection that died with a restarted
	// server; more would only keep a caller waiting on a server that is
	// down. One dial attempt each, for the same reason.
	ro.MaxRetries = 1
	ro.DialerRetries = 1
	ro.ContextTimeoutEnabled = true
	// The connection's name shows in CLIENT LIST; CLIENT SETINFO (7.2+)
	// is left out, so that the handshake is the same on every server and
	// an ACL need not allow it.
	if ro.ClientName == "" {
		ro.ClientName = "caddy-wechat"
	}
	ro.DisableIdentity = true
	// RESP2 unless the url asks for protocol=3: the store uses no RESP3
	// feature, and on RESP3 go-redis looks for push notifications around
	// every command, which was 4% of a login's CPU through Redis.
	if !u.Query().Has("protocol") {
		ro.Protocol = 2
	}
	// Maintenance notifications are for Redis Enterprise and Cloud; off,
	// the handshake is the same on every server.
	ro.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return ro, secret, nil
}

// Addr is the server's host:port, for logs: it has no secret.
func (s *Store) Addr() string { return s.c.Options().Addr }

// Prefix is the key prefix in use.
func (s *Store) Prefix() string { return s.prefix }

// Close stops every subscription and closes the connections.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	subs := make([]*subscription, 0, len(s.subs))
	for sub := range s.subs {
		subs = append(subs, sub)
	}
	s.mu.Unlock()
	for _, sub := range subs {
		sub.stop()
	}
	s.batch.close()
	return s.c.Close()
}

// Counters implements store.Store.
func (s *Store) Counters() store.Counters { return &s.counters }

// Values implements store.Store.
func (s *Store) Values() store.Values { return &s.values }

// Revocations implements store.Store. They implement store.Freshness.
func (s *Store) Revocations() store.Revocations { return &s.revs }

// AccessTokens implements store.Store. The cache implements
// wechat.TokenLocker.
func (s *Store) AccessTokens() wechat.TokenCache { return &s.tokens }

// do runs one operation under the store's timeout, reports it to OnOp,
// and turns its error into one of the store's.
func (s *Store) do(ctx context.Context, op string, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err := f(ctx)
	s.report(op, err)
	if err != nil {
		return s.wrap(ctx, op, err)
	}
	return nil
}

func (s *Store) report(op string, err error) {
	if s.opts.OnOp == nil {
		return
	}
	if err != nil {
		s.opts.OnOp(op, ResultError)
	} else {
		s.opts.OnOp(op, ResultOK)
	}
}

// Error is every error the store returns. Its text is the operation and
// go-redis's reason with the password cut out; its chain holds
// ErrUnavailable and, when the context ended, the context's error, but
// not go-redis's error itself, so that nothing can print that unredacted.
type Error struct {
	Op     string
	reason string
	ctxErr error
}

func (e *Error) Error() string { return "redis store: " + e.Op + ": " + e.reason }

// Unwrap gives ErrUnavailable and the context's error, if any.
func (e *Error) Unwrap() []error {
	if e.ctxErr != nil {
		return []error{ErrUnavailable, e.ctxErr}
	}
	return []error{ErrUnavailable}
}

// wrap makes err one of the store's. An operation whose context has
// ended failed because of it, whatever go-redis reports (a socket
// deadline taken from the context reads as an i/o timeout).
func (s *Store) wrap(ctx context.Context, op string, err error) error {
	e := &Error{Op: op, reason: err.Error(), ctxErr: ctx.Err()}
	if s.secret != "" {
		e.reason = strings.ReplaceAll(e.reason, s.secret, "[REDACTED]")
	}
	if e.ctxErr == nil {
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			e.ctxErr = context.DeadlineExceeded
		case errors.Is(err, context.Canceled):
			e.ctxErr = context.Canceled
		}
	}
	return e
}

// esc makes an id one key segment: ':' and anything unusual escaped, so
// that two ids cannot make one key.
func esc(id string) string { return url.QueryEscape(id) }

// globEscape makes a literal of s for SCAN's MATCH pattern.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// ms is d in whole milliseconds, at least 1: Redis takes no shorter TTL,
// and 0 would mean none.
func ms(d time.Duration) int64 { return max(d.Milliseconds(), 1) }

// Interface guards
var (
	_ store.Store = (*Store)(nil)
	_ error       = (*Error)(nil)
)
