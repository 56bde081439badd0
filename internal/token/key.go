// Package token is the session token: its claims, minting and verifying
// with a set of keys, and the session_key sealed inside it. It has no
// Caddy dependency, so that it can be fuzzed and raced cheaply and used by
// tools.
package token

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
)

// Algorithms a key can have. HS256 keeps the key shared (any JWT library
// verifies with it); EdDSA and ES256 let verifiers hold only the public
// key.
const (
	HS256 = "HS256"
	EdDSA = "EdDSA"
	ES256 = "ES256"
)

// MinHS256Bytes is HS256's key size: a shorter key weakens the MAC.
const MinHS256Bytes = 32

// Key is one signing key and what is derived from it. Deriving (never
// reusing) keeps the JWT key and the session_key seal independent.
type Key struct {
	// ID is the kid: in the header of every token the key signs, and in
	// front of every session_key it seals.
	ID     string
	method jwt.SigningMethod
	sign   any // []byte, ed25519.PrivateKey or *ecdsa.PrivateKey
	verify any // []byte, ed25519.PublicKey or *ecdsa.PublicKey
	seal   cipher.AEAD
	// header is the encoded header of the tokens this key signs, and macs
	// its pooled HMAC states: the fast path's (fast.go).
	header string
	macs   *macs
}

// Alg is the key's JWT algorithm.
func (k *Key) Alg() string { return k.method.Alg() }

// PublicKey is the key verifiers elsewhere need (ed25519.PublicKey or
// *ecdsa.PublicKey), or nil for a shared HS256 key, which must never be
// published.
func (k *Key) PublicKey() crypto.PublicKey {
	switch pub := k.verify.(type) {
	case ed25519.PublicKey, *ecdsa.PublicKey:
		return pub
	}
	return nil
}

// NewKey builds the key for alg ("" is HS256) from its material: the HS256
// key itself, or a private key in PEM: Ed25519 (PKCS#8) for EdDSA, P-256
// (PKCS#8 or SEC 1) for ES256. The kid and the seal key are derived
// exactly as releases before key sets did, so that tokens and sealed
// session_keys issued then stay readable.
func NewKey(alg string, material []byte) (*Key, error) {
	k := &Key{}
	var secret []byte // what the seal key comes from
	switch alg {
	case "", HS256:
		if len(material) < MinHS256Bytes {
			return nil, fmt.Errorf("wechat: token signing_key is %d bytes; HS256 needs %d bytes or more (generate one with: openssl rand -base64 48)", len(material), MinHS256Bytes)
		}
		k.method, k.sign, k.verify, secret = jwt.SigningMethodHS256, material, material, material
		kid, err := hkdf.Key(sha256.New, material, nil, "caddy-wechat kid v1", 8)
		if err != nil {
			return nil, err
		}
		k.ID = hex.EncodeToString(kid)
	case EdDSA:
		priv, err := parseEd25519(material)
		if err != nil {
			return nil, err
		}
		pub := priv.Public().(ed25519.PublicKey)
		k.method, k.sign, k.verify, secret = jwt.SigningMethodEdDSA, priv, pub, priv.Seed()
		sum := sha256.Sum256(pub)
		k.ID = hex.EncodeToString(sum[:8])
	case ES256:
		priv, err := parseP256(material)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
		if err != nil {
			return nil, err
		}
		scalar, err := priv.Bytes()
		if err != nil {
			return nil, err
		}
		k.method, k.sign, k.verify, secret = jwt.SigningMethodES256, priv, &priv.PublicKey, scalar
		sum := sha256.Sum256(der)
		k.ID = hex.EncodeToString(sum[:8])
	default:
		return nil, fmt.Errorf("wechat: token algorithm %q: expected HS256, EdDSA or ES256", alg)
	}
	sealKey, err := hkdf.Key(sha256.New, secret, nil, "caddy-wechat session_key seal v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(sealKey)
	if err != nil {
		return nil, err
	}
	if k.seal, err = cipher.NewGCM(block); err != nil {
		return nil, err
	}
	k.header = headerSegment(k)
	if mac, ok := k.verify.([]byte); ok {
		k.macs = newMACs(mac)
	}
	return k, nil
}

// KeyAlg tells the algorithm of key material given without one (a
// previous_key): a PEM private key says what it is, anything else is an
// HS256 key.
func KeyAlg(material []byte) (string, error) {
	block, _ := pem.Decode(material)
	if block == nil {
		return HS256, nil
	}
	if block.Type == "EC PRIVATE KEY" {
		return ES256, nil
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return "", fmt.Errorf("wechat: a PEM key must be a PKCS#8 private key: %v", err)
	}
	switch k := key.(type) {
	case ed25519.PrivateKey:
		return EdDSA, nil
	case *ecdsa.PrivateKey:
		if k.Curve == elliptic.P256() {
			return ES256, nil
		}
	}
	return "", errors.New("wechat: a PEM key must be an Ed25519 (EdDSA) or P-256 (ES256) private key")
}

func parseEd25519(material []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(material)
	if block == nil {
		return nil, errors.New("wechat: an EdDSA signing_key must be an Ed25519 private key in PEM (generate one with: openssl genpkey -algorithm ed25519)")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("wechat: EdDSA signing_key: %v", err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, errors.New("wechat: EdDSA signing_key is not an Ed25519 key")
	}
	return priv, nil
}

func parseP256(material []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(material)
	if block == nil {
		return nil, errors.New("wechat: an ES256 key must be a P-256 private key in PEM (generate one with: caddy wechat keygen --algorithm ES256)")
	}
	var key any
	var err error
	if block.Type == "EC PRIVATE KEY" {
		key, err = x509.ParseECPrivateKey(block.Bytes)
	} else {
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("wechat: ES256 key: %v", err)
	}
	priv, ok := key.(*ecdsa.PrivateKey)
	if !ok || priv.Curve != elliptic.P256() {
		return nil, errors.New("wechat: an ES256 key must be a P-256 key")
	}
	return priv, nil
}

// GenerateKey makes new key material for alg: 48 random bytes for HS256,
// an Ed25519 or a P-256 private key in PEM (PKCS#8) for EdDSA or ES256.
func GenerateKey(alg string) ([]byte, error) {
	var priv any
	var err error
	switch alg {
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "", HS256:
		key := make([]byte, 48)
		_, err := rand.Read(key)
		return key, err
	default:
		return nil, fmt.Errorf("wechat: algorithm %q: expected HS256, EdDSA or ES256", alg)
	}
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
