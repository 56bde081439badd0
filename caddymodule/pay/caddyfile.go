package pay

import (
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/caddy-wechat/caddy-wechat/caddymodule"
	"github.com/caddy-wechat/caddy-wechat/wechatpay"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("wechatpay", parseGlobalOption)
}

// parseGlobalOption sets up the wechatpay app. Syntax:
//
//	wechatpay {
//	    api_base <url>
//	    timeout  <duration>
//	    merchant <mchid> {
//	        private_key <pem>
//	        serial_no   <hex>
//	        apiv3_key   <32 bytes>
//	        public_key  <PUB_KEY_ID_…> <pem>
//	        platform_certificates
//	        appid       <appid…>
//	        notify_url  <url>
//	    }
//	}
func parseGlobalOption(d *caddyfile.Dispenser, _ any) (any, error) {
	app := new(App)
	if err := app.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{Name: "wechatpay", Value: caddyconfig.JSON(app, nil)}, nil
}

// UnmarshalCaddyfile reads the wechatpay global option. What is literal
// is checked here, so that caddy adapt reports it with its line; what
// arrives through a placeholder is checked at provisioning.
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // option name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "api_base":
			if a.APIBase != "" {
				return d.Err("api_base is given twice")
			}
			if !d.AllArgs(&a.APIBase) {
				return d.ArgErr()
			}
			if !caddymodule.IsPlaceholder(a.APIBase) {
				if err := checkOrigin("api_base", a.APIBase); err != nil {
					return d.Err(strings.TrimPrefix(err.Error(), "wechatpay: "))
				}
			}
		case "timeout":
			if err := caddymodule.ParseDuration(d, &a.Timeout); err != nil {
				return err
			}
		case "merchant":
			m, err := parseMerchant(d, a.Merchants)
			if err != nil {
				return err
			}
			a.Merchants = append(a.Merchants, m)
		default:
			return d.Errf("unknown subdirective %q in wechatpay; expected api_base, timeout or merchant", d.Val())
		}
	}
	if len(a.Merchants) == 0 {
		return d.Err("wechatpay has no merchant; add 'merchant <mchid> { … }'")
	}
	return nil
}

