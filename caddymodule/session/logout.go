package session

import (
	"errors"
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
)

func init() {
	caddy.RegisterModule(Logout{})
	httpcaddyfile.RegisterHandlerDirective("wechat_logout", parseLogout)
}

// Logout is wechat_logout: a POST with a valid session credential, Bearer
// or cookie, ends that session, which is every token of its sid, before
// and after renewals, on every gate that shares the store. Deleting a
// cookie alone would leave a copied token valid until its exp. It reads
// the credential itself, so no wechat_auth goes in front of it.
type Logout struct {
	caddymodule.AppRef
}

// CaddyModule returns the Caddy module information.
func (Logout) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.wechat_logout",
		New: func() caddy.Module { return new(Logout) },
	}
}

// Provision finds the wechat app.
func (l *Logout) Provision(ctx caddy.Context) error { return l.ProvisionApp(ctx) }

func (l *Logout) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	app := l.App
	if app.IsPreflight(r) {
		app.AnswerPreflight(w, r)
		return nil
	}
	app.CORS(w, r)
	if r.Method != http.MethodPost {
		return reply.NotPost(w, r)
	}
	tok, cred, fromCookie := app.SessionCredential(r)
	switch cred {
	case caddymodule.CredNone:
		return reply.NeedsLogin(w, r)
	case caddymodule.CredMalformed:
		return reply.Fail(w, r, reply.Unauthorized(w, "invalid_token", "the Authorization header holds a Bearer credential that is not of the form 'Bearer <token>'", ""))
	}
	if fromCookie && app.Cookies().CrossSite(r) {
		metrics.CSRFRejected.Inc()
		return reply.Fail(w, r, reply.CSRFRejected())
	}
	id, err := app.Authenticate(tok, time.Now())
	if err != nil {
		if ce := l.Logger.Check(zapcore.DebugLevel, "wechat logout refused a token"); ce != nil {
			ce.Write(zap.String("reason", err.Error()), zap.Bool("cookie", fromCookie))
		}
		if fromCookie {
			app.Cookies().Clear(w, r)
		}
		msg := "the token is invalid, expired or revoked"
		if errors.Is(err, caddymodule.ErrRevoked) {
			msg = "the session has already ended"
		} else if errors.Is(err, jwt.ErrTokenExpired) {
			msg = "the token has expired"
		}
		return reply.Fail(w, r, reply.Unauthorized(w, "invalid_token", msg, ""))
	}
	if err := app.RevokeSession(r.Context(), id); err != nil {
		if ce := l.Logger.Check(zapcore.ErrorLevel, "wechat logout not recorded: the store failed"); ce != nil {
			ce.Write(zap.Error(err))
		}
		return reply.Fail(w, r, reply.StoreUnavailable("the logout"))
	}
	metrics.Logouts.Inc()
	if ce := l.Logger.Check(zapcore.InfoLevel, "wechat session ended"); ce != nil {
		ce.Write(zap.String("appid", id.AppID), zap.String("openid", id.OpenID), zap.Bool("cookie", fromCookie))
	}
	if fromCookie {
		app.Cookies().Clear(w, r)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Logout)(nil)
	_ caddyhttp.MiddlewareHandler = (*Logout)(nil)
)
