package caddymodule

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"

	"github.com/caddyserver/caddy/v2"
	"github.com/golang-jwt/jwt/v5"
)

// minKeyBytes is HS256's key size: a shorter key weakens the MAC.
const minKeyBytes = 32

// Token algorithms. HS256 keeps the key shared (any JWT library verifies
// with signing_key); EdDSA lets verifiers hold only the public key.
const (
	algHS256 = "HS256"
	algEdDSA = "EdDSA"
)

// storageKeys are where generated signing keys are kept, next to the local
// CA and certificates, so that every instance on the same storage shares
// them.
var storageKeys = map[string]string{
	algHS256: "wechat/token_signing_key",
	algEdDSA: "wechat/token_signing_key_ed25519.pem",
}

// keyring holds the signing key and the keys derived from it. Deriving
// (never reusing) keeps the JWT key and the session_key seal independent.
type keyring struct {
	method jwt.SigningMethod
	kid    string
	sign   any // []byte or ed25519.PrivateKey
	verify any // []byte or ed25519.PublicKey
	seal   cipher.AEAD
	issuer string
}

// newKeyring builds the keyring for alg from the key material: the HS256
// key itself, or an Ed25519 private key in PEM (PKCS#8).
func newKeyring(alg string, material []byte, issuer string) (*keyring, error) {
	k := &keyring{issuer: issuer}
	var secret []byte // what the derived keys come from
	switch alg {
	case "", algHS256:
		if len(material) < minKeyBytes {
			return nil, fmt.Errorf("wechat: token signing_key is %d bytes; HS256 needs %d bytes or more (generate one with: openssl rand -base64 48)", len(material), minKeyBytes)
		}
		k.method, k.sign, k.verify, secret = jwt.SigningMethodHS256, material, material, material
		kid, err := hkdf.Key(sha256.New, material, nil, "caddy-wechat kid v1", 8)
		if err != nil {
			return nil, err
		}
		k.kid = hex.EncodeToString(kid)
	case algEdDSA:
		priv, err := parseEd25519(material)
		if err != nil {
			return nil, err
		}
		pub := priv.Public().(ed25519.PublicKey)
		k.method, k.sign, k.verify, secret = jwt.SigningMethodEdDSA, priv, pub, priv.Seed()
		sum := sha256.Sum256(pub)
		k.kid = hex.EncodeToString(sum[:8])
	default:
		return nil, fmt.Errorf("wechat: token algorithm %q: expected HS256 or EdDSA", alg)
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
	return k, nil
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

// generateKey makes new key material for alg.
func generateKey(alg string) ([]byte, error) {
	if alg == algEdDSA {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
	}
	key := make([]byte, 48)
	_, err := rand.Read(key)
	return key, err
}

// loadKeyring uses the configured key, or the one in Caddy's storage,
// generating and storing it on first use under a storage lock so that
// instances starting together agree on one key.
func loadKeyring(ctx caddy.Context, alg string, configured []byte, issuer string) (*keyring, error) {
	if alg == "" {
		alg = algHS256
	}
	if len(configured) > 0 {
		return newKeyring(alg, configured, issuer)
	}
	name, ok := storageKeys[alg]
	if !ok {
		return newKeyring(alg, nil, issuer) // reports the unknown algorithm
	}
	st := ctx.Storage()
	if err := st.Lock(ctx, name); err != nil {
		return nil, fmt.Errorf("wechat: locking storage for the signing key: %v", err)
	}
	defer func() { _ = st.Unlock(ctx, name) }()
	key, err := st.Load(ctx, name)
	if errors.Is(err, fs.ErrNotExist) {
		if key, err = generateKey(alg); err != nil {
			return nil, err
		}
		if err := st.Store(ctx, name, key); err != nil {
			return nil, fmt.Errorf("wechat: storing the generated signing key: %v", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("wechat: loading the signing key from storage: %v", err)
	}
	return newKeyring(alg, key, issuer)
}
