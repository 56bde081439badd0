package session

import (
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// parseTicket sets up wechat_ticket. Syntax:
//
//	wechat_ticket [<matcher>] {
//	    ttl <duration>
//	}
func parseTicket(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	t := new(Ticket)
	err := t.UnmarshalCaddyfile(h.Dispenser)
	return t, err
}

// UnmarshalCaddyfile reads wechat_ticket.
func (t *Ticket) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "ttl":
			if !d.NextArg() {
				return d.ArgErr()
			}
			ttl, err := caddy.ParseDuration(d.Val())
			if err != nil || ttl < time.Second {
				return d.Errf("ttl %q: want a duration of at least 1s, such as 60s", d.Val())
			}
			t.TTL = caddy.Duration(ttl)
			if d.NextArg() {
				return d.ArgErr()
			}
		default:
			return d.Errf("unknown subdirective %q in wechat_ticket; expected ttl", d.Val())
		}
	}
	return nil
}

// parseLogout sets up wechat_logout, which takes no options:
//
//	wechat_logout [<matcher>]
func parseLogout(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	l := new(Logout)
	err := l.UnmarshalCaddyfile(h.Dispenser)
	return l, err
}

// UnmarshalCaddyfile reads wechat_logout.
func (l *Logout) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		return d.ArgErr()
	}
	if d.NextBlock(0) {
		return d.Errf("wechat_logout takes no options, got %q", d.Val())
	}
	return nil
}

// Interface guards
var (
	_ caddyfile.Unmarshaler = (*Ticket)(nil)
	_ caddyfile.Unmarshaler = (*Logout)(nil)
)
