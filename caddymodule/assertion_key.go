package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-wechat/caddy-wechat/internal/token"
)

// AssertionConfig configures the key that signs X-Wechat-Assertion, the
// identity statement a backend can verify against wechat_jwks. It is a
// key of its own, never a token key: a backend that can verify
// assertions must not thereby hold what verifies, or signs, sessions.
type AssertionConfig struct {
	// SigningKey is the private key in PEM: Ed25519 for EdDSA, P-256 for
	// ES256 (caddy wechat keygen makes one); {env.*} and {file.*} work.
	// Empty: a key is generated once and kept in Caddy's storage, which
	// every instance sharing the storage uses.
	SigningKey string `json:"signing_key,omitempty"`

	// Algorithm is EdDSA (default) or ES256.
	Algorithm string `json:"algorithm,omitempty"`
}

// assertionStorage are where generated assertion keys are kept.
var assertionStorage = map[string]string{
	token.EdDSA: "wechat/assertion_key_ed25519.pem",
	token.ES256: "wechat/assertion_key_es256.pem",
}

func (c *AssertionConfig) alg() string {
	if c == nil || c.Algorithm == "" {
		return token.EdDSA
	}
	return c.Algorithm
}

// provisionAssertionKey loads a configured assertion key at once, so that
// a bad one fails the config; a generated one waits until a gate with
// assertion or a wechat_jwks asks for it.
func (a *App) provisionAssertionKey(repl *caddy.Replacer) error {
	if a.Assertion == nil || a.Assertion.SigningKey == "" {
		return nil
	}
	material := repl.ReplaceKnown(a.Assertion.SigningKey, "")
	if material == "" {
		return errors.New("wechat: assertion signing_key expands to nothing; is the environment variable or file set?")
	}
	k, err := token.NewKey(a.Assertion.alg(), []byte(material))
	if err != nil {
		return fmt.Errorf("wechat: assertion signing_key: %v", err)
	}
	a.assertionKey = k
	return nil
}

// AssertionKey is the key that signs X-Wechat-Assertion: the configured
// one, or the one in Caddy's storage, generated on first use.
func (a *App) AssertionKey(ctx caddy.Context) (*token.Key, error) {
	a.assertionMu.Lock()
	defer a.assertionMu.Unlock()
	if a.assertionKey != nil {
		return a.assertionKey, nil
	}
	alg := a.Assertion.alg()
	lockCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	k, err := storedKeyAt(lockCtx, ctx.Storage(), assertionStorage[alg], alg)
	if err != nil {
		return nil, fmt.Errorf("wechat: the assertion key: %v", err)
	}
	a.assertionKey = k
	return k, nil
}

// unmarshal reads the assertion block of the wechat global option.
func (c *AssertionConfig) unmarshal(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "signing_key":
			if !d.AllArgs(&c.SigningKey) {
				return d.ArgErr()
			}
		case "algorithm":
			if !d.AllArgs(&c.Algorithm) {
				return d.ArgErr()
			}
			if c.Algorithm != token.EdDSA && c.Algorithm != token.ES256 {
				return d.Errf("assertion algorithm %q: expected EdDSA or ES256 (assertions are verified elsewhere, so never HS256)", c.Algorithm)
			}
		default:
			return d.Errf("unknown subdirective %q in assertion; expected signing_key or algorithm", d.Val())
		}
	}
	if c.SigningKey != "" && !IsPlaceholder(c.SigningKey) && !strings.Contains(c.SigningKey, "PRIVATE KEY") {
		return d.Err("assertion signing_key must be a private key in PEM, usually {file./path/to/key.pem}")
	}
	return nil
}
