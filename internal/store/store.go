// Package store defines what the edge keeps that several instances must
// agree on: rate-limit counters, short-lived values (a repeated code's
// answer, a web-view ticket, a payment notification id), revocations, and
// the access_token cache. Every method takes a context and returns an
// error, so that a network store can report a failure and its callers can
// fail closed. Memory is the one-instance implementation; the
// wechat.stores Caddy modules provide the rest.
package store

import (
	"context"
	"time"

	"github.com/caddy-wechat/caddy-wechat/wechat"
)

// Store is every capability a store module provides, each as its own
// object (their method names would clash on one type).
type Store interface {
	Counters() Counters
	Values() Values
	Revocations() Revocations
	AccessTokens() wechat.TokenCache
}

// Counters count events per key in fixed windows, for rate limits.
type Counters interface {
	// Allow counts one event for key in a window of the given length and
	// reports whether the count is within limit, and otherwise how long
	// until the window ends.
	Allow(ctx context.Context, key string, limit int, window time.Duration) (ok bool, retryAfter time.Duration, err error)
}

// Values holds short-lived values.
type Values interface {
	// Get returns the value under key, if it has not expired.
	Get(ctx context.Context, key string) ([]byte, bool, error)
	// Set stores val under key for ttl, replacing any value.
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error
	// Add stores val under key for ttl only if key holds nothing, and
	// reports whether it did: of callers racing to add one key, exactly
	// one wins.
	Add(ctx context.Context, key string, val []byte, ttl time.Duration) (bool, error)
	// Take returns the value under key and removes it, atomically: of
	// callers racing for one key, exactly one gets the value.
	Take(ctx context.Context, key string) ([]byte, bool, error)
	// Delete removes key.
	Delete(ctx context.Context, key string) error
}

// PairedValues is a Values that does two operations in one round trip,
// the pairs a login makes: a store over the network implements it, so
// that a login costs two round trips rather than four.
type PairedValues interface {
	Values
	// GetAdd is Get of getKey and Add of addKey, in one round trip.
	GetAdd(ctx context.Context, getKey, addKey string, val []byte, ttl time.Duration) (got []byte, found, added bool, err error)
	// SetDelete is Set of setKey and then Delete of delKey, in one round
	// trip.
	SetDelete(ctx context.Context, setKey string, val []byte, ttl time.Duration, delKey string) error
}

// Revocation ends a session or a user's sessions. Exactly one of SID and
// (AppID, OpenID) is set.
type Revocation struct {
	// SID ends every token of one session.
	SID string `json:"sid,omitempty"`
	// AppID and OpenID, with NotBefore, end every token of that user
	// issued before NotBefore.
	AppID     string    `json:"appid,omitempty"`
	OpenID    string    `json:"openid,omitempty"`
	NotBefore time.Time `json:"not_before,omitzero"`
	// Until is when the record may be forgotten: no token it ends can be
	// valid after it.
	Until time.Time `json:"until"`
}

// Revocations are the shared record of ended sessions. The gate never asks
// it on a request: it keeps a local copy, loaded with List and kept
// current by Subscribe, so that no request waits on a network store.
type Revocations interface {
	// Revoke records r, on every instance.
	Revoke(ctx context.Context, r Revocation) error
	// List returns every revocation whose Until has not passed.
	List(ctx context.Context) ([]Revocation, error)
	// Subscribe calls fn with every revocation made from now on, on any
	// instance, until stop is called. fn must not block.
	Subscribe(fn func(Revocation)) (stop func())
}

// Freshness is implemented by the Revocations of a store whose local
// copies can fall behind the shared record (a network store, whose
// messages can be missed while it is unreachable). LastSync is when the
// revocations were last read in full and successfully, by List or by
// Subscribe's periodic resynchronisation: a local copy fed by Subscribe
// misses nothing revoked before that moment. It is the zero time before
// the first one. A store whose Revocations lack it is always current
// (the memory store: Subscribe is called in the revoking goroutine).
type Freshness interface {
	LastSync() time.Time
}

// SyncedSubscriber is implemented by the Revocations of a store whose
// subscriptions resynchronise. LastSync is the store's, shared by every
// subscription of the process, which is not enough for one copy (a copy
// made by a config loaded while the store was down has missed what the
// others have): SubscribeSynced is Subscribe, and calls synced, with the
// time the read began, each time this subscription has read every
// revocation in full. synced is called in fn's goroutine and must not
// block.
type SyncedSubscriber interface {
	SubscribeSynced(fn func(Revocation), synced func(time.Time)) (stop func())
}
