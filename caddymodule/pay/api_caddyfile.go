package pay

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-wechat/caddy-wechat/caddymodule"
)

// parseAPI sets up wechatpay_api. Syntax:
//
//	wechatpay_api [<matcher>] [merchant <mchid>] {
//	    merchant   <mchid>
//	    allow_from <cidr...>
//	}
func parseAPI(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	a := new(API)
	err := a.UnmarshalCaddyfile(h.Dispenser)
	return a, err
}

// UnmarshalCaddyfile reads wechatpay_api.
func (a *API) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if err := inlineMerchant(d, "wechatpay_api", &a.MerchantID); err != nil {
		return err
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "merchant":
			if err := merchantArg(d, &a.MerchantID); err != nil {
				return err
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
			return d.Errf("unknown subdirective %q in wechatpay_api; expected merchant or allow_from", d.Val())
		}
	}
	return nil
}

// inlineMerchant reads "merchant <mchid>" given on the directive's line,
// or nothing.
func inlineMerchant(d *caddyfile.Dispenser, directive string, into *string) error {
	args := d.RemainingArgs()
	switch {
	case len(args) == 0:
		return nil
	case len(args) == 2 && args[0] == "merchant":
		return checkMerchantArg(d, args[1], into)
	}
	return d.Errf("wrong arguments to %s: expected nothing, or merchant <mchid>", directive)
}

// merchantArg reads the merchant subdirective.
func merchantArg(d *caddyfile.Dispenser, into *string) error {
	var id string
	if !d.AllArgs(&id) {
		return d.ArgErr()
	}
	return checkMerchantArg(d, id, into)
}

func checkMerchantArg(d *caddyfile.Dispenser, id string, into *string) error {
	if *into != "" {
		return d.Err("merchant is given twice; use one handler per merchant")
	}
	if err := checkMchID(id); err != nil && !caddymodule.IsPlaceholder(id) {
		return d.Err(err.Error())
	}
	*into = id
	return nil
}

// Interface guards
var _ caddyfile.Unmarshaler = (*API)(nil)
