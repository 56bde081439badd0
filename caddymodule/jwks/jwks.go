// Package jwks is wechat_jwks: the public keys that verify the wechat
// app's asymmetric tokens and its X-Wechat-Assertion, as a JSON Web Key
// Set (RFC 7517), for backends and proxies that verify instead of trust.
package jwks

import (
	"encoding/json"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-wechat/caddy-wechat/caddymodule"
	"github.com/caddy-wechat/caddy-wechat/internal/reply"
	"github.com/caddy-wechat/caddy-wechat/internal/token"
)

func init() {
	caddy.RegisterModule(JWKS{})
	httpcaddyfile.RegisterHandlerDirective("wechat_jwks", parseJWKS)
}

// JWKS serves {"keys":[…]}: the public keys of the token keys that are
// asymmetric (EdDSA, ES256), current and previous, and of the assertion
// key. An HS256 key is a shared secret and is never listed: with HS256
// token keys only, the set holds the assertion key alone.
type JWKS struct {
	body []byte

	caddymodule.AppRef
}

// CaddyModule returns the Caddy module information.
func (JWKS) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.wechat_jwks",
		New: func() caddy.Module { return new(JWKS) },
	}
}

// Provision builds the set once: the keys change only with the config.
func (j *JWKS) Provision(ctx caddy.Context) error {
	if err := j.ProvisionApp(ctx); err != nil {
		return err
	}
	set := struct {
		Keys []token.JWK `json:"keys"`
	}{Keys: []token.JWK{}}
	for _, k := range j.App.Keys().Keys() {
		if jwk, ok := k.JWK(); ok {
			set.Keys = append(set.Keys, jwk)
		}
	}
	ak, err := j.App.AssertionKey(ctx)
	if err != nil {
		return err
	}
	if jwk, ok := ak.JWK(); ok {
		set.Keys = append(set.Keys, jwk)
	}
	body, err := json.Marshal(set)
	if err != nil {
		return err
	}
	j.body = append(body, '\n')
	return nil
}

func (j *JWKS) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return reply.Fail(w, r, &reply.Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Message: "use GET"})
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	// Long enough to spare the edge, short enough that a rotation's new
	// key reaches verifiers before its first token does much.
	h.Set("Cache-Control", "max-age=300")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(j.body)
	}
	return nil
}

// parseJWKS sets up wechat_jwks, which takes no options:
//
//	wechat_jwks [<matcher>]
func parseJWKS(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	j := new(JWKS)
	err := j.UnmarshalCaddyfile(h.Dispenser)
	return j, err
}

// UnmarshalCaddyfile reads wechat_jwks.
func (j *JWKS) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		return d.ArgErr()
	}
	if d.NextBlock(0) {
		return d.Errf("wechat_jwks takes no options, got %q", d.Val())
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*JWKS)(nil)
	_ caddyhttp.MiddlewareHandler = (*JWKS)(nil)
	_ caddyfile.Unmarshaler       = (*JWKS)(nil)
)
