package caddymodule

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func init() {
	caddy.RegisterModule(Auth{})
}

// Auth is the gate. It strips every client-supplied identity header, then
// checks the bearer token and, when it is valid, sets X-Openid, X-Unionid
// and X-Wechat-Appid for the handlers after it.
type Auth struct {
	// Optional lets requests without a token through anonymously. Their
	// identity headers are stripped all the same, and a request with a
	// bad token is still refused.
	Optional bool `json:"optional,omitempty"`

	verify *verifier

	appRef
}

// CaddyModule returns the Caddy module information.
func (Auth) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.wechat_auth",
		New: func() caddy.Module { return new(Auth) },
	}
}

// Provision finds the wechat app and builds the verifier once, so that the
// per-request path only parses.
func (a *Auth) Provision(ctx caddy.Context) error {
	if err := a.provisionApp(ctx); err != nil {
		return err
	}
	app := a.app
	a.verify = newVerifier(app.keys, func(id string) bool { _, ok := app.apps[id]; return ok })
	return nil
}

// identityCtxKey keeps the verified identity on the request for the
// handlers that run after the gate (decrypt, phone).
type identityCtxKey struct{}

func (a *Auth) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	// Strip first, on every path through this handler, so that no early
	// return can leave a forged header in place.
	stripIdentity(r.Header)

	token, present, malformed := bearerToken(r.Header)
	if malformed {
		return a.refuse(w, r, "invalid_token", "the Authorization header is malformed")
	}
	if !present {
		if a.Optional {
			metrics.gateAnonymous.Inc()
			return next.ServeHTTP(w, r)
		}
		metrics.gateNoToken.Inc()
		return a.refuse(w, r, "unauthorized", "a bearer token is required: log in first")
	}
	id, err := a.identity(token)
	if err != nil {
		if ce := a.logger.Check(zapcore.DebugLevel, "wechat token refused"); ce != nil {
			ce.Write(zap.String("reason", err.Error()))
		}
		return a.refuse(w, r, "invalid_token", "the token is invalid, expired or revoked: log in again")
	}
	metrics.gateAllowed.Inc()

	// The token is ours; the upstream gets the identity instead. One
	// backing array for the three values, each capped so that an append
	// elsewhere cannot write into its neighbour.
	h := r.Header
	h.Del("Authorization")
	vals := [...]string{id.OpenID, id.AppID, id.UnionID}
	h[hdrOpenID] = vals[0:1:1]
	h[hdrAppID] = vals[1:2:2]
	if id.UnionID != "" {
		h[hdrUnionID] = vals[2:3:3]
	}
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	repl.Set("http.auth.user.id", id.replOpenID)
	repl.Set("http.auth.user.unionid", id.replUnionID)
	repl.Set("http.auth.user.appid", id.replAppID)
	setIdentity(r, id)
	return next.ServeHTTP(w, r)
}

var errRevoked = errors.New("token revoked")

// identity verifies token, through the cache of verified tokens.
// Revocation is checked on every request, hit or miss.
func (a *Auth) identity(token string) (*Identity, error) {
	now := time.Now()
	id := a.app.verified.get(token, now)
	if id == nil {
		var err error
		if id, err = a.verify.verify(token); err != nil {
			return nil, err
		}
		a.app.verified.put(token, id, now)
	}
	if a.app.revoked.Revoked(id.ID) {
		return nil, errRevoked
	}
	return id, nil
}

// bearerToken finds the bearer token. A header that is not a Bearer
// credential counts as no token; several Authorization headers, or a
// Bearer header with no token, are malformed.
func bearerToken(h http.Header) (token string, present, malformed bool) {
	vals := h.Values("Authorization")
	if len(vals) == 0 {
		return "", false, false
	}
	bearers := 0
	for _, v := range vals {
		scheme, rest, _ := strings.Cut(strings.TrimSpace(v), " ")
		if strings.EqualFold(scheme, "Bearer") {
			bearers++
			token = strings.TrimSpace(rest)
		}
	}
	switch {
	case bearers == 0:
		return "", false, false
	case bearers > 1 || len(vals) > 1 || token == "":
		return "", true, true
	}
	return token, true, false
}

func (a *Auth) refuse(w http.ResponseWriter, r *http.Request, code, msg string) error {
	challenge := `Bearer realm="wechat"`
	if code == "invalid_token" {
		metrics.gateBadToken.Inc()
		challenge += `, error="invalid_token"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	return fail(w, r, &apiError{http.StatusUnauthorized, code, msg})
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Auth)(nil)
	_ caddyhttp.MiddlewareHandler = (*Auth)(nil)
)
