// Package oracle holds the tests' and the soak's own account of what the
// edge must do, written apart from the code it checks.
package oracle

import "strings"

// IsTrustedName folds a header name the way a CGI or PHP-FPM backend
// would (ASCII case, '_' and '.' as '-') and reports whether it names a
// header the edge sets for backends to trust. It is written apart from
// the gate's own check, to serve as its oracle.
func IsTrustedName(name string) bool {
	b := []byte(strings.ToLower(name))
	for i, c := range b {
		if c == '_' || c == '.' {
			b[i] = '-'
		}
	}
	switch string(b) {
	case "x-openid", "x-unionid", "x-wechat-appid", "x-wechat-assertion",
		"x-wechatpay-event-type", "x-wechatpay-event-id", "x-wechatpay-resource-type", "x-wechatpay-verified":
		return true
	}
	return false
}
