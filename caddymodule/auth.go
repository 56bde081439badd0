package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/golang-jwt/jwt/v5"
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

	// Apps restricts the route to tokens of these appids, which must be
	// configured in the wechat app. A token of another app is refused as
	// invalid. Empty: every configured app.
	Apps []string `json:"apps,omitempty"`

	verifier *verifier
	onlyApps map[string]bool

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
	a.verifier = newVerifier(app.keys, func(id string) bool { _, ok := app.apps[id]; return ok })
	if len(a.Apps) > 0 {
		a.onlyApps = make(map[string]bool, len(a.Apps))
		for _, id := range a.Apps {
			if _, ok := app.apps[id]; !ok {
				return fmt.Errorf("wechat_auth: apps names %s, which is not configured in the wechat global option", id)
			}
			a.onlyApps[id] = true
		}
	}
	return nil
}

// anonymous is the placeholder value of an anonymous request, boxed once:
// an unset placeholder would reach header_up and request_header as its
// own literal text, which a backend would read as a user id.
var anonymous any = ""

func (a *Auth) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	// Scrub first, on every path through this handler, so that no early
	// return can leave a forged header in place.
	scrubInbound(r)

	token, cred := bearerToken(r.Header)
	switch cred {
	case credMalformed:
		return a.refuse(w, r, "invalid_token", "the Authorization header holds a Bearer credential that is not of the form 'Bearer <token>'", "")
	case credNone:
		if a.Optional {
			metrics.gateAnonymous.Inc()
			repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
			repl.Set("http.auth.user.id", anonymous)
			repl.Set("http.auth.user.unionid", anonymous)
			repl.Set("http.auth.user.appid", anonymous)
			return next.ServeHTTP(w, r)
		}
		metrics.gateNoToken.Inc()
		return a.refuse(w, r, "unauthorized", "a bearer token is required: log in first", "")
	}
	id, err := a.identity(token)
	if err != nil {
		if ce := a.logger.Check(zapcore.DebugLevel, "wechat token refused"); ce != nil {
			ce.Write(zap.String("reason", err.Error()))
		}
		if errors.Is(err, jwt.ErrTokenExpired) {
			return a.refuse(w, r, "invalid_token", "the token has expired: log in again", "the token has expired")
		}
		return a.refuse(w, r, "invalid_token", "the token is invalid, expired or revoked: log in again", "")
	}
	if a.onlyApps != nil && !a.onlyApps[id.AppID] {
		return a.refuse(w, r, "invalid_token", "the token was issued for a Mini Program this route does not serve", "")
	}
	metrics.gateAllowed.Inc()

	// The token is ours; the upstream gets the identity instead. One
	// backing array for the three values, each capped so that an append
	// elsewhere cannot write into its neighbour.
	h := r.Header
	delete(h, "Authorization")
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
		if id, err = a.verifier.verify(token); err != nil {
			return nil, err
		}
		a.app.verified.put(token, id, now)
	}
	if a.app.revoked.Revoked(id.ID) {
		return nil, errRevoked
	}
	return id, nil
}

// credential is what an Authorization header holds for the gate.
type credential int

const (
	credNone      credential = iota // no Authorization, or only other schemes
	credBearer                      // exactly one usable Bearer credential
	credMalformed                   // a Bearer credential that cannot be used
)

// bearerToken reads the Authorization header as RFC 9110 reads
// credentials: the scheme in any letter case, then one or more spaces or
// tabs, then the token. Anything that names the Bearer scheme but is not
// exactly one such credential is malformed, never "no token": under
// optional it would otherwise reach the backend as if anonymous.
func bearerToken(h http.Header) (string, credential) {
	vals := h["Authorization"]
	bearers := 0
	for _, v := range vals {
		for more := true; more; {
			var seg string
			seg, v, more = strings.Cut(v, ",")
			if hasBearerScheme(seg) {
				bearers++
			}
		}
	}
	switch {
	case bearers == 0:
		return "", credNone
	case bearers > 1 || len(vals) > 1:
		return "", credMalformed
	}
	v := strings.Trim(vals[0], " \t")
	if strings.IndexByte(v, ',') >= 0 || !hasBearerScheme(v) {
		return "", credMalformed // a Bearer credential among others
	}
	rest := v[len("bearer"):]
	token := strings.TrimLeft(rest, " \t")
	if len(token) == len(rest) || token == "" {
		return "", credMalformed
	}
	return token, credBearer
}

// hasBearerScheme reports whether a credential, after optional
// whitespace, starts with the Bearer scheme: "bearer" in any case, not
// followed by another token character (so "Bearerx" is another scheme).
func hasBearerScheme(s string) bool {
	s = strings.TrimLeft(s, " \t")
	if len(s) < len("bearer") || !strings.EqualFold(s[:len("bearer")], "bearer") {
		return false
	}
	return len(s) == len("bearer") || !isTokenChar(s[len("bearer")])
}

// isTokenChar reports whether c may appear in an RFC 9110 token.
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func (a *Auth) refuse(w http.ResponseWriter, r *http.Request, code, msg, description string) error {
	if code == "invalid_token" {
		metrics.gateBadToken.Inc()
	}
	return fail(w, r, unauthorized(w, code, msg, description))
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Auth)(nil)
	_ caddyhttp.MiddlewareHandler = (*Auth)(nil)
)
