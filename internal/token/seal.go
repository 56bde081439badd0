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
	if id.sealedKey == "" {
		return "", ErrNoSessionKey
	}
	kid, sealed, ok := strings.Cut(id.sealedKey, ".")
	if !ok {
		kid, sealed = id.keyID, id.sealedKey
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
	plain, err := k.seal.Open(nil, raw[:n], raw[n:], sealAAD(id.AppID, id.OpenID))
	if err != nil {
		return "", ErrNoSessionKey
	}
	return string(plain), nil
}
