package caddymodule

import "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

// The order of every wechat directive, in one init: Go runs the init
// functions of different packages in an order that is not ours to set,
// and RegisterDirectiveOrder inserts each directive next to its anchor,
// so directives that share an anchor must be registered together, in the
// order they must run. The handler packages register the directives
// themselves; ordering one that a build leaves out is harmless.
func init() {
	// Before basic_auth: login, logout and the JWKS answer their own paths
	// before the gate can refuse them (logout reads the credential
	// itself), the gate runs before anything that proxies or responds,
	// and the ticket right after the gate, whose identity it hands on.
	// WeChat Pay's notifications carry no user token and no basic auth
	// either, so their handler runs right after login.
	httpcaddyfile.RegisterDirectiveOrder("wechat_login", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("wechatpay_notify", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("wechat_logout", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("wechat_jwks", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("wechat_auth", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("wechat_ticket", httpcaddyfile.Before, "basic_auth")

	// Right before reverse_proxy, so that they run after the gate and, in
	// forward mode, before the proxy that receives the verified body. The
	// simulator first: this is the order of the releases before the
	// split.
	httpcaddyfile.RegisterDirectiveOrder("wechat_mock", httpcaddyfile.Before, "reverse_proxy")
	httpcaddyfile.RegisterDirectiveOrder("wechatpay_mock", httpcaddyfile.Before, "reverse_proxy")
	httpcaddyfile.RegisterDirectiveOrder("wechat_decrypt", httpcaddyfile.Before, "reverse_proxy")
	httpcaddyfile.RegisterDirectiveOrder("wechat_phone", httpcaddyfile.Before, "reverse_proxy")
	httpcaddyfile.RegisterDirectiveOrder("wechat_api", httpcaddyfile.Before, "reverse_proxy")
	httpcaddyfile.RegisterDirectiveOrder("wechatpay_api", httpcaddyfile.Before, "reverse_proxy")
}
