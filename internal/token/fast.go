package token

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"hash"
	"math/big"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// The fast path verifies tokens exactly as this package mints them,
// without golang-jwt's general parse: the header segment must be
// byte-for-byte one that a key of the set writes, and the claims must be
// the plain JSON our claims type marshals to. Anything else goes to the
// full parse, which stays the judge of everything unusual; the fast path
// decides on its own only to accept, or to refuse a bad signature under a
// header of ours. FuzzFastPath holds it to the full parse's answer.

// strictB64 is the decoding golang-jwt uses under WithStrictDecoding.
var strictB64 = base64.RawURLEncoding.Strict()

// headerSegment is the encoded header golang-jwt writes for k's tokens:
// the sorted JSON of {alg, kid, typ}.
func headerSegment(k *Key) string {
	h, _ := json.Marshal(map[string]any{"alg": k.Alg(), "kid": k.ID, "typ": "JWT"})
	return base64.RawURLEncoding.EncodeToString(h)
}

// macs pools HMAC-SHA256 states per key, each with room for its sum, so
// that a verification allocates none.
type macs struct{ pool sync.Pool }

type mac struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

func newMACs(key []byte) *macs {
	return &macs{pool: sync.Pool{New: func() any { return &mac{h: hmac.New(sha256.New, key)} }}}
}

// maxFastPayload bounds the payload the fast path decodes; longer ones
// take the full parse.
const maxFastPayload = 1024

// payloads pools the buffers payloads are decoded into.
var payloads = sync.Pool{New: func() any { return new([maxFastPayload]byte) }}

// fastVerify reports, when decided, what the full parse would say of tok:
// an identity, or a refusal. Not decided means: ask the full parse.
func (v *Verifier) fastVerify(tok string, now time.Time) (id *Identity, err error, decided bool) {
	dot1 := strings.IndexByte(tok, '.')
	if dot1 < 0 {
		return nil, nil, false
	}
	k := v.keys.byHeader[tok[:dot1]]
	if k == nil {
		return nil, nil, false
	}
	dot2 := strings.IndexByte(tok[dot1+1:], '.') + dot1 + 1
	if dot2 <= dot1 || strings.IndexByte(tok[dot2+1:], '.') >= 0 {
		return nil, nil, false
	}
	signed, sigText := tok[:dot2], tok[dot2+1:]

	var sig [ed25519.SignatureSize]byte
	if strictB64.DecodedLen(len(sigText)) > len(sig) {
		return nil, nil, false
	}
	n, derr := strictB64.Decode(sig[:], bytesOf(sigText))
	if derr != nil || strictB64.DecodedLen(len(sigText)) != n {
		return nil, nil, false
	}
	if !k.verifySignature(bytesOf(signed), sig[:n]) {
		return nil, errSignature, true
	}

	payload := tok[dot1+1 : dot2]
	if strictB64.DecodedLen(len(payload)) > maxFastPayload {
		return nil, nil, false
	}
	buf := payloads.Get().(*[maxFastPayload]byte)
	defer payloads.Put(buf)
	n, derr = strictB64.Decode(buf[:], bytesOf(payload))
	if derr != nil {
		return nil, nil, false
	}
	var c fastClaims
	if !c.parse(buf[:n]) || !c.valid(v, now) {
		return nil, nil, false
	}
	// identity copies what it keeps out of buf, which goes back to the pool.
	return c.identity(k.ID), nil, true
}

// verifySignature checks sig over signed with k.
func (k *Key) verifySignature(signed, sig []byte) bool {
	switch key := k.verify.(type) {
	case ed25519.PublicKey:
		return len(sig) == ed25519.SignatureSize && ed25519.Verify(key, signed, sig)
	case *ecdsa.PublicKey:
		// JWS: r and s, 32 bytes each for P-256, as golang-jwt reads them.
		if len(sig) != 64 {
			return false
		}
		sum := sha256.Sum256(signed)
		return ecdsa.Verify(key, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
	case []byte:
		m := k.macs.pool.Get().(*mac)
		m.h.Reset()
		m.h.Write(signed)
		ok := hmac.Equal(m.h.Sum(m.sum[:0]), sig)
		k.macs.pool.Put(m)
		return ok
	}
	return false
}

// bytesOf views s as bytes, for reading only: the hash and the decoder
// take []byte, and copying a token to call them would cost an allocation
// per request.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
