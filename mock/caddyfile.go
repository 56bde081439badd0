package mock

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// parseMock sets up wechat_mock. Syntax:
//
//	wechat_mock [<matcher>]
func parseMock(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Mock)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile reads wechat_mock, which takes no options.
func (m *Mock) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		return d.ArgErr()
	}
	if d.NextBlock(0) {
		return d.Errf("wechat_mock takes no options, got %q", d.Val())
	}
	return nil
}

// Interface guards
var _ caddyfile.Unmarshaler = (*Mock)(nil)
