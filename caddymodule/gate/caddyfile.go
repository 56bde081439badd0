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
//	    assertion [{
//	        audience <aud>
//	        ttl <duration>
//	    }]
//	    respond
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
		case "assertion":
			if d.NextArg() {
				return d.ArgErr()
			}
			a.Assertion = new(AssertionOptions)
			for nesting := d.Nesting(); d.NextBlock(nesting); {
				switch d.Val() {
				case "audience":
					if !d.AllArgs(&a.Assertion.Audience) {
						return d.ArgErr()
					}
				case "ttl":
					if err := caddymodule.ParseDuration(d, &a.Assertion.TTL); err != nil {
						return err
					}
				default:
					return d.Errf("unknown subdirective %q in assertion; expected audience or ttl", d.Val())
				}
			}
		case "respond":
			if d.NextArg() {
				return d.ArgErr()
			}
			a.Respond = true
		default:
			return d.Errf("unknown subdirective %q in wechat_auth; expected optional, apps, preflight, assertion or respond", d.Val())
		}
	}
	return nil
}

// Interface guards
var _ caddyfile.Unmarshaler = (*Auth)(nil)
