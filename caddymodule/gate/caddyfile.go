package gate

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-wechat/caddy-wechat/caddymodule"
)

// parseAuth sets up wechat_auth. Syntax:
//
//	wechat_auth [<matcher>] {
//	    optional
//	    apps <appid...>
//	    preflight pass
//	}
func parseAuth(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	a := new(Auth)
	err := a.UnmarshalCaddyfile(h.Dispenser)
	return a, err
}

// UnmarshalCaddyfile reads wechat_auth.
func (a *Auth) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "optional":
			if d.NextArg() {
				return d.ArgErr()
			}
			a.Optional = true
		case "apps":
			ids := d.RemainingArgs()
			if len(ids) == 0 {
				return d.Err("apps needs at least one appid: apps wx0123456789abcdef")
			}
			for _, id := range ids {
				if !caddymodule.IsPlaceholder(id) {
					if err := caddymodule.CheckAppID(id); err != nil {
						return d.Err(err.Error())
					}
				}
			}
			a.Apps = append(a.Apps, ids...)
		case "preflight":
			if !d.NextArg() || d.Val() != "pass" || d.NextArg() {
				return d.Err("preflight takes one argument: preflight pass")
			}
			a.Preflight = "pass"
		default:
			return d.Errf("unknown subdirective %q in wechat_auth; expected optional, apps or preflight", d.Val())
		}
	}
	return nil
}

// Interface guards
var _ caddyfile.Unmarshaler = (*Auth)(nil)
