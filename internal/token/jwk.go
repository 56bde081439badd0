package token

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"encoding/base64"
)

// JWK is a public key as RFC 7517 writes it: OKP for Ed25519 (RFC 8037),
// EC for P-256 (RFC 7518). It has no field that could hold private
// material.
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y,omitempty"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Kid string `json:"kid"`
}

// JWK is k's public key for a JWKS, or false for a shared HS256 key,
// which is never published.
func (k *Key) JWK() (JWK, bool) {
	b64 := base64.RawURLEncoding.EncodeToString
	switch pub := k.verify.(type) {
	case ed25519.PublicKey:
		return JWK{Kty: "OKP", Crv: "Ed25519", X: b64(pub), Alg: k.Alg(), Use: "sig", Kid: k.ID}, true
	case *ecdsa.PublicKey:
		raw, err := pub.Bytes() // 0x04 || X || Y, each 32 bytes for P-256
		if err != nil || len(raw) != 65 {
			return JWK{}, false
		}
		return JWK{Kty: "EC", Crv: "P-256", X: b64(raw[1:33]), Y: b64(raw[33:]), Alg: k.Alg(), Use: "sig", Kid: k.ID}, true
	}
	return JWK{}, false
}
