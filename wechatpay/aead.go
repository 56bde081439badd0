package wechatpay

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
)

// AlgorithmAEADAES256GCM is the only resource algorithm WeChat Pay uses,
// in notifications and in the certificates answer.
const AlgorithmAEADAES256GCM = "AEAD_AES_256_GCM"

// gcmNonceSize is the length of resource.nonce: WeChat Pay sends 12
// characters and uses their bytes as the GCM nonce as they are.
const gcmNonceSize = 12

// gcmTagSize is the tag GCM appends; WeChat Pay's ciphertext ends with it.
const gcmTagSize = 16

// Resource is an encrypted object as WeChat Pay sends it: a notification's
// resource, or a certificate's encrypt_certificate.
type Resource struct {
	Algorithm      string `json:"algorithm"`
	Ciphertext     string `json:"ciphertext"` // standard base64 of ciphertext || 16-byte tag
	AssociatedData string `json:"associated_data"`
	Nonce          string `json:"nonce"`
	OriginalType   string `json:"original_type,omitempty"` // notifications only, e.g. "transaction"
}

// DecryptResource opens r with AES-GCM: key = the APIv3 key, nonce =
// r.Nonce's bytes, additional data = r.AssociatedData's bytes, tag = the
// last 16 bytes of the decoded ciphertext. Any other r.Algorithm is
// refused, so that a downgrade cannot be slipped in through the field.
//
// The key may be 16, 24 or 32 bytes, only because the SDK's published
// vectors use 16-byte keys; a real APIv3 key is 32 bytes and the
// configuration should be checked once with CheckAPIv3Key. Failures are a
// *DecryptError.
func DecryptResource(key []byte, r Resource) ([]byte, error) {
	if r.Algorithm != AlgorithmAEADAES256GCM {
		return nil, &DecryptError{Reason: "algorithm " + quoteClip(r.Algorithm) + " is not " + AlgorithmAEADAES256GCM}
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	if len(r.Nonce) != gcmNonceSize {
		return nil, &DecryptError{Reason: "nonce must be 12 bytes"}
	}
	ct, err := base64.StdEncoding.Strict().DecodeString(r.Ciphertext)
	if err != nil {
		return nil, &DecryptError{Reason: "ciphertext is not standard base64"}
	}
	if len(ct) < gcmTagSize {
		return nil, &DecryptError{Reason: "ciphertext is shorter than the 16-byte tag"}
	}
	plain, err := aead.Open(nil, []byte(r.Nonce), ct, []byte(r.AssociatedData))
	if err != nil {
		// One answer for a wrong key and for tampering: GCM cannot tell
		// them apart, and guessing would mislead the operator.
		return nil, &DecryptError{Reason: "authentication failed (wrong APIv3 key, or altered data)"}
	}
	return plain, nil
}

// EncryptResource is DecryptResource's inverse, for a simulator of WeChat
// Pay: it seals plaintext under key with a fresh random 12-character
// nonce, as WeChat Pay does.
func EncryptResource(key, plaintext []byte, associatedData, originalType string) (Resource, error) {
	aead, err := newGCM(key)
	if err != nil {
		return Resource{}, err
	}
	nonce, err := NewNonce()
	if err != nil {
		return Resource{}, err
	}
	nonce = nonce[:gcmNonceSize]
	ct := aead.Seal(nil, []byte(nonce), plaintext, []byte(associatedData))
	return Resource{
		Algorithm:      AlgorithmAEADAES256GCM,
		Ciphertext:     base64.StdEncoding.EncodeToString(ct),
		AssociatedData: associatedData,
		Nonce:          nonce,
		OriginalType:   originalType,
	}, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	switch len(key) {
	case 16, 24, 32:
	default:
		return nil, &DecryptError{Reason: "key must be 16, 24 or 32 bytes (an APIv3 key is 32)"}
	}
	block, err := aes.NewCipher(key)
	if err != nil { // unreachable: the length is checked above
		return nil, &DecryptError{Reason: "bad AES key"}
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, errors.New("wechatpay: AES-GCM unavailable")
	}
	return aead, nil
}

// quoteClip quotes an attacker-chosen value for error text, cut short.
func quoteClip(s string) string {
	return "\"" + clip(sanitize(s), 40) + "\""
}

// sanitize replaces the bytes that could forge a log line.
func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c == 0x7f || c == '"' {
			b[i] = '?'
		}
	}
	return string(b)
}
