// Command caddy is the development Caddy (the plugin and its simulator)
// that the cluster tests run as separate processes. It lives under
// testdata so that ./... neither builds nor vets it as a product.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-wechat/caddy-wechat"
	_ "github.com/caddy-wechat/caddy-wechat/mock"
)

func main() { caddycmd.Main() }
