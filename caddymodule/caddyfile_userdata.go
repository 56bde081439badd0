package caddymodule

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("wechat_decrypt", parseDecrypt)
	httpcaddyfile.RegisterHandlerDirective("wechat_phone", parsePhone)
	httpcaddyfile.RegisterHandlerDirective("wechat_api", parseAPI)

	// Each is inserted right before reverse_proxy, so they run after the
	// gate (ordered before basic_auth) and, in forward mode, before the
	// proxy that receives the verified body: no order line needed.
	httpcaddyfile.RegisterDirectiveOrder("wechat_decrypt", httpcaddyfile.Before, "reverse_proxy")
	httpcaddyfile.RegisterDirectiveOrder("wechat_phone", httpcaddyfile.Before, "reverse_proxy")
	httpcaddyfile.RegisterDirectiveOrder("wechat_api", httpcaddyfile.Before, "reverse_proxy")
}

// parseDecrypt sets up wechat_decrypt. Syntax:
//
//	wechat_decrypt [<matcher>] {
//	    forward
//	}
func parseDecrypt(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	d := new(Decrypt)
	err := d.UnmarshalCaddyfile(h.Dispenser)
	return d, err
}

// UnmarshalCaddyfile reads wechat_decrypt.
func (d *Decrypt) UnmarshalCaddyfile(disp *caddyfile.Dispenser) error {
	return parseForwardOnly(disp, "wechat_decrypt", &d.Forward)
}

// parsePhone sets up wechat_phone. Syntax:
//
//	wechat_phone [<matcher>] {
//	    forward
//	}
func parsePhone(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	p := new(Phone)
	err := p.UnmarshalCaddyfile(h.Dispenser)
	return p, err
}

// UnmarshalCaddyfile reads wechat_phone.
func (p *Phone) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return parseForwardOnly(d, "wechat_phone", &p.Forward)
}

// parseForwardOnly reads a directive whose only option is forward.
func parseForwardOnly(d *caddyfile.Dispenser, name string, forward *bool) error {
	d.Next() // directive name; the matcher was already taken out
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "forward":
			if d.NextArg() {
				return d.ArgErr()
			}
			if *forward {
				return d.Errf("forward is given twice in %s", name)
			}
			*forward = true
		default:
			return d.Errf("unknown subdirective %q in %s; expected forward", d.Val(), name)
		}
	}
	return nil
}

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
			if a.App != "" {
				return d.Err("app is given twice in wechat_api; use one wechat_api per app, or none and the X-Wechat-Appid header")
			}
			if !d.AllArgs(&a.App) {
				return d.ArgErr()
			}
			if !isPlaceholder(a.App) {
				if err := checkAppID(a.App); err != nil {
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
var (
	_ caddyfile.Unmarshaler = (*Decrypt)(nil)
	_ caddyfile.Unmarshaler = (*Phone)(nil)
	_ caddyfile.Unmarshaler = (*API)(nil)
)
