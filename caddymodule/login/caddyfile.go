package login

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// parseLogin sets up wechat_login. Syntax:
//
//	wechat_login [<matcher>] {
//	    rate_limit client <requests> <window> | off
//	    rate_limit app    <requests> <window> | off
//	}
func parseLogin(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	l := new(Login)
	err := l.UnmarshalCaddyfile(h.Dispenser)
	return l, err
}

// UnmarshalCaddyfile reads wechat_login.
func (l *Login) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "rate_limit":
			if err := l.parseRateLimit(d); err != nil {
				return err
			}
		default:
			return d.Errf("unknown subdirective %q in wechat_login; expected rate_limit", d.Val())
		}
	}
	return nil
}

func (l *Login) parseRateLimit(d *caddyfile.Dispenser) error {
	args := d.RemainingArgs()
	if len(args) < 2 {
		return d.Err("rate_limit needs a scope and a limit: rate_limit client 30 1m, or rate_limit app off")
	}
	lim := &RateLimit{}
	switch {
	case len(args) == 2 && args[1] == "off":
	case len(args) == 3:
		n, err := strconv.Atoi(args[1])
		win, werr := caddy.ParseDuration(args[2])
		if err != nil || n <= 0 || werr != nil || win <= 0 {
			return d.Errf("rate_limit %s %s %s: want a positive number of requests and a window such as 1m", args[0], args[1], args[2])
		}
		lim.Requests, lim.Window = n, caddy.Duration(win)
	default:
		return d.ArgErr()
	}
	switch args[0] {
	case "client":
		l.ClientRate = lim
	case "app":
		l.AppRate = lim
	default:
		return d.Errf("rate_limit scope %q: expected client or app", args[0])
	}
	return nil
}

// Interface guards
var _ caddyfile.Unmarshaler = (*Login)(nil)
