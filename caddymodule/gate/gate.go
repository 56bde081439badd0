// Package gate is wechat_auth: it strips every client-supplied identity
// header, checks the session token, and sets X-Openid, X-Unionid and
// X-Wechat-Appid for the handlers after it.
package gate

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-wechat/caddy-wechat/caddymodule"
	"github.com/caddy-wechat/caddy-wechat/internal/metrics"
	"github.com/caddy-wechat/caddy-wechat/internal/reply"
	"github.com/caddy-wechat/caddy-wechat/internal/token"
)

func init() {
	caddy.RegisterModule(Auth{})
	httpcaddyfile.RegisterHandlerDirective("wechat_auth", parseAuth)
}

// Identity headers the gate sets. Canonical form, as net/http stores them.
const (
	HeaderOpenID  = "X-Openid"
	HeaderUnionID = "X-Unionid"
	HeaderAppID   = "X-Wechat-Appid"
)

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

	// Preflight is what the gate does with a CORS preflight (with cookie
	// sessions on): answer it (empty, the default; the upstream is not
	// called), or "pass" it on to the next handler, anonymously, for a
	// backend that answers CORS itself.
	Preflight string `json:"preflight,omitempty"`

	// Assertion adds X-Wechat-Assertion to the request passed on: a JWT
	// of the identity signed with the wechat app's assertion key, which a
	// backend verifies against wechat_jwks instead of trusting its
	// network. Minted once per token, and cached with it.
	Assertion *AssertionOptions `json:"assertion,omitempty"`

	// Respond makes the gate the auth service of a proxy in front (nginx
	// auth_request, Caddy forward_auth, Traefik forwardAuth): it answers
	// 200 with the identity headers in the response, or the usual
	// refusal, and never passes the request on. Serve it only where that
	// proxy alone can reach it.
	Respond bool `json:"respond,omitempty"`

	onlyApps map[string]bool
	// What the per-request path uses, taken from the app once.
	cookies      *caddymodule.CookieConfig
	renewWithin  time.Duration
	assertionKey *token.Key

	caddymodule.AppRef
}

// CaddyModule returns the Caddy module information.
func (Auth) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.wechat_auth",
		New: func() caddy.Module { return new(Auth) },
	}
}

// Provision finds the wechat app, whose verifier, cache and revocations
// every gate of the config shares.
func (a *Auth) Provision(ctx caddy.Context) error {
	if err := a.ProvisionApp(ctx); err != nil {
		return err
	}
	a.use(a.App)
	if a.Assertion != nil {
		if err := a.Assertion.provision(); err != nil {
			return err
		}
		k, err := a.App.AssertionKey(ctx)
		if err != nil {
			return err
		}
		a.assertionKey = k
	}
	if len(a.Apps) > 0 {
		a.onlyApps = make(map[string]bool, len(a.Apps))
		for _, id := range a.Apps {
			if !a.App.Configured(id) {
				return fmt.Errorf("wechat_auth: apps names %s, which is not configured in the wechat global option", id)
			}
			a.onlyApps[id] = true
		}
	}
	return nil
}

// use takes what the per-request path needs from app.
func (a *Auth) use(app *caddymodule.App) {
	a.App = app
	a.cookies, a.renewWithin = app.Cookies(), app.RenewWithin()
}

// anonymous is the placeholder value of an anonymous request, boxed once:
// an unset placeholder would reach header_up and request_header as its
// own literal text, which a backend would read as a user id.
var anonymous any = ""

