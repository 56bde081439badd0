package token

import (
	"strings"
	"time"
)

// Identity is the user a verified token names.
type Identity struct {
	OpenID    string
	UnionID   string
	AppID     string
	ID        string // the token's jti
	IssuedAt  time.Time
	ExpiresAt time.Time
	sealedKey string
	keyID     string // the kid that signed the token
	// The placeholder values, boxed once per token rather than per
	// request.
	ReplOpenID, ReplUnionID, ReplAppID any
}

// String gives the openid only, so that an Identity printed by a
// placeholder or a log never shows the sealed session_key.
func (id *Identity) String() string { return id.OpenID }

// HasSessionKey reports whether the token carries a sealed session_key.
func (id *Identity) HasSessionKey() bool { return id.sealedKey != "" }

// newIdentity makes an Identity from its strings (openid, unionid, appid,
// jti, sealed key, kid), copied into one backing string, and its times.
func newIdentity(parts [6][]byte, iat, exp time.Time) *Identity {
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
	var cut [6]string
	at := 0
	for i, p := range parts {
		cut[i] = all[at : at+len(p)]
		at += len(p)
	}
	return &Identity{
		OpenID:      cut[0],
		UnionID:     cut[1],
		AppID:       cut[2],
		ID:          cut[3],
		sealedKey:   cut[4],
		keyID:       cut[5],
		IssuedAt:    iat,
		ExpiresAt:   exp,
		ReplOpenID:  cut[0],
		ReplUnionID: cut[1],
		ReplAppID:   cut[2],
	}
}
