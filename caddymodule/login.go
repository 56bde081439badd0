package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
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

func (l *Login) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return fail(w, r, &apiError{http.StatusMethodNotAllowed, "method_not_allowed", "use POST"})
	}
	// Counted before the body is read, so that malformed floods count too.
	if ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); l.ClientRate.enabled() {
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
		return fail(w, r, &apiError{http.StatusBadRequest, "invalid_request", msg})
	}
	if l.AppRate.enabled() {
		if ok, wait := l.app.rates.Take("app\x00"+mp.AppID, *l.AppRate); !ok {
			return l.refuseRate(w, r, "app", wait)
		}
	}

	sess, err := l.exchange(mp, req.Code)
	if err != nil {
		logWeChatFailure(l.logger, "wechat login failed", mp.AppID, err)
		aerr, retryAfter := wechatFailure(err)
		code, hasCode := wechat.ErrCode(err)
		countLogin(aerr.Code, code, hasCode)
		if errors.Is(err, errSaturated) {
			metrics.rateLimited.WithLabelValues("inflight").Inc()
			retryAfter = "1"
		}
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		return fail(w, r, aerr)
	}
	countLogin("ok", 0, false)

	now := time.Now()
	token, exp, err := l.app.keys.mint(mp.AppID, sess.OpenID, sess.UnionID, sess.SessionKey, now, time.Duration(l.app.Token.TTL))
	if err != nil {
		return caddyhttp.Error(http.StatusInternalServerError, errors.New("minting the session token failed"))
	}
	if ce := l.logger.Check(zapcore.DebugLevel, "wechat login"); ce != nil {
		ce.Write(zap.String("appid", mp.AppID), zap.String("openid", sess.OpenID))
	}
	writeJSON(w, http.StatusOK, loginResponse{
		Token:     token,
		TokenType: "Bearer",
		ExpiresIn: exp.Unix() - now.Unix(),
		OpenID:    sess.OpenID,
		UnionID:   sess.UnionID,
	})
	return nil
}

// readLoginRequest reads a JSON or form body of at most maxLoginBody.
func readLoginRequest(w http.ResponseWriter, r *http.Request) (*loginRequest, *apiError) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxLoginBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &apiError{http.StatusRequestEntityTooLarge, "request_too_large", "the body must be at most " + strconv.Itoa(maxLoginBody) + " bytes"}
		}
		return nil, &apiError{http.StatusBadRequest, "invalid_request", "the body could not be read"}
	}
	var req loginRequest
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	// curl -d labels JSON as a form; a form never starts with '{'.
	trimmed := bytes.TrimSpace(body)
	if mt == "application/x-www-form-urlencoded" && (len(trimmed) == 0 || trimmed[0] != '{') {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, &apiError{http.StatusBadRequest, "invalid_request", "the form body is malformed"}
		}
		req.Code, req.AppID = form.Get("code"), form.Get("appid")
	} else if err := json.Unmarshal(body, &req); err != nil {
		return nil, &apiError{http.StatusBadRequest, "invalid_request", `the body must be JSON {"code": "...", "appid": "..."} or a form`}
	}
	if req.Code == "" {
		return nil, &apiError{http.StatusBadRequest, "invalid_request", "code is required: send the code from wx.login"}
	}
	return &req, nil
}

// refuseRate answers 429 for the edge's own limits. Retry-After is in
// whole seconds, rounded up so that a client retrying on time succeeds.
func (l *Login) refuseRate(w http.ResponseWriter, r *http.Request, scope string, wait time.Duration) error {
	metrics.rateLimited.WithLabelValues(scope).Inc()
	countLogin("rate_limited", 0, false)
	secs := int64((wait + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
	return fail(w, r, &apiError{http.StatusTooManyRequests, "rate_limited", "too many login attempts; try again later"})
}

// errSaturated reports that every slot for calls to WeChat is taken. It is
// a busy WeChat from the client's point of view.
var errSaturated = &wechat.TransportError{Op: "jscode2session", Kind: wechat.KindBusy, Reason: "too many calls to WeChat under way"}

// exchange calls jscode2session once per (appid, code) however many
// requests carry that code at the same moment. The call is detached from
// the request so that one client hanging up does not fail the others.
func (l *Login) exchange(mp *MiniProgram, code string) (*wechat.Session, error) {
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
		return s, err
	})
	if err != nil {
		return nil, err
	}
	return v.(*wechat.Session), nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Login)(nil)
	_ caddyhttp.MiddlewareHandler = (*Login)(nil)
)
