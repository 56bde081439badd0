package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"

	"github.com/caddy-wechat/caddy-wechat/internal/token"
)

// storageKeys are where generated signing keys are kept, next to the local
// CA and certificates, so that every instance on the same storage shares
// them.
var storageKeys = map[string]string{
	token.HS256: "wechat/token_signing_key",
	token.EdDSA: "wechat/token_signing_key_ed25519.pem",
	token.ES256: "wechat/token_signing_key_es256.pem",
}

// provisionKeys builds the key set and the verifier: from the configured
// signing_key, or from the key in Caddy's storage.
func (a *App) provisionKeys(ctx caddy.Context, repl *caddy.Replacer) error {
	material := repl.ReplaceKnown(a.Token.SigningKey, "")
	if a.Token.SigningKey != "" && material == "" {
		return errors.New("wechat: token signing_key expands to nothing; is the environment variable or file set?")
	}
	alg := a.Token.Algorithm
	if alg == "" {
		alg = token.HS256
	}
	var key *token.Key
	var err error
	if material != "" {
		key, err = token.NewKey(alg, []byte(material))
	} else {
		key, err = storedKey(ctx, alg)
	}
	if err != nil {
		return err
	}
	keys := []*token.Key{key}
	for i, raw := range a.Token.PreviousKeys {
		prev, err := previousKey(repl, raw)
		if err != nil {
			return fmt.Errorf("wechat: token previous_key %d: %v", i+1, err)
		}
		keys = append(keys, prev)
	}
	if a.keys, err = token.NewKeySet(a.Token.Issuer, keys...); err != nil {
		return err
	}
	a.verifier = token.NewVerifier(a.keys, a.Configured)
	return nil
}

// previousKey builds a previous key, whose material says its algorithm.
func previousKey(repl *caddy.Replacer, raw string) (*token.Key, error) {
	material := repl.ReplaceKnown(raw, "")
	if material == "" {
		return nil, errors.New("it expands to nothing; is the environment variable or file set?")
	}
	alg, err := token.KeyAlg([]byte(material))
	if err != nil {
		return nil, err
	}
	return token.NewKey(alg, []byte(material))
}

// storedKey uses the token key in Caddy's storage.
func storedKey(ctx caddy.Context, alg string) (*token.Key, error) {
	name, ok := storageKeys[alg]
	if !ok {
		return token.NewKey(alg, nil) // reports the unknown algorithm
	}
	return storedKeyAt(ctx, ctx.Storage(), name, alg)
}

// storedKeyAt uses the key of alg kept at name in storage, generating and
// storing it on first use under a storage lock so that instances starting
// together agree on one key.
func storedKeyAt(ctx context.Context, st certmagic.Storage, name, alg string) (*token.Key, error) {
	if err := st.Lock(ctx, name); err != nil {
		return nil, fmt.Errorf("wechat: locking storage for %s: %v", name, err)
	}
	defer func() { _ = st.Unlock(ctx, name) }()
	material, err := st.Load(ctx, name)
	if errors.Is(err, fs.ErrNotExist) {
		if material, err = token.GenerateKey(alg); err != nil {
			return nil, err
		}
		if err := st.Store(ctx, name, material); err != nil {
			return nil, fmt.Errorf("wechat: storing the generated key at %s: %v", name, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("wechat: loading the key at %s from storage: %v", name, err)
	}
	return token.NewKey(alg, material)
}
