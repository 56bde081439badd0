package token

import (
	"strings"
	"sync/atomic"
	"time"
)

// Identity is the user a verified token names.
type Identity struct {
	OpenID  string
	UnionID string
	AppID   string
	ID      string // the token's jti
	// SID is the session: the token's sid, or its jti for a token from
	// before sessions, which is its own session.
	SID string
	// AuthTime is when the user logged in: the token's auth_time, or its
	// iat for a token from before sessions.
	AuthTime  time.Time
	IssuedAt  time.Time
	ExpiresAt time.Time
	sealedKey string
	keyID     string // the kid that signed the token
	// The placeholder values, boxed once per token rather than per
	// request.
	ReplOpenID, ReplUnionID, ReplAppID any
	// renewed is the token this one was renewed into, so that every
	// request carrying it gets the same one.
	renewed atomic.Pointer[Renewal]
	// assertion is the last X-Wechat-Assertion minted for this token,
	// handed out until shortly before its exp.
	assertion atomic.Pointer[Assertion]
	// cached is the token the cache made this Identity for.
	cached cacheRef
}

// cacheRef is the token a cached Identity was made for, so that its hot
// slot yields it for that token alone: the same checks as a record's.
type cacheRef struct {
	sig   string
	sum   uint64
	size  int
	until int64 // unix nanoseconds
}

func (c *cacheRef) is(sum uint64, tok string, now int64) bool {
	return c.size == len(tok) && c.sum == sum && now < c.until && c.sig == signature(tok)
}

// Renewal is a token renewed into: the same session, a later exp.
type Renewal struct {
	Token     string
	ExpiresAt time.Time
}

// Renewed is the token id's token was renewed into, or nil.
func (id *Identity) Renewed() *Renewal { return id.renewed.Load() }

// SetRenewed records r as the renewal of id's token, unless one is
// recorded already, and returns the one that is.
func (id *Identity) SetRenewed(r *Renewal) *Renewal {
	if id.renewed.CompareAndSwap(nil, r) {
		return r
	}
	return id.renewed.Load()
}

// String gives the openid only, so that an Identity printed by a
// placeholder or a log never shows the sealed session_key.
func (id *Identity) String() string { return id.OpenID }

// HasSessionKey reports whether the token carries a sealed session_key.
func (id *Identity) HasSessionKey() bool { return id.sealedKey != "" }

// Session is what a token renewed or handed to a web-view carries over:
// the same user, the same session, the same sealed session_key.
func (id *Identity) Session() Session {
	return Session{AppID: id.AppID, OpenID: id.OpenID, UnionID: id.UnionID, SID: id.SID, AuthTime: id.AuthTime, SealedKey: id.sealedKey}
}

// Indexes of the parts of an Identity for newIdentity.
const (
	partOpenID = iota
	partUnionID
	partAppID
	partJTI
	partSealed
	partKID
	partSID
	nParts
)

// newIdentity makes an Identity from its strings, copied into one
// backing string, and its times. An empty sid or a zero authTime means a
// token from before sessions.
func newIdentity(parts [nParts][]byte, iat, exp, authTime time.Time) *Identity {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	var b strings.Builder
	b.Grow(n)
	for _, p := range parts {
		b.Write(p)
	}
	all := b.String()
	var cut [nParts]string
	at := 0
	for i, p := range parts {
		cut[i] = all[at : at+len(p)]
		at += len(p)
	}
	id := &Identity{
		OpenID:      cut[partOpenID],
		UnionID:     cut[partUnionID],
		AppID:       cut[partAppID],
		ID:          cut[partJTI],
		SID:         cut[partSID],
		sealedKey:   cut[partSealed],
		keyID:       cut[partKID],
		AuthTime:    authTime,
		IssuedAt:    iat,
		ExpiresAt:   exp,
		ReplOpenID:  cut[partOpenID],
		ReplUnionID: cut[partUnionID],
		ReplAppID:   cut[partAppID],
	}
	if id.SID == "" {
		id.SID = id.ID
	}
	if id.AuthTime.IsZero() {
		id.AuthTime = iat
	}
	return id
}
