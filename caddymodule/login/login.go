// Package login is wechat_login, the code-exchange endpoint: it takes the
// code from wx.login, exchanges it with WeChat's jscode2session, keeps the
// session_key sealed inside the session token, and answers with that
// token.
package login

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-wechat/caddy-wechat/caddymodule"
	"github.com/caddy-wechat/caddy-wechat/internal/metrics"
	"github.com/caddy-wechat/caddy-wechat/internal/repeat"
	"github.com/caddy-wechat/caddy-wechat/internal/reply"
	"github.com/caddy-wechat/caddy-wechat/internal/token"
	"github.com/caddy-wechat/caddy-wechat/wechat"
)

func init() {
	caddy.RegisterModule(Login{})
	httpcaddyfile.RegisterHandlerDirective("wechat_login", parseLogin)
}

// maxBody caps the login body: a code and an appid fit in a few hundred
// bytes.
const maxBody = 4 << 10

// busyRetries and busyBackoff bound the retries on errcode -1.
const (
	busyRetries = 2
	busyBackoff = 200 * time.Millisecond
)

// Login is the code-exchange endpoint.
type Login struct {
	// ClientRate limits logins per client address, as Caddy resolves it
	// ({client_ip}: trusted_proxies are honoured, X-Forwarded-For is never
	// parsed here). Default: 30 per minute. Requests 0 turns it off.
	ClientRate *RateLimit `json:"client_rate,omitempty"`

	// AppRate limits logins per Mini Program across all clients, to stay
	// under WeChat's quota. Default: 6000 per minute. Requests 0 turns it
	// off.
	AppRate *RateLimit `json:"app_rate,omitempty"`

	caddymodule.AppRef
}

// CaddyModule returns the Caddy module information.
func (Login) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.wechat_login",
		New: func() caddy.Module { return new(Login) },
	}
}

// Provision finds the wechat app.
func (l *Login) Provision(ctx caddy.Context) error {
	if l.ClientRate == nil {
		l.ClientRate = &defaultClientRate
	}
	if l.AppRate == nil {
		l.AppRate = &defaultAppRate
	}
	return l.ProvisionApp(ctx)
}

type request struct {
	Code  string `json:"code"`
	AppID string `json:"appid"`
	// Ticket, instead of Code, is a web-view page redeeming a ticket for
	// a cookie of the Mini Program's session.
	Ticket string `json:"ticket"`
}

type response struct {
	Token     string `json:"token"`
	TokenType string `json:"token_type"`
	ExpiresIn int64  `json:"expires_in"`
	OpenID    string `json:"openid"`
	UnionID   string `json:"unionid,omitempty"`
}

// answer is a successful login as it is remembered for a repeat of the
// code: expires_in is computed again for the repeat.
type answer struct {
	Token   string `json:"token"`
	Exp     int64  `json:"exp"`
	OpenID  string `json:"openid"`
	UnionID string `json:"unionid,omitempty"`
}

func (l *Login) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if l.App.IsPreflight(r) {
		l.App.AnswerPreflight(w, r)
		return nil
	}
	l.App.CORS(w, r)
	if r.Method != http.MethodPost {
		metrics.CountLogin("method_not_allowed", 0, false)
		return reply.NotPost(w, r)
	}
	// Counted before the body is read, so that malformed floods count too.
	ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	if aerr := l.limit(r.Context(), "client", "client\x00"+ip, l.ClientRate); aerr != nil {
		return reply.Fail(w, r, aerr)
	}
	req, aerr := readRequest(w, r)
	if aerr != nil {
		metrics.CountLogin(aerr.Code, 0, false)
		return reply.Fail(w, r, aerr)
	}
	if req.Ticket != "" {
		return l.redeem(w, r, req.Ticket)
	}
	app := l.App
	mp, ok := app.Program(req.AppID)
	if !ok {
		msg := "unknown appid"
		if req.AppID == "" {
			msg = "appid is required when several apps are configured"
		}
		metrics.CountLogin("invalid_request", 0, false)
		return reply.Fail(w, r, reply.BadRequest(msg))
	}
	slot, err := repeat.NewSlot("login", []string{app.APIOrigin(), app.Keys().Current().ID, mp.AppID, ip}, req.Code)
	if err != nil {
		return caddyhttp.Error(http.StatusInternalServerError, err)
	}
	cl, err := l.newClaim(mp.AppID, req.Code)
	if err != nil {
		return caddyhttp.Error(http.StatusInternalServerError, err)
	}
	var ans answer
	if ok, err := cl.recall(r.Context(), l, slot, &ans); err != nil {
		l.logStoreFailure("recalling a repeated code's answer", err)
	} else if ok {
		metrics.CountLogin("ok", 0, false)
		return l.answer(w, &ans)
	}
	if aerr := l.limit(r.Context(), "app", "app\x00"+mp.AppID, l.AppRate); aerr != nil {
		cl.abandon(l)
		return reply.Fail(w, r, aerr)
	}

	got, err := l.login(mp, req.Code, slot, cl)
	if errors.Is(err, errMint) {
		return caddyhttp.Error(http.StatusInternalServerError, err)
	}
	if err != nil {
		reply.LogWeChatFailure(l.Logger, "wechat login failed", mp.AppID, err)
		aerr := reply.WeChatFailure(err)
		code, hasCode := wechat.ErrCode(err)
		metrics.CountLogin(aerr.Code, code, hasCode)
		return reply.Fail(w, r, aerr)
	}
	metrics.CountLogin("ok", 0, false)
	if ce := l.Logger.Check(zapcore.DebugLevel, "wechat login"); ce != nil {
		ce.Write(zap.String("appid", mp.AppID), zap.String("openid", got.OpenID))
	}
	return l.answer(w, got)
}

