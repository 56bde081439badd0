package caddymodule

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// repeatWindow is how long the answer to a code is remembered. A double
// tap, or a retry after a lost response, arrives within seconds; WeChat
// would answer it 40163 (login) or 40029 (phone), since codes work once.
var repeatWindow = 30 * time.Second

// repeatSlot is where one code's answer is kept. The store sees neither
// the code nor the answer: the key is a hash of the code and what it is
// bound to, and the answer is sealed under a key derived from the code,
// which only the client that sent it knows.
type repeatSlot struct {
	key  string
	seal cipher.AEAD
}

// repeatSlot derives the slot for code in scope ("login", "phone"),
// bound to appID and to who may repeat it (a client address for login,
// an openid for phone): the same code from elsewhere is a miss, and gets
// today's answer. The slot also depends on the API origin and the signing
// key, so that a reload that changes either never hands out an answer
// from before.
func (a *App) repeatSlot(scope, appID, boundTo, code string) (*repeatSlot, error) {
	ctx := scope + "\x00" + a.apiOrigin() + "\x00" + a.keys.kid + "\x00" + appID + "\x00" + boundTo
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
	return &repeatSlot{key: "repeat:" + scope + ":" + hex.EncodeToString(id[:16]), seal: aead}, nil
}

// recall fills out with the remembered answer and reports whether there
// was one. A store failure is a miss: the request then gets today's
// answer, which is what it would get without the store.
func (a *App) recall(ctx context.Context, s *repeatSlot, out any) bool {
	sealed, ok, err := a.values.Get(ctx, s.key)
	if err != nil {
		a.logStoreFailure("recalling a repeated code's answer", err)
		return false
	}
	n := s.seal.NonceSize()
	if !ok || len(sealed) < n {
		return false
	}
	plain, err := s.seal.Open(nil, sealed[:n], sealed[n:], []byte(s.key))
	return err == nil && json.Unmarshal(plain, out) == nil
}

// remember keeps v for repeatWindow.
func (a *App) remember(ctx context.Context, s *repeatSlot, v any) {
	plain, err := json.Marshal(v)
	if err != nil {
		return
	}
	nonce := make([]byte, s.seal.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return
	}
	sealed := s.seal.Seal(nonce, nonce, plain, []byte(s.key))
	if err := a.values.Set(ctx, s.key, sealed, repeatWindow); err != nil {
		a.logStoreFailure("remembering a code's answer", err)
	}
}

// logStoreFailure notes a store error that the request survives.
func (a *App) logStoreFailure(what string, err error) {
	if ce := a.logger.Check(zapcore.WarnLevel, "wechat store failed "+what); ce != nil {
		ce.Write(zap.Error(err))
	}
}
