// Package caddywechat is the import path for xcaddy: building Caddy with
// it registers the wechat and wechatpay apps and their HTTP handlers.
//
//	xcaddy build --with github.com/caddy-wechat/caddy-wechat
//
// The WeChat simulator, for development, is a package of its own:
//
//	xcaddy build --with github.com/caddy-wechat/caddy-wechat --with github.com/caddy-wechat/caddy-wechat/mock
package caddywechat

import (
	// The wechat app, its memory store and the order of its directives.
	_ "github.com/caddy-wechat/caddy-wechat/caddymodule"
	// wechat_api: WeChat's server API for trusted backends.
	_ "github.com/caddy-wechat/caddy-wechat/caddymodule/api"
	// wechat_jwks: the public keys of tokens and assertions.
	_ "github.com/caddy-wechat/caddy-wechat/caddymodule/jwks"
	// wechat_auth: the gate.
	_ "github.com/caddy-wechat/caddy-wechat/caddymodule/gate"
	// wechat_login: the code exchange.
	_ "github.com/caddy-wechat/caddy-wechat/caddymodule/login"
	// The wechatpay app, wechatpay_api and wechatpay_notify: WeChat Pay v3.
	_ "github.com/caddy-wechat/caddy-wechat/caddymodule/pay"
	// wechat_ticket, wechat_logout and the admin API's /wechat/revoke.
	_ "github.com/caddy-wechat/caddy-wechat/caddymodule/session"
	// wechat_decrypt and wechat_phone: user data.
	_ "github.com/caddy-wechat/caddy-wechat/caddymodule/userdata"
)
