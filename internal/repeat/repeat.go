// Package repeat remembers the answer to a single-use code for a short
// while, so that the same code sent again (a double tap, a retry after a
// lost response) gets that answer instead of WeChat's 40163 or 40029.
package repeat

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
	"sync/atomic"
	"time"

	"github.com/caddy-wechat/caddy-wechat/internal/store"
)

// DefaultWindow is how long an answer is remembered. A double tap, or a
// retry after a lost response, arrives within seconds.
const DefaultWindow = 30 * time.Second

var window atomic.Int64

func init() { window.Store(int64(DefaultWindow)) }

// SetWindow changes how long answers are remembered from now on, for
// tests that must see the answer after the window, and returns a function
// that puts the old window back.
func SetWindow(d time.Duration) (restore func()) {
	old := window.Swap(int64(d))
	return func() { window.Store(old) }
}

// Slot is where one code's answer is kept. The store sees neither the
// code nor the answer: the key is a hash of the code and what it is bound
// to, and the answer is sealed under a key derived from the code, which
// only the client that sent it knows.
type Slot struct {
	key  string
	seal cipher.AEAD
}

// NewSlot derives the slot for code in scope ("login", "phone"), bound to
// every string in binding: for login the API origin, the signing key's
// kid, the appid and the client address; for phone the user instead of
// the address. The same code under another binding is another slot, so it
// gets today's answer.
func NewSlot(scope string, binding []string, code string) (*Slot, error) {
	ctx := scope + "\x00" + strings.Join(binding, "\x00")
	id := sha256.Sum256([]byte("caddy-wechat repeat key v1\x00" + ctx + "\x00" + code))
	sealKey, err := hkdf.Key(sha256.New, []byte(code), []byte(ctx), "caddy-wechat repeat seal v1", 32)
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
	return &Slot{key: "repeat:" + scope + ":" + hex.EncodeToString(id[:16]), seal: aead}, nil
}

// Recall fills out with the remembered answer and reports whether there
// was one.
func (s *Slot) Recall(ctx context.Context, v store.Values, out any) (bool, error) {
	sealed, ok, err := v.Get(ctx, s.key)
	if err != nil || !ok {
		return false, err
	}
	n := s.seal.NonceSize()
	if len(sealed) < n {
		return false, nil
	}
	plain, err := s.seal.Open(nil, sealed[:n], sealed[n:], []byte(s.key))
	if err != nil {
		return false, nil
	}
	return json.Unmarshal(plain, out) == nil, nil
}

// Remember keeps val for the window.
func (s *Slot) Remember(ctx context.Context, v store.Values, val any) error {
	plain, err := json.Marshal(val)
	if err != nil {
		return err
	}
	nonce := make([]byte, s.seal.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	return v.Set(ctx, s.key, s.seal.Seal(nonce, nonce, plain, []byte(s.key)), time.Duration(window.Load()))
}
