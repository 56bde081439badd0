package token

import (
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxAssertionTTL bounds an assertion's life: a backend that verifies it
// should be able to take exp at its word.
const MaxAssertionTTL = 5 * time.Minute

// assertionClaims are X-Wechat-Assertion's: who the gate verified, for
// whom (aud), and until when.
type assertionClaims struct {
	Issuer    string    `json:"iss"`
	Audience  string    `json:"aud"`
	Subject   string    `json:"sub"`
	AppID     string    `json:"appid"`
	UnionID   string    `json:"unionid,omitempty"`
	SID       string    `json:"sid"`
	IssuedAt  *unixTime `json:"iat"`
	ExpiresAt *unixTime `json:"exp"`
}

func (c *assertionClaims) GetExpirationTime() (*jwt.NumericDate, error) {
	return c.ExpiresAt.date(), nil
}
func (c *assertionClaims) GetIssuedAt() (*jwt.NumericDate, error)  { return c.IssuedAt.date(), nil }
func (c *assertionClaims) GetNotBefore() (*jwt.NumericDate, error) { return nil, nil }
func (c *assertionClaims) GetIssuer() (string, error)              { return c.Issuer, nil }
func (c *assertionClaims) GetSubject() (string, error)             { return c.Subject, nil }
func (c *assertionClaims) GetAudience() (jwt.ClaimStrings, error) {
	return jwt.ClaimStrings{c.Audience}, nil
}

// Assertion is a signed statement of a verified identity for one
// audience, as the gate hands it to backends; Header is its value, ready
// for the request's header map.
type Assertion struct {
	Audience  string
	Header    []string
	ExpiresAt time.Time
	// RefreshAt is when the gate stops handing it out, shortly before
	// its exp, so that a backend never receives one about to expire.
	RefreshAt time.Time
}

// ErrAssertionKey is a key that cannot sign assertions: they are for
// verifiers elsewhere, so the key must be asymmetric.
var ErrAssertionKey = errors.New("wechat: the assertion key must be EdDSA or ES256")

// MintAssertion signs an assertion of id for aud with k, valid for ttl
// (at most MaxAssertionTTL) but never past the token's own exp.
func MintAssertion(k *Key, issuer, aud string, id *Identity, now time.Time, ttl time.Duration) (*Assertion, error) {
	if k.PublicKey() == nil {
		return nil, ErrAssertionKey
	}
	ttl = min(ttl, MaxAssertionTTL)
	exp := now.Add(ttl).Truncate(time.Second)
	if id.ExpiresAt.Before(exp) {
		exp = id.ExpiresAt
	}
	c := &assertionClaims{
		Issuer: issuer, Audience: aud, Subject: id.OpenID, AppID: id.AppID, UnionID: id.UnionID, SID: id.SID,
		IssuedAt: newUnixTime(now), ExpiresAt: newUnixTime(exp),
	}
	t := jwt.NewWithClaims(k.method, c)
	t.Header["kid"] = k.ID
	s, err := t.SignedString(k.sign)
	if err != nil {
		return nil, err
	}
	return &Assertion{Audience: aud, Header: []string{s}, ExpiresAt: exp, RefreshAt: exp.Add(-ttl / 5)}, nil
}

// Assertion is the assertion cached on id for aud that is still fresh at
// now, or nil.
func (id *Identity) Assertion(aud string, now time.Time) *Assertion {
	a := id.assertion.Load()
	if a == nil || a.Audience != aud || !now.Before(a.RefreshAt) {
		return nil
	}
	return a
}

// SetAssertion caches a on id, over any older one.
func (id *Identity) SetAssertion(a *Assertion) { id.assertion.Store(a) }
