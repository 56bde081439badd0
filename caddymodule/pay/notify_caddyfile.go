package pay

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-wechat/caddy-wechat/caddymodule"
)

// parseNotify sets up wechatpay_notify. Syntax:
//
//	wechatpay_notify [<matcher>] [merchant <mchid>] {
//	    merchant <mchid>
//	    timeout  <duration>
//	}
func parseNotify(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	n := new(Notify)
	err := n.UnmarshalCaddyfile(h.Dispenser)
	return n, err
}

// UnmarshalCaddyfile reads wechatpay_notify.
func (n *Notify) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if err := inlineMerchant(d, "wechatpay_notify", &n.MerchantID); err != nil {
		return err
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "merchant":
			if err := merchantArg(d, &n.MerchantID); err != nil {
				return err
			}
		case "timeout":
			if err := caddymodule.ParseDuration(d, &n.Timeout); err != nil {
				return err
			}
		default:
			return d.Errf("unknown subdirective %q in wechatpay_notify; expected merchant or timeout", d.Val())
		}
	}
	return nil
}

// Interface guards
var _ caddyfile.Unmarshaler = (*Notify)(nil)
