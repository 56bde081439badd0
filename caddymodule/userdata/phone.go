package userdata

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-wechat/caddy-wechat/caddymodule"
	"github.com/caddy-wechat/caddy-wechat/internal/repeat"
	"github.com/caddy-wechat/caddy-wechat/internal/reply"
	"github.com/caddy-wechat/caddy-wechat/internal/token"
	"github.com/caddy-wechat/caddy-wechat/wechat"
)

func init() {
	caddy.RegisterModule(Phone{})
	httpcaddyfile.RegisterHandlerDirective("wechat_phone", parsePhone)
}

// maxPhoneBody caps the request: a getPhoneNumber code is under 100 bytes.
const maxPhoneBody = 4 << 10

// Phone exchanges the code from a getPhoneNumber button for the user's
// phone number, using the app's access_token and binding the check to the
// logged-in user's openid. It must run after wechat_auth.
type Phone struct {
	// Forward passes {"phoneNumber", "purePhoneNumber", "countryCode"} on
	// to the next handler (for example reverse_proxy) as the POST body,
	// with Content-Type application/json, instead of answering with it.
	Forward bool `json:"forward,omitempty"`

	caddymodule.AppRef
}

// CaddyModule returns the Caddy module information.
func (Phone) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.wechat_phone",
		New: func() caddy.Module { return new(Phone) },
	}
}

// Provision finds the wechat app.
func (p *Phone) Provision(ctx caddy.Context) error {
	return p.ProvisionApp(ctx)
}

// phoneResponse leaves the watermark out: it has been checked, and the
// client has no use for it.
type phoneResponse struct {
	PhoneNumber     string `json:"phoneNumber"`
	PurePhoneNumber string `json:"purePhoneNumber"`
	CountryCode     string `json:"countryCode"`
}

func (p *Phone) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	id := caddymodule.IdentityFrom(r.Context())
	if id == nil {
		return reply.NeedsLogin(w, r)
	}
	if r.Method != http.MethodPost {
		return reply.NotPost(w, r)
	}
	body, aerr := reply.Read(w, r, maxPhoneBody)
	if aerr != nil {
		return reply.Fail(w, r, aerr)
	}
	var req struct {
		Code string `json:"code"`
	}
	if err := reply.DecodeJSON(body, &req); err != nil || req.Code == "" {
		return reply.Fail(w, r, reply.BadRequest(reply.Problem(err, `the body must be JSON {"code": "..."} with the code from the getPhoneNumber button`)))
	}
	if !wechat.ValidCode(req.Code) {
		return reply.Fail(w, r, reply.BadRequest("code is not a getPhoneNumber code: at most 128 printable ASCII characters"))
	}
	mp, ok := p.App.Program(id.AppID)
	if !ok || mp.AppID != id.AppID { // the gate only admits configured apps
		return reply.Fail(w, r, &reply.Error{Status: http.StatusBadGateway, Code: "wechat_error", Message: "this app is not configured"})
	}
	slot, err := repeat.NewSlot("phone", []string{p.App.APIOrigin(), id.AppID, id.OpenID}, req.Code)
	if err != nil {
		return caddyhttp.Error(http.StatusInternalServerError, err)
	}
	var out phoneResponse
	if ok, err := slot.Recall(r.Context(), p.App.Store().Values(), &out); err != nil {
		p.logStoreFailure("recalling a repeated code's answer", err)
	} else if ok {
		return p.answer(w, r, next, &out)
	}

	info, err := p.lookup(mp, id, req.Code)
	if err != nil {
		reply.LogWeChatFailure(p.Logger, "wechat phone number lookup failed", id.AppID, err)
		return reply.Fail(w, r, phoneFailure(err))
	}
	if info.Watermark.AppID != id.AppID {
		// Data for another app: never hand it out as this user's number.
		if ce := p.Logger.Check(zapcore.WarnLevel, "wechat phone number answer names another app"); ce != nil {
			ce.Write(zap.String("appid", id.AppID), zap.String("watermark_appid", info.Watermark.AppID))
		}
		return reply.Fail(w, r, &reply.Error{Status: http.StatusBadGateway, Code: "wechat_error", Message: "WeChat's answer was issued for another Mini Program"})
	}
	// The number is personal data: logged never, only the fact.
	if ce := p.Logger.Check(zapcore.DebugLevel, "wechat phone number looked up"); ce != nil {
		ce.Write(zap.String("appid", id.AppID), zap.String("openid", id.OpenID), zap.Bool("forward", p.Forward))
	}
	out = phoneResponse{info.PhoneNumber, info.PurePhoneNumber, info.CountryCode}
	if err := slot.Remember(r.Context(), p.App.Store().Values(), &out); err != nil {
		p.logStoreFailure("remembering a code's answer", err)
	}
	return p.answer(w, r, next, &out)
}

// answer sends the number, or passes it on in forward mode.
func (p *Phone) answer(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, out *phoneResponse) error {
	if p.Forward {
		b, err := json.Marshal(out)
		if err != nil {
			return caddyhttp.Error(http.StatusInternalServerError, err)
		}
		return forwardJSON(w, r, next, b)
	}
	reply.JSON(w, http.StatusOK, out)
	return nil
}

// lookup calls getuserphonenumber once per (app, user, code) however many
// requests carry the code at once: the code is single use and every
// success is billed, so a double tap must not spend it twice. The call is
// detached from the request so that one client hanging up does not fail
// the others; withAccessToken retries once on a stale token. Busy (-1) is
// not retried: whether WeChat spent the code is unknown.
func (p *Phone) lookup(mp *caddymodule.MiniProgram, id *token.Identity, code string) (*wechat.PhoneInfo, error) {
	key := "phone\x00" + id.AppID + "\x00" + id.OpenID + "\x00" + code
	app := p.App
	v, err := app.Flights().Do(key, func() (any, error) {
		// The same per-app bound on calls under way as login, so that a
		// slow WeChat cannot make requests pile up here either.
		release, ok := mp.Acquire()
		if !ok {
			return nil, reply.ErrSaturated
		}
		defer release()
		ctx, cancel := context.WithTimeout(context.Background(), app.CallTimeout())
		defer cancel()
		var info *wechat.PhoneInfo
		err := app.WithAccessToken(ctx, id.AppID, func(accessToken string) error {
			var err error
			info, err = app.Client().PhoneNumber(ctx, accessToken, code, id.OpenID)
			return err
		})
		return info, err
	})
	if err != nil {
		return nil, err
	}
	return v.(*wechat.PhoneInfo), nil
}

// phoneFailure is wechatFailure except for a bad code: here it is the
// phone code, and a 401 would wrongly tell the client its session is gone.
func phoneFailure(err error) *reply.Error {
	if wechat.KindOf(err) == wechat.KindInvalidCode {
		return &reply.Error{Status: http.StatusBadRequest, Code: "invalid_code", Message: "the phone number code is invalid, expired or already used: ask the user to tap the getPhoneNumber button again"}
	}
	return reply.WeChatFailure(err)
}

// logStoreFailure notes a store error that the request survives: without
// the store, a repeat gets WeChat's own answer.
func (p *Phone) logStoreFailure(what string, err error) {
	if ce := p.Logger.Check(zapcore.WarnLevel, "wechat store failed "+what); ce != nil {
		ce.Write(zap.Error(err))
	}
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Phone)(nil)
	_ caddyhttp.MiddlewareHandler = (*Phone)(nil)
)