func parseMerchant(d *caddyfile.Dispenser, seen []*Merchant) (*Merchant, error) {
	m := new(Merchant)
	if !d.NextArg() {
		return nil, d.Err("merchant needs a mchid: merchant 1900000001 { … }")
	}
	m.MchID = d.Val()
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	if err := checkMchID(m.MchID); err != nil {
		return nil, d.Err(err.Error())
	}
	for _, other := range seen {
		if other.MchID == m.MchID {
			return nil, d.Errf("merchant %s is configured twice; merge the two blocks", m.MchID)
		}
	}
	file, line := d.File(), d.Line()
	once := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		sub := d.Val()
		switch sub {
		case "private_key", "serial_no", "apiv3_key", "notify_url", "platform_certificates":
			if once[sub] {
				return nil, d.Errf("%s is given twice in merchant %s", sub, m.MchID)
			}
			once[sub] = true
		}
		switch sub {
		case "private_key":
			if !d.AllArgs(&m.PrivateKey) {
				return nil, d.ArgErr()
			}
			if !caddymodule.IsPlaceholder(m.PrivateKey) {
				if _, err := wechatpay.ParsePrivateKey([]byte(m.PrivateKey)); err != nil {
					return nil, d.Errf("private_key: %s; give the PEM file as {file./run/secrets/apiclient_key.pem}", strings.TrimPrefix(err.Error(), "wechatpay: "))
				}
			}
		case "serial_no":
			if !d.AllArgs(&m.SerialNo) {
				return nil, d.ArgErr()
			}
			if !caddymodule.IsPlaceholder(m.SerialNo) {
				if err := checkSerialNo(m.SerialNo); err != nil {
					return nil, d.Err(err.Error())
				}
			}
		case "apiv3_key":
			if !d.AllArgs(&m.APIv3Key) {
				return nil, d.ArgErr()
			}
			if !caddymodule.IsPlaceholder(m.APIv3Key) {
				if err := checkAPIv3Key([]byte(m.APIv3Key)); err != nil {
					return nil, d.Err(err.Error())
				}
			}
		case "public_key":
			pk := new(PublicKey)
			if !d.AllArgs(&pk.ID, &pk.PEM) {
				return nil, d.Err("public_key needs the key's id and its PEM: public_key PUB_KEY_ID_0114232134912410000000000000 {file./run/secrets/pub_key.pem}")
			}
			if !caddymodule.IsPlaceholder(pk.ID) && !strings.HasPrefix(pk.ID, wechatpay.PublicKeyIDPrefix) || pk.ID == wechatpay.PublicKeyIDPrefix {
				return nil, d.Errf("public_key id %q must start with %s, as the merchant platform shows it", pk.ID, wechatpay.PublicKeyIDPrefix)
			}
			for _, other := range m.PublicKeys {
				if other.ID == pk.ID {
					return nil, d.Errf("public_key %s is given twice", pk.ID)
				}
			}
			if !caddymodule.IsPlaceholder(pk.PEM) {
				if _, err := wechatpay.ParsePublicKey([]byte(pk.PEM)); err != nil {
					return nil, d.Errf("public_key %s: %s; give the PEM file as {file./run/secrets/pub_key.pem}", pk.ID, strings.TrimPrefix(err.Error(), "wechatpay: "))
				}
			}
			m.PublicKeys = append(m.PublicKeys, pk)
		case "platform_certificates":
			if d.NextArg() {
				return nil, d.ArgErr()
			}
			m.PlatformCertificates = true
		case "appid":
			ids := d.RemainingArgs()
			if len(ids) == 0 {
				return nil, d.Err("appid needs at least one appid: appid wx0123456789abcdef")
			}
			for _, id := range ids {
				if !caddymodule.IsPlaceholder(id) {
					if err := caddymodule.CheckAppID(id); err != nil {
						return nil, d.Err(strings.TrimPrefix(err.Error(), "wechat: "))
					}
				}
				for _, other := range m.AppIDs {
					if other == id {
						return nil, d.Errf("appid %s is given twice in merchant %s", id, m.MchID)
					}
				}
				m.AppIDs = append(m.AppIDs, id)
			}
		case "notify_url":
			if !d.AllArgs(&m.NotifyURL) {
				return nil, d.ArgErr()
			}
			if !caddymodule.IsPlaceholder(m.NotifyURL) {
				if err := checkNotifyURL(m.NotifyURL); err != nil {
					return nil, d.Err(err.Error())
				}
			}
		default:
			return nil, d.Errf("unknown subdirective %q in merchant %s; expected private_key, serial_no, apiv3_key, public_key, platform_certificates, appid or notify_url", sub, m.MchID)
		}
	}
	// Point at the merchant line, not at the closing brace.
	for _, need := range []struct{ name, value, hint string }{
		{"private_key", m.PrivateKey, "private_key {file./run/secrets/apiclient_key.pem}"},
		{"serial_no", m.SerialNo, "serial_no <the merchant API certificate's serial>"},
		{"apiv3_key", m.APIv3Key, "apiv3_key {env.WECHATPAY_APIV3_KEY}"},
	} {
		if need.value == "" {
			return nil, fmt.Errorf("merchant %s has no %s; add '%s' inside its block, at %s:%d", m.MchID, need.name, need.hint, file, line)
		}
	}
	if len(m.PublicKeys) == 0 && !m.PlatformCertificates {
		return nil, fmt.Errorf("merchant %s has no WeChat Pay key to verify answers and notifications with; add 'public_key PUB_KEY_ID_… {file./run/secrets/pub_key.pem}', or 'platform_certificates', or both, at %s:%d", m.MchID, file, line)
	}
	return m, nil
}

// Interface guards
var _ caddyfile.Unmarshaler = (*App)(nil)
