package mock

import (
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-wechat/caddy-wechat/caddymodule"
	"github.com/caddy-wechat/caddy-wechat/wechatpay"
)

// parsePayMock sets up wechatpay_mock. Syntax:
//
//	wechatpay_mock [<matcher>] {
//	    private_key     <pem>
//	    public_key_id   <PUB_KEY_ID_…>
//	    sign_with       public_key|certificate|alternate
//	    retry_intervals <duration...>
//	    notify_timeout  <duration>
//	}
func parsePayMock(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(PayMock)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile reads wechatpay_mock.
func (m *PayMock) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "private_key":
			if !d.AllArgs(&m.PrivateKey) {
				return d.ArgErr()
			}
			if !caddymodule.IsPlaceholder(m.PrivateKey) {
				if _, err := wechatpay.ParsePrivateKey([]byte(m.PrivateKey)); err != nil {
					return d.Errf("private_key: %s", strings.TrimPrefix(err.Error(), "wechatpay: "))
				}
			}
		case "public_key_id":
			if !d.AllArgs(&m.PublicKeyID) {
				return d.ArgErr()
			}
			if !caddymodule.IsPlaceholder(m.PublicKeyID) && (!strings.HasPrefix(m.PublicKeyID, wechatpay.PublicKeyIDPrefix) || m.PublicKeyID == wechatpay.PublicKeyIDPrefix) {
				return d.Errf("public_key_id %q must start with %s", m.PublicKeyID, wechatpay.PublicKeyIDPrefix)
			}
		case "sign_with":
			if !d.AllArgs(&m.SignWith) {
				return d.ArgErr()
			}
			switch m.SignWith {
			case "public_key", "certificate", "alternate":
			default:
				return d.Errf("sign_with %q: expected public_key, certificate or alternate", m.SignWith)
			}
		case "retry_intervals":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.Err("retry_intervals needs at least one duration: retry_intervals 100ms 200ms 400ms")
			}
			for _, a := range args {
				dur, err := caddy.ParseDuration(a)
				if err != nil || dur <= 0 {
					return d.Errf("retry_intervals: %q is not a positive duration", a)
				}
				m.RetryIntervals = append(m.RetryIntervals, caddy.Duration(dur))
			}
		case "notify_timeout":
			if err := caddymodule.ParseDuration(d, &m.NotifyTimeout); err != nil {
				return err
			}
		default:
			return d.Errf("unknown subdirective %q in wechatpay_mock; expected private_key, public_key_id, sign_with, retry_intervals or notify_timeout", d.Val())
		}
	}
	return nil
}

// Interface guards
var _ caddyfile.Unmarshaler = (*PayMock)(nil)
