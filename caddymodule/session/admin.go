package session

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-wechat/caddy-wechat/caddymodule"
	"github.com/caddy-wechat/caddy-wechat/internal/reply"
)

func init() {
	caddy.RegisterModule(Admin{})
}

// Admin adds POST /wechat/revoke to Caddy's admin API: it ends every
// session of one user that began before now, on every gate that shares
// the store, for a stolen phone or a banned account. It is reachable only
// where the admin endpoint is, which the operator protects.
type Admin struct {
	ctx    caddy.Context
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Admin) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.wechat",
		New: func() caddy.Module { return new(Admin) },
	}
}

// Provision keeps the config's context. Caddy provisions admin modules
// before the apps, so the wechat app is looked up when a request comes.
func (a *Admin) Provision(ctx caddy.Context) error {
	a.ctx, a.logger = ctx, ctx.Logger()
	return nil
}

// Routes returns the admin routes.
func (a *Admin) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: "/wechat/revoke", Handler: caddy.AdminHandlerFunc(a.revoke)}}
}

type revokeRequest struct {
	AppID  string `json:"appid"`
	OpenID string `json:"openid"`
}

type revokeResponse struct {
	AppID     string `json:"appid"`
	OpenID    string `json:"openid"`
	NotBefore int64  `json:"not_before"`
}

// maxRevokeBody caps the body: an appid and an openid.
const maxRevokeBody = 4 << 10

func (a *Admin) revoke(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return reply.NotPost(w, r)
	}
	body, aerr := reply.Read(w, r, maxRevokeBody)
	if aerr != nil {
		return reply.Fail(w, r, aerr)
	}
	var req revokeRequest
	if err := reply.DecodeJSON(body, &req); err != nil {
		return reply.Fail(w, r, reply.BadRequest(reply.Problem(err, `the body must be JSON {"appid": "...", "openid": "..."}`)))
	}
	if req.AppID == "" || req.OpenID == "" {
		return reply.Fail(w, r, reply.BadRequest("appid and openid are both required"))
	}
	app, err := caddymodule.FromContext(a.ctx)
	if err != nil || !app.Configured(req.AppID) {
		return reply.Fail(w, r, reply.BadRequest("unknown appid: it is not configured in the wechat app"))
	}
	notBefore, err := app.RevokeUser(r.Context(), req.AppID, req.OpenID)
	if err != nil {
		if ce := a.logger.Check(zapcore.ErrorLevel, "wechat revoke not recorded: the store failed"); ce != nil {
			ce.Write(zap.Error(err))
		}
		return reply.Fail(w, r, reply.StoreUnavailable("the revocation"))
	}
	if ce := a.logger.Check(zapcore.InfoLevel, "wechat user's sessions revoked"); ce != nil {
		ce.Write(zap.String("appid", req.AppID), zap.String("openid", req.OpenID), zap.Int64("not_before", notBefore.Unix()))
	}
	reply.JSON(w, http.StatusOK, revokeResponse{AppID: req.AppID, OpenID: req.OpenID, NotBefore: notBefore.Unix()})
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner = (*Admin)(nil)
	_ caddy.AdminRouter = (*Admin)(nil)
)