func (a *Auth) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	// Scrub first, on every path through this handler, so that no early
	// return can leave a forged header in place.
	Scrub(r)

	if a.cookies != nil && a.App.IsPreflight(r) {
		if a.Respond {
			return respondAnonymous(w)
		}
		if a.Preflight != "pass" {
			a.App.AnswerPreflight(w, r)
			return nil
		}
		setAnonymous(r)
		return next.ServeHTTP(w, r)
	}
	if a.cookies != nil && !a.Respond {
		// Refusals too, so that a page can read why.
		a.App.CORS(w, r)
	}

	tok, cred, fromCookie := a.App.SessionCredential(r)
	switch cred {
	case caddymodule.CredMalformed:
		return a.refuse(w, r, "invalid_token", "the Authorization header holds a Bearer credential that is not of the form 'Bearer <token>'", "")
	case caddymodule.CredNone:
		if a.Optional {
			metrics.GateAnonymous.Inc()
			if a.Respond {
				return respondAnonymous(w)
			}
			setAnonymous(r)
			return next.ServeHTTP(w, r)
		}
		metrics.GateNoToken.Inc()
		return a.refuse(w, r, "unauthorized", "a bearer token is required: log in first", "")
	}
	orig := r // the request the browser sent, as far as the checks go
	if a.Respond {
		orig = forwardedView(r)
	}
	if fromCookie {
		if a.cookies.CrossSite(orig) {
			metrics.CSRFRejected.Inc()
			return reply.Fail(w, r, reply.CSRFRejected())
		}
		// The cookie is ours; the backend's own cookies pass as they came.
		a.cookies.Strip(r.Header)
	}
	now := time.Now()
	id, err := a.App.Authenticate(tok, now)
	if err != nil {
		if ce := a.Logger.Check(zapcore.DebugLevel, "wechat token refused"); ce != nil {
			ce.Write(zap.String("reason", err.Error()), zap.Bool("cookie", fromCookie))
		}
		if fromCookie {
			a.cookies.Clear(w, orig)
		}
		if errors.Is(err, jwt.ErrTokenExpired) {
			return a.refuse(w, r, "invalid_token", "the token has expired: log in again", "the token has expired")
		}
		return a.refuse(w, r, "invalid_token", "the token is invalid, expired or revoked: log in again", "")
	}
	if a.onlyApps != nil && !a.onlyApps[id.AppID] {
		return a.refuse(w, r, "invalid_token", "the token was issued for a Mini Program this route does not serve", "")
	}
	metrics.GateAllowed.Inc()
	var assertion []string
	if a.assertionKey != nil {
		if assertion, err = a.assertion(orig, id, now); err != nil {
			return caddyhttp.Error(http.StatusInternalServerError, err)
		}
	}
	if a.Respond {
		return a.respond(w, orig, id, assertion, now, fromCookie)
	}

	// The token is ours; the upstream gets the identity instead. One
	// backing array for the three values, each capped so that an append
	// elsewhere cannot write into its neighbour.
	h := r.Header
	delete(h, "Authorization")
	vals := [...]string{id.OpenID, id.AppID, id.UnionID}
	h[HeaderOpenID] = vals[0:1:1]
	h[HeaderAppID] = vals[1:2:2]
	if id.UnionID != "" {
		h[HeaderUnionID] = vals[2:3:3]
	}
	if assertion != nil {
		h[HeaderAssertion] = assertion
	}
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	repl.Set("http.auth.user.id", id.ReplOpenID)
	repl.Set("http.auth.user.unionid", id.ReplUnionID)
	repl.Set("http.auth.user.appid", id.ReplAppID)
	caddymodule.SetIdentity(r, id)

	if a.renewWithin <= 0 || id.ExpiresAt.Sub(now) >= a.renewWithin {
		return next.ServeHTTP(w, r)
	}
	return a.serveRenewed(w, r, next, id, now, fromCookie)
}

// setAnonymous gives an anonymous request empty user placeholders.
func setAnonymous(r *http.Request) {
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	repl.Set("http.auth.user.id", anonymous)
	repl.Set("http.auth.user.unionid", anonymous)
	repl.Set("http.auth.user.appid", anonymous)
}

func (a *Auth) refuse(w http.ResponseWriter, r *http.Request, code, msg, description string) error {
	if code == "invalid_token" {
		metrics.GateBadToken.Inc()
	}
	return reply.Fail(w, r, reply.Unauthorized(w, code, msg, description))
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Auth)(nil)
	_ caddyhttp.MiddlewareHandler = (*Auth)(nil)
)
