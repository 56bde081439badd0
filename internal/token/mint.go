package token

import (
	"crypto/rand"
	"encoding/base64"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Session is what a token is minted for.
type Session struct {
	AppID   string
	OpenID  string
	UnionID string
	// SessionKey is sealed into the token; SealedKey, from another token
	// of the session, is carried over as it is. Both empty: none.
	SessionKey string
	SealedKey  string
	// SID and AuthTime name the session and its login; a new session
	// (empty SID) gets a random sid and now.
	SID      string
	AuthTime time.Time
}

// NewSID makes a session id: 128 random bits.
func NewSID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Mint issues a token for s, signed with the current key, valid from now
// for ttl (exp in whole seconds).
func (ks *KeySet) Mint(s Session, now time.Time, ttl time.Duration) (string, time.Time, error) {
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", time.Time{}, err
	}
	exp := now.Add(ttl).Truncate(time.Second)
	c := &claims{
		Issuer:    ks.issuer,
		Subject:   s.OpenID,
		Audience:  s.AppID,
		IssuedAt:  newUnixTime(now),
		ExpiresAt: newUnixTime(exp),
		ID:        base64.RawURLEncoding.EncodeToString(jti),
		UnionID:   s.UnionID,
		SealedKey: ks.resealed(s),
		SID:       s.SID,
	}
	if c.SID == "" {
		sid, err := NewSID()
		if err != nil {
			return "", time.Time{}, err
		}
		c.SID = sid
	}
	if s.AuthTime.IsZero() {
		s.AuthTime = now
	}
	c.AuthTime = newUnixTime(s.AuthTime)
	if s.SessionKey != "" {
		sealed, err := ks.seal(s.AppID, s.OpenID, s.SessionKey)
		if err != nil {
			return "", time.Time{}, err
		}
		c.SealedKey = sealed
	}
	k := ks.Current()
	t := jwt.NewWithClaims(k.method, c)
	t.Header["kid"] = k.ID
	str, err := t.SignedString(k.sign)
	return str, exp, err
}

// NewTicket makes a web-view ticket: 192 random bits.
func NewTicket() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
