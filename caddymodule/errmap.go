package caddymodule

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-wechat/caddy-wechat/wechat"
)

// retryAfterBusy and retryAfterQuota are sent as Retry-After, in seconds.
// WeChat's quota window is a minute; busy usually clears within seconds.
const (
	retryAfterBusy  = "2"
	retryAfterQuota = "60"
)

// errSaturated reports that every slot for calls to WeChat is taken
// (max_inflight). It is a busy WeChat from the client's point of view.
var errSaturated = errors.New("too many calls to WeChat under way")

// wechatFailure maps a failed WeChat call to what the client is told.
// Only the kind of failure crosses over, never WeChat's own text.
func wechatFailure(err error) *apiError {
	if errors.Is(err, errSaturated) {
		// A slot stays taken for about a second.
		metrics.rateLimited.WithLabelValues("inflight").Inc()
		return &apiError{Status: http.StatusServiceUnavailable, Code: "wechat_busy", Message: "too many calls to WeChat are under way; try again shortly", RetryAfter: "1"}
	}
	switch wechat.KindOf(err) {
	case wechat.KindInvalidCode:
		return &apiError{Status: http.StatusUnauthorized, Code: "invalid_code", Message: "the login code is invalid, expired or already used; call wx.login again"}
	case wechat.KindBlocked:
		return &apiError{Status: http.StatusForbidden, Code: "user_blocked", Message: "WeChat has blocked this user from logging in"}
	case wechat.KindQuota:
		return &apiError{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "WeChat's rate limit was reached; try again later", RetryAfter: retryAfterQuota}
	case wechat.KindBusy:
		return &apiError{Status: http.StatusServiceUnavailable, Code: "wechat_busy", Message: "WeChat is busy; try again shortly", RetryAfter: retryAfterBusy}
	case wechat.KindTimeout:
		return &apiError{Status: http.StatusGatewayTimeout, Code: "wechat_timeout", Message: "WeChat did not answer in time"}
	}
	return &apiError{Status: http.StatusBadGateway, Code: "wechat_error", Message: "WeChat could not complete the request"}
}

// logWeChatFailure makes the operator's own mistakes loud and keeps the
// client's at debug. Only the errcode, WeChat's rid and a sanitized error
// text are logged: never a code, a token or a secret.
func logWeChatFailure(logger *zap.Logger, msg, appID string, err error) {
	level := zapcore.DebugLevel
	switch kind := wechat.KindOf(err); {
	case errors.Is(err, errSaturated):
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

// retryAfter is wait in whole seconds, rounded up so that a client
// retrying on time succeeds, and at least 1.
func retryAfter(wait time.Duration) string {
	secs := int64((wait + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(secs, 1), 10)
}