func (l *Login) answer(w http.ResponseWriter, a *answer) error {
	reply.JSON(w, http.StatusOK, response{
		Token:     a.Token,
		TokenType: "Bearer",
		ExpiresIn: max(a.Exp-time.Now().Unix(), 0),
		OpenID:    a.OpenID,
		UnionID:   a.UnionID,
	})
	return nil
}

// readRequest reads a JSON or form body of at most maxBody.
func readRequest(w http.ResponseWriter, r *http.Request) (*request, *reply.Error) {
	body, aerr := reply.Read(w, r, maxBody)
	if aerr != nil {
		return nil, aerr
	}
	var req request
	if reply.IsForm(r, body) {
		form, err := reply.ParseForm(body)
		if err != nil {
			return nil, reply.BadRequest(reply.Problem(err, "the form body is malformed"))
		}
		req.Code, req.AppID, req.Ticket = form.Get("code"), form.Get("appid"), form.Get("ticket")
	} else if err := reply.DecodeJSON(body, &req); err != nil {
		return nil, reply.BadRequest(reply.Problem(err, `the body must be JSON {"code": "...", "appid": "..."} or {"ticket": "..."}, or a form`))
	}
	if req.Ticket != "" {
		if req.Code != "" {
			return nil, reply.BadRequest("send either code or ticket, not both")
		}
		return &req, nil
	}
	if req.Code == "" {
		return nil, reply.BadRequest("code is required: send the code from wx.login")
	}
	if !wechat.ValidCode(req.Code) {
		return nil, reply.BadRequest("code is not a wx.login code: at most 128 printable ASCII characters")
	}
	return &req, nil
}

// errMint is a failure to issue the token after WeChat answered: ours, a 500.
var errMint = errors.New("minting the session token failed")

// login exchanges the code and mints the token once per (appid, code),
// however many requests carry that code at the same moment, so that they
// all get the same answer, which is then remembered for a repeat. The
// call is detached from the request so that one client hanging up does
// not fail the others.
func (l *Login) login(mp *caddymodule.MiniProgram, code string, slot *repeat.Slot, cl *claim) (*answer, error) {
	app := l.App
	ran := false
	// A claim this request won but whose flight another request ran
	// (possible only after a store failure) is still this request's to end.
	defer func() {
		if !ran {
			cl.abandon(l)
		}
	}()
	v, err := app.Flights().Do(mp.AppID+"\x00"+code, func() (any, error) {
		ran = true
		ctx, cancel := context.WithTimeout(context.Background(), app.CallTimeout())
		defer cancel()
		ans, held := cl.take(ctx, l, slot)
		if ans != nil {
			return ans, nil // another instance's exchange
		}
		if held {
			defer cl.release(l)
		}
		release, ok := mp.Acquire()
		if !ok {
			return nil, reply.ErrSaturated
		}
		defer release()
		var s *wechat.Session
		err := wechat.RetryBusy(ctx, busyRetries, busyBackoff, func() error {
			var err error
			s, err = app.Code2Session(ctx, mp, code)
			return err
		})
		if err != nil {
			return nil, err
		}
		now := time.Now()
		sess := token.Session{AppID: mp.AppID, OpenID: s.OpenID, UnionID: s.UnionID, SessionKey: s.SessionKey, AuthTime: app.SessionStart(mp.AppID, s.OpenID, now)}
		tok, exp, err := app.Keys().Mint(sess, now, app.TokenTTL())
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errMint, err)
		}
		ans = &answer{Token: tok, Exp: exp.Unix(), OpenID: s.OpenID, UnionID: s.UnionID}
		if err := cl.remember(ctx, l, slot, ans, held); err != nil {
			l.logStoreFailure("remembering a code's answer", err)
		}
		return ans, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*answer), nil
}

// logStoreFailure notes a store error that the request survives: without
// the store, a repeat gets WeChat's own answer.
func (l *Login) logStoreFailure(what string, err error) {
	if ce := l.Logger.Check(zapcore.WarnLevel, "wechat store failed "+what); ce != nil {
		ce.Write(zap.Error(err))
	}
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Login)(nil)
	_ caddyhttp.MiddlewareHandler = (*Login)(nil)
)
