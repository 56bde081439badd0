// Package caddywechat is the import path for xcaddy: building Caddy with
// it registers the wechat app and its HTTP handlers.
//
//	xcaddy build --with github.com/caddy-wechat/caddy-wechat
package caddywechat

import (
	// Registers the wechat app and the wechat_* handlers.
	_ "github.com/caddy-wechat/caddy-wechat/caddymodule"
)
