package caddymodule

import (
	"net/http"

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

// wechatFailure maps a failed WeChat call to what the client is told.
// Only the kind of failure crosses over, never WeChat's own text.
func wechatFailure(err error) (*apiError, string) {
	switch wechat.KindOf(err) {
	case wechat.KindInvalidCode:
		return &apiError{http.StatusUnauthorized, "invalid_code", "the login code is invalid, expired or already used; call wx.login again"}, ""
	case wechat.KindBlocked:
		return &apiError{http.StatusForbidden, "user_blocked", "WeChat has blocked this user from logging in"}, ""
	case wechat.KindQuota:
		return &apiError{http.StatusTooManyRequests, "rate_limited", "WeChat's rate limit was reached; try again later"}, retryAfterQuota
	case wechat.KindBusy:
		return &apiError{http.StatusServiceUnavailable, "wechat_busy", "WeChat is busy; try again shortly"}, retryAfterBusy
	case wechat.KindTimeout:
		return &apiError{http.StatusGatewayTimeout, "wechat_timeout", "WeChat did not answer in time"}, ""
	}
	return &apiError{http.StatusBadGateway, "wechat_error", "WeChat could not complete the request"}, ""
}

// logWeChatFailure makes the operator's own mistakes loud and keeps the
// client's at debug. Only the errcode, WeChat's rid and a sanitized error
// text are logged: never a code, a token or a secret.
func logWeChatFailure(logger *zap.Logger, msg, appID string, err error) {
	level := zapcore.DebugLevel
	switch wechat.KindOf(err) {
	case wechat.KindConfig:
		level, msg = zapcore.ErrorLevel, msg+": WeChat rejected this app's credentials; check the appid and secret"
	case wechat.KindToken:
		level, msg = zapcore.WarnLevel, msg+": WeChat rejected a freshly fetched access_token"
	case wechat.KindUnknown, wechat.KindBadResponse, wechat.KindUnreachable, wechat.KindTimeout:
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
