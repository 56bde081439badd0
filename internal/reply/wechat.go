package reply

import (
	"errors"
	"net/http"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-wechat/caddy-wechat/internal/metrics"
	"github.com/caddy-wechat/caddy-wechat/wechat"
)

// Retry-After for WeChat's own refusals, in seconds. WeChat's quota
// window is a minute; busy usually clears within seconds.
const (
	retryAfterBusy  = "2"
	retryAfterQuota = "60"
)

// ErrSaturated reports that every slot for calls to WeChat is taken
// (max_inflight). It is a busy WeChat from the client's point of view.
var ErrSaturated = errors.New("too many calls to WeChat under way")

// WeChatFailure maps a failed WeChat call to what the client is told.
// Only the kind of failure crosses over, never WeChat's own text.
func WeChatFailure(err error) *Error {
	if errors.Is(err, ErrSaturated) {
		// A slot stays taken for about a second.
		metrics.Inflight.Inc()
		return &Error{Status: http.StatusServiceUnavailable, Code: "wechat_busy", Message: "too many calls to WeChat are under way; try again shortly", RetryAfter: "1"}
	}
	switch wechat.KindOf(err) {
	case wechat.KindInvalidCode:
		return &Error{Status: http.StatusUnauthorized, Code: "invalid_code", Message: "the login code is invalid, expired or already used; call wx.login again"}
	case wechat.KindBlocked:
		return &Error{Status: http.StatusForbidden, Code: "user_blocked", Message: "WeChat has blocked this user from logging in"}
	case wechat.KindQuota:
		return &Error{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "WeChat's rate limit was reached; try again later", RetryAfter: retryAfterQuota}
	case wechat.KindBusy:
		return &Error{Status: http.StatusServiceUnavailable, Code: "wechat_busy", Message: "WeChat is busy; try again shortly", RetryAfter: retryAfterBusy}
	case wechat.KindTimeout:
		return &Error{Status: http.StatusGatewayTimeout, Code: "wechat_timeout", Message: "WeChat did not answer in time"}
	}
	return &Error{Status: http.StatusBadGateway, Code: "wechat_error", Message: "WeChat could not complete the request"}
}

// LogWeChatFailure makes the operator's own mistakes loud and keeps the
// client's at debug. Only the errcode, WeChat's rid and a sanitized error
// text are logged: never a code, a token or a secret.
func LogWeChatFailure(logger *zap.Logger, msg, appID string, err error) {
	level := zapcore.DebugLevel
	switch kind := wechat.KindOf(err); {
	case errors.Is(err, ErrSaturated):
	case kind == wechat.KindConfig:
		level, msg = zapcore.ErrorLevel, msg+": WeChat rejected this app's credentials; check the appid and secret"
	case kind == wechat.KindToken:
		level, msg = zapcore.WarnLevel, msg+": WeChat rejected a freshly fetched access_token"
	case kind == wechat.KindUnknown, kind == wechat.KindBadResponse, kind == wechat.KindUnreachable, kind == wechat.KindTimeout:
		level = zapcore.WarnLevel
	}
	ce := logger.Check(level, msg)
	if ce == nil {
		return
	}
	fields := []zap.Field{zap.String("appid", appID), zap.String("kind", wechat.KindOf(err).String())}
	if code, ok := wechat.ErrCode(err); ok {
		fields = append(fields, zap.Int("errcode", code))
	}
	ce.Write(append(fields, zap.String("error", err.Error()))...)
}
