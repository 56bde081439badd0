package pay_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-wechat/caddy-wechat/caddymodule"
	"github.com/caddy-wechat/caddy-wechat/caddymodule/pay"
	"github.com/caddy-wechat/caddy-wechat/mock"
)

// payDirectives are what FuzzPayCaddyfile parses, by the input's first
// byte.
var payDirectives = [...]string{"wechatpay", "wechatpay_api", "wechatpay_notify", "wechatpay_mock"}

// FuzzPayCaddyfile feeds arbitrary text after each pay directive's name
// to its UnmarshalCaddyfile. Nothing may panic, and when the wechatpay
// option parses, every merchant has a mchid of digits, its three secrets,
// an APIv3 key of 32 bytes or a placeholder, a key mode, and the result
// encodes to JSON.
func FuzzPayCaddyfile(f *testing.F) {
	for _, s := range []struct {
		dir  uint8
		text string
	}{
		{0, "{\n\tmerchant 1900000001 {\n\t\tprivate_key {file./k.pem}\n\t\tserial_no ABC\n\t\tapiv3_key 0123456789abcdef0123456789abcdef\n\t\tplatform_certificates\n\t}\n}"},
		{0, "{\n\tapi_base http://127.0.0.1:8082\n\ttimeout 2s\n\tmerchant 1 {\n\t\tprivate_key {file./k}\n\t\tserial_no {env.S}\n\t\tapiv3_key {env.K}\n\t\tpublic_key PUB_KEY_ID_1 {file./p}\n\t\tappid wx0123456789abcdef wx1111111111111111\n\t\tnotify_url https://e.com/n\n\t}\n}"},
		{0, "{\n\tmerchant 1 {\n\t\tapiv3_key short\n\t}\n}"},
		{0, "{\n\tmerchant 1 {\n\t\tpublic_key PUB_KEY_ID_\n\t}\n}"},
		{0, "{\n\tmerchant x {\n\t}\n}"},
		{0, "{\n\tmerchant 1 {\n\t\tplatform_certificates yes\n\t}\n}"},
		{0, "{\n}"},
		{1, ""},
		{1, "merchant 1900000001"},
		{1, "{\n\tmerchant 1\n\tallow_from 10.0.0.0/8 ::1\n}"},
		{1, "{\n\tallow_from nonsense\n}"},
		{2, "merchant"},
		{2, "{\n\ttimeout 4s\n\tmerchant {env.M}\n}"},
		{2, "merchant 1 {\n\tmerchant 2\n}"},
		{3, "{\n\tsign_with alternate\n\tretry_intervals 1ms 2ms\n\tpublic_key_id PUB_KEY_ID_9\n}"},
		{3, "{\n\tretry_intervals\n}"},
	} {
		f.Add(s.dir, s.text)
	}
	f.Fuzz(func(t *testing.T, dir uint8, text string) {
		name := payDirectives[int(dir)%len(payDirectives)]
		// caddyfile.NewTestDispenser exits the process on a lexer error,
		// so tokenize first.
		tokens, err := caddyfile.Tokenize([]byte(name+" "+text), "Caddyfile")
		if err != nil {
			return
		}
		d := caddyfile.NewDispenser(tokens)
		var v any
		switch name {
		case "wechatpay":
			app := new(pay.App)
			if app.UnmarshalCaddyfile(d) != nil {
				return
			}
			if len(app.Merchants) == 0 {
				t.Fatal("accepted a wechatpay option without a merchant")
			}
			for _, m := range app.Merchants {
				if m.MchID == "" || strings.Trim(m.MchID, "0123456789") != "" {
					t.Fatalf("accepted mchid %q", m.MchID)
				}
				if m.PrivateKey == "" || m.SerialNo == "" || m.APIv3Key == "" {
					t.Fatalf("accepted merchant %s without one of its secrets", m.MchID)
				}
				if !caddymodule.IsPlaceholder(m.APIv3Key) && len(m.APIv3Key) != 32 {
					t.Fatalf("accepted a %d-byte APIv3 key", len(m.APIv3Key))
				}
				if len(m.PublicKeys) == 0 && !m.PlatformCertificates {
					t.Fatalf("accepted merchant %s with no WeChat Pay key", m.MchID)
				}
			}
			v = app
		case "wechatpay_api":
			h := new(pay.API)
			if h.UnmarshalCaddyfile(d) != nil {
				return
			}
			v = h
		case "wechatpay_notify":
			h := new(pay.Notify)
			if h.UnmarshalCaddyfile(d) != nil {
				return
			}
			v = h
		case "wechatpay_mock":
			h := new(mock.PayMock)
			if h.UnmarshalCaddyfile(d) != nil {
				return
			}
			v = h
		}
		if _, err := json.Marshal(v); err != nil {
			t.Fatalf("%s parsed into something that does not encode: %v", name, err)
		}
	})
}
