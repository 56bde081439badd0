package token

import (
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// claims are the claims of a session token. aud is a single string (the
// appid) rather than jwt.ClaimStrings so that tokens read naturally and a
// token with several audiences fails to parse.
type claims struct {
	Issuer    string    `json:"iss"`
	Subject   string    `json:"sub"`
	Audience  string    `json:"aud"`
	IssuedAt  *unixTime `json:"iat"`
	ExpiresAt *unixTime `json:"exp"`
	NotBefore *unixTime `json:"nbf,omitempty"`
	ID        string    `json:"jti"`
	UnionID   string    `json:"unionid,omitempty"`
	// SealedKey is the session_key sealed under a key derived from a
	// signing key, bound to appid and openid (see seal.go).
	SealedKey string `json:"sk,omitempty"`
	// SID names the session, the same in every token a renewal chain
	// produces; AuthTime is when the user logged in. Tokens minted
	// before sessions have neither: each is its own session.
	SID      string    `json:"sid,omitempty"`
	AuthTime *unixTime `json:"auth_time,omitempty"`
}

func (c *claims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt.date(), nil }
func (c *claims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt.date(), nil }
func (c *claims) GetNotBefore() (*jwt.NumericDate, error)      { return c.NotBefore.date(), nil }
func (c *claims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c *claims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c *claims) GetAudience() (jwt.ClaimStrings, error) {
	return jwt.ClaimStrings{c.Audience}, nil
}

// unixTime is a NumericDate that must be a JSON number. golang-jwt's own
// type also takes a string such as "9999999999", which RFC 7519 does not
// allow and no token of ours contains.
type unixTime jwt.NumericDate

func newUnixTime(t time.Time) *unixTime { return (*unixTime)(jwt.NewNumericDate(t)) }

func (t *unixTime) date() *jwt.NumericDate { return (*jwt.NumericDate)(t) }

func (t *unixTime) MarshalJSON() ([]byte, error) { return t.date().MarshalJSON() }

var errNotNumber = errors.New("a time claim is not a JSON number")

func (t *unixTime) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || (b[0] != '-' && (b[0] < '0' || b[0] > '9')) {
		return errNotNumber
	}
	return t.date().UnmarshalJSON(b)
}
