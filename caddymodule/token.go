package caddymodule

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// maxTokenBytes caps a bearer token before it reaches the JWT parser, which
// allocates in proportion to its input.
const maxTokenBytes = 4096

// sessionClaims are the claims of a session token. aud is a single string
// (the appid) rather than jwt.ClaimStrings so that tokens read naturally
// and a token with several audiences fails to parse.
type sessionClaims struct {
	Issuer    string    `json:"iss"`
	Subject   string    `json:"sub"`
	Audience  string    `json:"aud"`
	IssuedAt  *unixTime `json:"iat"`
	ExpiresAt *unixTime `json:"exp"`
	NotBefore *unixTime `json:"nbf,omitempty"`
	ID        string    `json:"jti"`
	UnionID   string    `json:"unionid,omitempty"`
	// SealedKey is the session_key sealed with AES-256-GCM under a key
	// derived from the signing key, bound to appid and openid.
	SealedKey string `json:"sk,omitempty"`
}

func (c *sessionClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt.date(), nil }
func (c *sessionClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt.date(), nil }
func (c *sessionClaims) GetNotBefore() (*jwt.NumericDate, error)      { return c.NotBefore.date(), nil }
func (c *sessionClaims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c *sessionClaims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c *sessionClaims) GetAudience() (jwt.ClaimStrings, error) {
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

// Identity is a verified user.
type Identity struct {
	OpenID    string
	UnionID   string
	AppID     string
	ID        string // the token's jti
	ExpiresAt time.Time
	sealedKey string
	// The placeholder values, boxed once per token rather than per request.
	replOpenID, replUnionID, replAppID any
}

// String gives the openid only, so that an Identity printed by a
// placeholder or a log never shows the sealed session_key.
func (id *Identity) String() string { return id.OpenID }

var errNoSessionKey = errors.New("token carries no session_key")

// mint issues a token for the session.
func (k *keyring) mint(appID, openID, unionID, sessionKey string, now time.Time, ttl time.Duration) (string, time.Time, error) {
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", time.Time{}, err
	}
	exp := now.Add(ttl).Truncate(time.Second)
	c := &sessionClaims{
		Issuer:    k.issuer,
		Subject:   openID,
		Audience:  appID,
		IssuedAt:  newUnixTime(now),
		ExpiresAt: newUnixTime(exp),
		ID:        base64.RawURLEncoding.EncodeToString(jti),
		UnionID:   unionID,
	}
	if sessionKey != "" {
		sealed, err := k.sealSessionKey(appID, openID, sessionKey)
		if err != nil {
			return "", time.Time{}, err
		}
		c.SealedKey = sealed
	}
	t := jwt.NewWithClaims(k.method, c)
	t.Header["kid"] = k.kid
	s, err := t.SignedString(k.sign)
	return s, exp, err
}

func sealAAD(appID, openID string) []byte {
	return []byte(appID + "\x00" + openID)
}

func (k *keyring) sealSessionKey(appID, openID, sessionKey string) (string, error) {
	nonce := make([]byte, k.seal.NonceSize(), k.seal.NonceSize()+len(sessionKey)+k.seal.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := k.seal.Seal(nonce, nonce, []byte(sessionKey), sealAAD(appID, openID))
	return base64.RawURLEncoding.EncodeToString(out), nil
}

// sessionKey opens the session_key sealed in a verified token.
func (k *keyring) sessionKey(id *Identity) (string, error) {
	if id.sealedKey == "" {
		return "", errNoSessionKey
	}
	raw, err := base64.RawURLEncoding.DecodeString(id.sealedKey)
	if err != nil || len(raw) < k.seal.NonceSize() {
		return "", errNoSessionKey
	}
	n := k.seal.NonceSize()
	plain, err := k.seal.Open(nil, raw[:n], raw[n:], sealAAD(id.AppID, id.OpenID))
	if err != nil {
		return "", errNoSessionKey
	}
	return string(plain), nil
}

// verifier checks tokens: only the configured algorithm, only our kid, exp required, iss and
// a configured aud required.
type verifier struct {
	keys   *keyring
	parser *jwt.Parser
	known  func(appID string) bool
}

func newVerifier(keys *keyring, known func(string) bool) *verifier {
	return &verifier{
		keys: keys,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{keys.method.Alg()}),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithIssuer(keys.issuer),
			jwt.WithLeeway(5*time.Second),
			jwt.WithStrictDecoding(),
		),
		known: known,
	}
}

var (
	errTokenTooLong = errors.New("token longer than 4096 bytes")
	errTokenClaims  = errors.New("token claims incomplete or for an unknown app")
)

var errCrit = errors.New("the token names critical header extensions, which are not supported")

func (v *verifier) keyFunc(t *jwt.Token) (any, error) {
	// RFC 7515 4.1.11: a recipient must refuse a crit it does not
	// understand, and we understand none.
	if _, ok := t.Header["crit"]; ok {
		return nil, errCrit
	}
	if kid, _ := t.Header["kid"].(string); kid != v.keys.kid {
		return nil, errors.New("unknown kid")
	}
	return v.keys.verify, nil
}

// verify returns the identity in a valid token.
func (v *verifier) verify(token string) (*Identity, error) {
	if len(token) > maxTokenBytes {
		return nil, errTokenTooLong
	}
	var c sessionClaims
	if _, err := v.parser.ParseWithClaims(token, &c, v.keyFunc); err != nil {
		return nil, err
	}
	if c.Subject == "" || c.Audience == "" || !v.known(c.Audience) {
		return nil, errTokenClaims
	}
	return &Identity{
		OpenID:      c.Subject,
		UnionID:     c.UnionID,
		AppID:       c.Audience,
		ID:          c.ID,
		ExpiresAt:   c.ExpiresAt.Time,
		sealedKey:   c.SealedKey,
		replOpenID:  c.Subject,
		replUnionID: c.UnionID,
		replAppID:   c.Audience,
	}, nil
}
