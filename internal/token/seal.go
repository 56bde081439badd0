package token

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
)

// ErrNoSessionKey means a token carries no session_key this key set can
// open: none was sealed, or the key that sealed it is gone.
var ErrNoSessionKey = errors.New("token carries no usable session_key")

// sealAAD binds a sealed session_key to its user: one cut out of a token
// cannot be used in another user's.
func sealAAD(appID, openID string) []byte {
	return []byte(appID + "\x00" + openID)
}

// seal seals sessionKey under the current key as "<kid>.<nonce+sealed>",
// so that it opens while that key is in the set, whichever key signs the
// token that carries it later (a renewal after a rotation).
func (ks *KeySet) seal(appID, openID, sessionKey string) (string, error) {
	k := ks.Current()
	nonce := make([]byte, k.seal.NonceSize(), k.seal.NonceSize()+len(sessionKey)+k.seal.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := k.seal.Seal(nonce, nonce, []byte(sessionKey), sealAAD(appID, openID))
	return k.ID + "." + base64.RawURLEncoding.EncodeToString(out), nil
}

// SessionKey opens the session_key sealed in a verified token. A sealed
// key without a kid in front was made before key sets, by the key that
// signed its token.
func (ks *KeySet) SessionKey(id *Identity) (string, error) {
	return ks.open(id.AppID, id.OpenID, id.sealedKey, id.keyID)
}

// open opens a sealed session_key of the user; signedBy is the kid of
// the token that carries it, for the format before key sets.
func (ks *KeySet) open(appID, openID, sealedKey, signedBy string) (string, error) {
	if sealedKey == "" {
		return "", ErrNoSessionKey
	}
	kid, sealed, ok := strings.Cut(sealedKey, ".")
	if !ok {
		kid, sealed = signedBy, sealedKey
	}
	k, found := ks.byID[kid]
	if !found {
		return "", ErrNoSessionKey
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(sealed)
	n := k.seal.NonceSize()
	if err != nil || len(raw) < n {
		return "", ErrNoSessionKey
	}
	plain, err := k.seal.Open(nil, raw[:n], raw[n:], sealAAD(appID, openID))
	if err != nil {
		return "", ErrNoSessionKey
	}
	return string(plain), nil
}

// resealed is a session's sealed session_key under the current key: a
// renewal after a rotation moves it off the previous key, so that it
// survives that key's removal. One that cannot be opened is kept as it is.
func (ks *KeySet) resealed(s Session) string {
	kid, _, ok := strings.Cut(s.SealedKey, ".")
	if !ok || kid == ks.Current().ID {
		return s.SealedKey
	}
	plain, err := ks.open(s.AppID, s.OpenID, s.SealedKey, "")
	if err != nil {
		return s.SealedKey
	}
	sealed, err := ks.seal(s.AppID, s.OpenID, plain)
	if err != nil {
		return s.SealedKey
	}
	return sealed
}
