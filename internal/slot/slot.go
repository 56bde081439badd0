// Package slot keeps a value in a store under a secret that only its
// client knows (a code, a ticket), without the store ever holding the
// secret or the value in clear: the key is a hash of the secret and what
// it is bound to, and the value is sealed with AES-256-GCM under a key
// derived from the secret.
package slot

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"github.com/caddy-wechat/caddy-wechat/internal/store"
)

// Slot is where one secret's value is kept.
type Slot struct {
	key  string
	seal cipher.AEAD
}

// New derives the slot of secret in scope ("repeat:login", "ticket"),
// bound to every string in binding: the same secret under another
// binding is another slot.
func New(scope string, binding []string, secret string) (*Slot, error) {
	ctx := scope + "\x00" + strings.Join(binding, "\x00")
	id := sha256.Sum256([]byte("caddy-wechat slot key v1\x00" + ctx + "\x00" + secret))
	sealKey, err := hkdf.Key(sha256.New, []byte(secret), []byte(ctx), "caddy-wechat slot seal v1", 32)
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
	return &Slot{key: scope + ":" + hex.EncodeToString(id[:16]), seal: aead}, nil
}

// Get fills out with the value, if there is one.
func (s *Slot) Get(ctx context.Context, v store.Values, out any) (bool, error) {
	sealed, ok, err := v.Get(ctx, s.key)
	if err != nil || !ok {
		return false, err
	}
	return s.open(sealed, out), nil
}

// Take fills out with the value and removes it, atomically: of callers
// racing for one slot, one gets the value.
func (s *Slot) Take(ctx context.Context, v store.Values, out any) (bool, error) {
	sealed, ok, err := v.Take(ctx, s.key)
	if err != nil || !ok {
		return false, err
	}
	return s.open(sealed, out), nil
}

// Set keeps val for ttl.
func (s *Slot) Set(ctx context.Context, v store.Values, val any, ttl time.Duration) error {
	sealed, err := s.sealValue(val)
	if err != nil {
		return err
	}
	return v.Set(ctx, s.key, sealed, ttl)
}

// Add keeps val for ttl unless the slot holds a value, and reports
// whether it did.
func (s *Slot) Add(ctx context.Context, v store.Values, val any, ttl time.Duration) (bool, error) {
	sealed, err := s.sealValue(val)
	if err != nil {
		return false, err
	}
	return v.Add(ctx, s.key, sealed, ttl)
}

// GetAdd fills out with s's value, if there is one, and adds val to other
// for ttl unless other holds a value, in one round trip.
func (s *Slot) GetAdd(ctx context.Context, v store.PairedValues, out any, other *Slot, val any, ttl time.Duration) (found, added bool, err error) {
	sealed, err := other.sealValue(val)
	if err != nil {
		return false, false, err
	}
	got, found, added, err := v.GetAdd(ctx, s.key, other.key, sealed, ttl)
	if err != nil {
		return false, false, err
	}
	return found && s.open(got, out), added, nil
}

// SetDelete keeps val in s for ttl and then removes other, in one round
// trip.
func (s *Slot) SetDelete(ctx context.Context, v store.PairedValues, val any, ttl time.Duration, other *Slot) error {
	sealed, err := s.sealValue(val)
	if err != nil {
		return err
	}
	return v.SetDelete(ctx, s.key, sealed, ttl, other.key)
}

func (s *Slot) sealValue(val any) ([]byte, error) {
	plain, err := json.Marshal(val)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, s.seal.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.seal.Seal(nonce, nonce, plain, []byte(s.key)), nil
}

// open reports false for a value that does not open (another secret's, or
// a store's corruption), as if there were none.
func (s *Slot) open(sealed []byte, out any) bool {
	n := s.seal.NonceSize()
	if len(sealed) < n {
		return false
	}
	plain, err := s.seal.Open(nil, sealed[:n], sealed[n:], []byte(s.key))
	return err == nil && json.Unmarshal(plain, out) == nil
}

// Key is the store key of the slot: a hash, never the secret.
func (s *Slot) Key() string { return s.key }
