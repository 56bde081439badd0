package token

import (
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxBytes caps a token before it reaches the JWT parser, which allocates
// in proportion to its input.
const MaxBytes = 4096

// Leeway is the clock skew allowed on exp, nbf and iat.
const Leeway = 5 * time.Second

// Errors a token is refused with, besides golang-jwt's own (jwt.ErrTokenExpired and the rest).
var (
	ErrTooLong  = errors.New("token longer than 4096 bytes")
	ErrClaims   = errors.New("token claims incomplete or for an unknown app")
	ErrCrit     = errors.New("the token names critical header extensions, which are not supported")
	ErrKeyID    = errors.New("the token's kid names no key of this set")
	ErrKeyAlg   = errors.New("the token's alg is not its key's")
	errNoKeyHdr = errors.New("the token has no kid")
)

// Verifier checks tokens against a key set: only the algorithm of the key
// the kid names, exp required, nbf honoured, numbers as numbers, iss and
// a known aud required, canonical base64 only.
type Verifier struct {
	keys   *KeySet
	parser *jwt.Parser
	known  func(appID string) bool
}

// NewVerifier checks tokens of keys whose aud known accepts.
func NewVerifier(keys *KeySet, known func(appID string) bool) *Verifier {
	return &Verifier{
		keys: keys,
		parser: jwt.NewParser(
			jwt.WithValidMethods(keys.Algs()),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithIssuer(keys.issuer),
			jwt.WithLeeway(Leeway),
			jwt.WithStrictDecoding(),
		),
		known: known,
	}
}

func (v *Verifier) keyFunc(t *jwt.Token) (any, error) {
	// RFC 7515 4.1.11: a recipient must refuse a crit it does not
	// understand, and we understand none.
	if _, ok := t.Header["crit"]; ok {
		return nil, ErrCrit
	}
	kid, ok := t.Header["kid"].(string)
	if !ok {
		return nil, errNoKeyHdr
	}
	k, ok := v.keys.byID[kid]
	if !ok {
		return nil, ErrKeyID
	}
	// The key decides the algorithm, never the token: an HS256 token
	// "signed" with a public key must not verify.
	if t.Method.Alg() != k.Alg() {
		return nil, ErrKeyAlg
	}
	return k.verify, nil
}

// Verify returns the identity in a valid token.
func (v *Verifier) Verify(token string) (*Identity, error) {
	if len(token) > MaxBytes {
		return nil, ErrTooLong
	}
	var c claims
	t, err := v.parser.ParseWithClaims(token, &c, v.keyFunc)
	if err != nil {
		return nil, err
	}
	// Every token of ours has iat; revoking a user compares with it.
	if c.Subject == "" || c.Audience == "" || c.IssuedAt == nil || !v.known(c.Audience) {
		return nil, ErrClaims
	}
	kid, _ := t.Header["kid"].(string)
	return &Identity{
		OpenID:      c.Subject,
		UnionID:     c.UnionID,
		AppID:       c.Audience,
		ID:          c.ID,
		IssuedAt:    c.IssuedAt.Time,
		ExpiresAt:   c.ExpiresAt.Time,
		sealedKey:   c.SealedKey,
		keyID:       kid,
		ReplOpenID:  c.Subject,
		ReplUnionID: c.UnionID,
		ReplAppID:   c.Audience,
	}, nil
}
