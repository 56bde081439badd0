package caddymodule

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-wechat/caddy-wechat/internal/token"
)

// storageKeys are where generated signing keys are kept, next to the local
// CA and certificates, so that every instance on the same storage shares
// them.
var storageKeys = map[string]string{
	token.HS256: "wechat/token_signing_key",
	token.EdDSA: "wechat/token_signing_key_ed25519.pem",
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
	if a.keys, err = token.NewKeySet(a.Token.Issuer, key); err != nil {
		return err
	}
	a.verifier = token.NewVerifier(a.keys, a.Configured)
	return nil
}

// storedKey uses the key in Caddy's storage, generating and storing it on
// first use under a storage lock so that instances starting together
// agree on one key.
func storedKey(ctx caddy.Context, alg string) (*token.Key, error) {
	name, ok := storageKeys[alg]
	if !ok {
		return token.NewKey(alg, nil) // reports the unknown algorithm
	}
	st := ctx.Storage()
	if err := st.Lock(ctx, name); err != nil {
		return nil, fmt.Errorf("wechat: locking storage for the signing key: %v", err)
	}
	defer func() { _ = st.Unlock(ctx, name) }()
	material, err := st.Load(ctx, name)
	if errors.Is(err, fs.ErrNotExist) {
		if material, err = token.GenerateKey(alg); err != nil {
			return nil, err
		}
		if err := st.Store(ctx, name, material); err != nil {
			return nil, fmt.Errorf("wechat: storing the generated signing key: %v", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("wechat: loading the signing key from storage: %v", err)
	}
	return token.NewKey(alg, material)
}
