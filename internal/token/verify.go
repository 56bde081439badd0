package token

import (
	"errors"
	"fmt"
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
	// errSignature wraps golang-jwt's own, so that a caller sees the
	// same error from either path.
	errSignature = fmt.Errorf("%w: the signature does not match", jwt.ErrTokenSignatureInvalid)
)

// Verifier checks tokens against a key set: only the algorithm of the key
// the kid names, exp required, nbf honoured, numbers as numbers, iss and
// a known aud required, canonical base64 only.
type Verifier struct {
	keys   *KeySet
	parser *jwt.Parser
	known  func(appID string) bool
	now    func() time.Time
}

// NewVerifier checks tokens of keys whose aud known accepts.
func NewVerifier(keys *KeySet, known func(appID string) bool) *Verifier {
	return newVerifier(keys, known, time.Now)
}

// newVerifier is NewVerifier with a clock, which both paths read.
func newVerifier(keys *KeySet, known func(appID string) bool, now func() time.Time) *Verifier {
	return &Verifier{
		keys: keys,
		parser: jwt.NewParser(
			jwt.WithValidMethods(keys.Algs()),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithIssuer(keys.issuer),
			jwt.WithLeeway(Leeway),
			jwt.WithStrictDecoding(),
			jwt.WithTimeFunc(now),
		),
		known: known,
		now:   now,
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

// Verify returns the identity in a valid token: through the fast path
// for the tokens of this package, golang-jwt's parse for the rest.
func (v *Verifier) Verify(token string) (*Identity, error) {
	if len(token) > MaxBytes {
		return nil, ErrTooLong
	}
	if id, err, decided := v.fastVerify(token, v.now()); decided {
		return id, err
	}
	return v.verifyFull(token)
}

// verifyFull is golang-jwt's parse, configured strictly.
func (v *Verifier) verifyFull(token string) (*Identity, error) {
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
	var parts [nParts][]byte
	parts[partOpenID], parts[partUnionID], parts[partAppID] = []byte(c.Subject), []byte(c.UnionID), []byte(c.Audience)
	parts[partJTI], parts[partSealed], parts[partKID], parts[partSID] = []byte(c.ID), []byte(c.SealedKey), []byte(kid), []byte(c.SID)
	var authTime time.Time
	if c.AuthTime != nil {
		authTime = c.AuthTime.Time
	}
	return newIdentity(parts, c.IssuedAt.Time, c.ExpiresAt.Time, authTime), nil
}
