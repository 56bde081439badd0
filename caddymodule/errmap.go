package caddymodule

import (
	"net/http"

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
