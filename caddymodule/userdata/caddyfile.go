package userdata

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

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

// Interface guards
var (
	_ caddyfile.Unmarshaler = (*Decrypt)(nil)
	_ caddyfile.Unmarshaler = (*Phone)(nil)
)
