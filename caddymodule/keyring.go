package caddymodule

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"

	"github.com/caddyserver/caddy/v2"
)

// minKeyBytes is HS256's key size: a shorter key weakens the MAC.
const minKeyBytes = 32

// storageKey is where a generated signing key is kept, next to the local
// CA and certificates, so that every instance on the same storage shares it.
const storageKey = "wechat/token_signing_key"

// keyring holds the HS256 key and the keys derived from it. Deriving (never
// reusing) keeps the JWT MAC key and the session_key seal independent.
type keyring struct {
	kid    string
	hmac   []byte
	seal   cipher.AEAD
	issuer string
}

func newKeyring(key []byte, issuer string) (*keyring, error) {
	if len(key) < minKeyBytes {
		return nil, fmt.Errorf("wechat: token signing_key is %d bytes; HS256 needs %d bytes or more (generate one with: openssl rand -base64 48)", len(key), minKeyBytes)
	}
	sealKey, err := hkdf.Key(sha256.New, key, nil, "caddy-wechat session_key seal v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(sealKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	// The kid is derived, so it names the key without revealing it.
	kidBytes, err := hkdf.Key(sha256.New, key, nil, "caddy-wechat kid v1", 8)
	if err != nil {
		return nil, err
	}
	return &keyring{kid: hex.EncodeToString(kidBytes), hmac: key, seal: aead, issuer: issuer}, nil
}

// loadKeyring uses the configured key, or the one in Caddy's storage,
// generating and storing it on first use under a storage lock so that
// instances starting together agree on one key.
func loadKeyring(ctx caddy.Context, configured []byte, issuer string) (*keyring, error) {
	if len(configured) > 0 {
		return newKeyring(configured, issuer)
	}
	st := ctx.Storage()
	if err := st.Lock(ctx, storageKey); err != nil {
		return nil, fmt.Errorf("wechat: locking storage for the signing key: %v", err)
	}
	defer func() { _ = st.Unlock(ctx, storageKey) }()
	key, err := st.Load(ctx, storageKey)
	if errors.Is(err, fs.ErrNotExist) {
		key = make([]byte, 48)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := st.Store(ctx, storageKey, key); err != nil {
			return nil, fmt.Errorf("wechat: storing the generated signing key: %v", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("wechat: loading the signing key from storage: %v", err)
	}
	return newKeyring(key, issuer)
}
