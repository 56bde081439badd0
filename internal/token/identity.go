package token

import "time"

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
