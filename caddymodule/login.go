package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-wechat/caddy-wechat/wechat"
)

func init() {
	caddy.RegisterModule(Login{})
}

// maxLoginBody caps the login body: a code and an appid fit in a few
// hundred bytes.
const maxLoginBody = 4 << 10

// busyRetries and busyBackoff bound the retries on errcode -1.
const (
	busyRetries = 2
	busyBackoff = 200 * time.Millisecond
)

// Login is the code-exchange endpoint. It takes the code from wx.login,
// exchanges it with WeChat's jscode2session, keeps the session_key sealed
// inside the session token, and answers with that token.
type Login struct {
	// ClientRate limits logins per client address, as Caddy resolves it
	// ({client_ip}: trusted_proxies are honoured, X-Forwarded-For is never
	// parsed here). Default: 30 per minute. Requests 0 turns it off.
	ClientRate *RateLimit `json:"client_rate,omitempty"`

	// AppRate limits logins per Mini Program across all clients, to stay
	// under WeChat's quota. Default: 6000 per minute. Requests 0 turns it
	// off.
	AppRate *RateLimit `json:"app_rate,omitempty"`

	appRef
}

var (
	defaultClientRate = RateLimit{Requests: 30, Window: caddy.Duration(time.Minute)}
	defaultAppRate    = RateLimit{Requests: 6000, Window: caddy.Duration(time.Minute)}
)

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
	return l.provisionApp(ctx)
}

type loginRequest struct {
	Code  string `json:"code"`
	AppID string `json:"appid"`
}

type loginResponse struct {
	Token     string `json:"token"`
	TokenType string `json:"token_type"`
	ExpiresIn int64  `json:"expires_in"`
	OpenID    string `json:"openid"`
	UnionID   string `json:"unionid,omitempty"`
}

// loginAnswer is a successful login as it is remembered for a repeat of
// the code: expires_in is computed again for the repeat.
type loginAnswer struct {
	Token   string `json:"token"`
	Exp     int64  `json:"exp"`
	OpenID  string `json:"openid"`
	UnionID string `json:"unionid,omitempty"`
}

func (l *Login) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if r.Method != http.MethodPost {
		countLogin("method_not_allowed", 0, false)
		return refuseNotPost(w, r)
	}
	// Counted before the body is read, so that malformed floods count too.
	ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	if l.ClientRate.enabled() {
		if ok, wait := l.app.rates.Take("client\x00"+ip, *l.ClientRate); !ok {
			return l.refuseRate(w, r, "client", wait)
		}
	}
	req, aerr := readLoginRequest(w, r)
	if aerr != nil {
		countLogin(aerr.Code, 0, false)
		return fail(w, r, aerr)
	}
	mp, ok := l.app.app(req.AppID)
	if !ok {
		msg := "unknown appid"
		if req.AppID == "" {
			msg = "appid is required when several apps are configured"
		}
		countLogin("invalid_request", 0, false)
		return fail(w, r, badRequest(msg))
	}
	slot, err := l.app.repeatSlot("login", mp.AppID, ip, req.Code)
	if err != nil {
		return caddyhttp.Error(http.StatusInternalServerError, err)
	}
	var ans loginAnswer
	if l.app.recall(r.Context(), slot, &ans) {
		countLogin("ok", 0, false)
		return l.answer(w, &ans)
	}
	if l.AppRate.enabled() {
		if ok, wait := l.app.rates.Take("app\x00"+mp.AppID, *l.AppRate); !ok {
			return l.refuseRate(w, r, "app", wait)
		}
	}

	got, err := l.login(mp, req.Code, slot)
	if errors.Is(err, errMint) {
		return caddyhttp.Error(http.StatusInternalServerError, err)
	}
	if err != nil {
		logWeChatFailure(l.logger, "wechat login failed", mp.AppID, err)
		aerr := wechatFailure(err)
		code, hasCode := wechat.ErrCode(err)
		countLogin(aerr.Code, code, hasCode)
		return fail(w, r, aerr)
	}
	countLogin("ok", 0, false)
	if ce := l.logger.Check(zapcore.DebugLevel, "wechat login"); ce != nil {
		ce.Write(zap.String("appid", mp.AppID), zap.String("openid", got.OpenID))
	}
	return l.answer(w, got)
}

func (l *Login) answer(w http.ResponseWriter, a *loginAnswer) error {
	writeJSON(w, http.StatusOK, loginResponse{
		Token:     a.Token,
		TokenType: "Bearer",
		ExpiresIn: max(a.Exp-time.Now().Unix(), 0),
		OpenID:    a.OpenID,
		UnionID:   a.UnionID,
	})
	return nil
}

// readLoginRequest reads a JSON or form body of at most maxLoginBody.
func readLoginRequest(w http.ResponseWriter, r *http.Request) (*loginRequest, *apiError) {
	body, aerr := readCapped(w, r, maxLoginBody)
	if aerr != nil {
		return nil, aerr
	}
	var req loginRequest
	if isFormBody(r, body) {
		form, err := parseForm(body)
		if err != nil {
			return nil, badRequest(bodyProblem(err, "the form body is malformed"))
		}
		req.Code, req.AppID = form.Get("code"), form.Get("appid")
	} else if err := decodeJSON(body, &req); err != nil {
		return nil, badRequest(bodyProblem(err, `the body must be JSON {"code": "...", "appid": "..."} or a form`))
	}
	if req.Code == "" {
		return nil, badRequest("code is required: send the code from wx.login")
	}
	if !wechat.ValidCode(req.Code) {
		return nil, badRequest("code is not a wx.login code: at most 128 printable ASCII characters")
	}
	return &req, nil
}

// refuseRate answers 429 for the edge's own limits.
func (l *Login) refuseRate(w http.ResponseWriter, r *http.Request, scope string, wait time.Duration) error {
	metrics.rateLimited.WithLabelValues(scope).Inc()
	countLogin("rate_limited", 0, false)
	return fail(w, r, &apiError{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "too many login attempts; try again later", RetryAfter: retryAfter(wait)})
}

// errMint is a failure to issue the token after WeChat answered: ours, a 500.
var errMint = errors.New("minting the session token failed")

// login exchanges the code and mints the token once per (appid, code),
// however many requests carry that code at the same moment, so that they
// all get the same answer, which is then remembered for a repeat. The
// call is detached from the request so that one client hanging up does
// not fail the others.
func (l *Login) login(mp *MiniProgram, code string, slot *repeatSlot) (*loginAnswer, error) {
	v, err := l.app.flights.do(mp.AppID+"\x00"+code, func() (any, error) {
		release, ok := mp.acquire()
		if !ok {
			return nil, errSaturated
		}
		defer release()
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(l.app.Timeout))
		defer cancel()
		var s *wechat.Session
		err := wechat.RetryBusy(ctx, busyRetries, busyBackoff, func() error {
			var err error
			s, err = l.app.client.Code2Session(ctx, mp.AppID, mp.secret, code)
			return err
		})
		if err != nil {
			return nil, err
		}
		token, exp, err := l.app.keys.mint(mp.AppID, s.OpenID, s.UnionID, s.SessionKey, time.Now(), time.Duration(l.app.Token.TTL))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errMint, err)
		}
		ans := &loginAnswer{Token: token, Exp: exp.Unix(), OpenID: s.OpenID, UnionID: s.UnionID}
		l.app.remember(ctx, slot, ans)
		return ans, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*loginAnswer), nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Login)(nil)
	_ caddyhttp.MiddlewareHandler = (*Login)(nil)
)
