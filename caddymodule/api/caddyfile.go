package api

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-wechat/caddy-wechat/caddymodule"
)

// parseAPI sets up wechat_api. Syntax:
//
//	wechat_api [<matcher>] {
//	    app <appid>
//	    allow_from <cidr...>
//	}
func parseAPI(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	a := new(API)
	err := a.UnmarshalCaddyfile(h.Dispenser)
	return a, err
}

// UnmarshalCaddyfile reads wechat_api.
func (a *API) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "app":
			if a.AppID != "" {
				return d.Err("app is given twice in wechat_api; use one wechat_api per app, or none and the X-Wechat-Appid header")
			}
			if !d.AllArgs(&a.AppID) {
				return d.ArgErr()
			}
			if !caddymodule.IsPlaceholder(a.AppID) {
				if err := caddymodule.CheckAppID(a.AppID); err != nil {
					return d.Err(err.Error())
				}
			}
		case "allow_from":
			ranges := d.RemainingArgs()
			if len(ranges) == 0 {
				return d.Err("allow_from needs at least one range: allow_from 203.0.113.0/24")
			}
			for _, s := range ranges {
				if _, err := parsePrefix(s); err != nil {
					return d.Errf("allow_from %q is not a CIDR or an IP address", s)
				}
			}
			a.AllowFrom = append(a.AllowFrom, ranges...)
		default:
			return d.Errf("unknown subdirective %q in wechat_api; expected app or allow_from", d.Val())
		}
	}
	return nil
}

// Interface guards
var _ caddyfile.Unmarshaler = (*API)(nil)
