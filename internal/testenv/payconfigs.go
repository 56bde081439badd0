package testenv

import (
	"fmt"
	"strings"
)

// The ports of PayConfig's sites, chosen when the test binary starts.
var (
	PayAPIPort    = pickPort() // wechatpay_api, on loopback
	PayNotifyPort = pickPort() // wechatpay_notify, '_' and '.' names allowed
	PayMockPort   = pickPort() // wechatpay_mock
	PayEdgePort   = pickPort() // login and the gate, with the wechat app
)

// Key modes of the merchant block.
const (
	PayPublicKeyMode = "public_key " + PayPubKeyID + " {file.%s}"
	PayCertMode      = "platform_certificates"
)

// PaySetup describes a pay test's Caddyfile.
type PaySetup struct {
	// APIBase is the wechatpay api_base: a FakePay's URL, or MockBase().
	APIBase string
	Files   PayFiles
	// Keys are the merchant's key-mode lines: PublicKey(files), PayCertMode
	// or both. Default: the public key.
	Keys []string
	// Merchant is more lines inside the merchant block.
	Merchant string
	// Backend is the notify route's upstream.
	Backend string
	// NotifyTimeout is wechatpay_notify's timeout (default 1s).
	NotifyTimeout string
	// Mock is lines inside the wechatpay_mock block.
	Mock string
	// WeChatBase, when set, adds the wechat app (login against it) and a
	// login-and-gate site on PayEdgePort whose /pay/* is wechatpay_api
	// behind the gate: a mistake the handler refuses.
	WeChatBase string
	// Global is more global options; Sites more sites; InSite is added
	// to the wechatpay_api and wechatpay_notify sites (an access log).
	Global, Sites, InSite string
}

// MockBase is the URL of PayConfig's simulator.
func MockBase() string { return fmt.Sprintf("http://127.0.0.1:%d", PayMockPort) }

// PublicKey is the merchant line that trusts WeChat's public key.
func (f PayFiles) PublicKey() string { return fmt.Sprintf(PayPublicKeyMode, f.WeChatPub) }

// NotifyURL is the notify route of PayConfig.
func NotifyURL() string { return fmt.Sprintf("http://127.0.0.1:%d%s", PayNotifyPort, PayNotifyPath) }

// PayAPI is a URL on PayConfig's wechatpay_api listener.
func PayAPI(path string) string { return fmt.Sprintf("http://127.0.0.1:%d%s", PayAPIPort, path) }

// PayConfig is the Caddyfile of the pay tests: the wechatpay app with one
// merchant, wechatpay_api on PayAPIPort, wechatpay_notify on
// PayNotifyPort (/pay/notify to the backend, /pay/bare with nothing after
// it), and wechatpay_mock on PayMockPort.
func PayConfig(s PaySetup) string {
	keys := s.Keys
	if len(keys) == 0 {
		keys = []string{s.Files.PublicKey()}
	}
	timeout := s.NotifyTimeout
	if timeout == "" {
		timeout = "1s"
	}
	backend := s.Backend
	if backend == "" {
		backend = "127.0.0.1:9"
	}
	wechat, edge := "", ""
	if s.WeChatBase != "" {
		wechat = fmt.Sprintf(`wechat {
		api_base %s
		timeout 1s
		app %s {
			secret %s
		}
		token {
			signing_key %s
		}
	}`, s.WeChatBase, AppID, Secret, SigningKey)
		edge = fmt.Sprintf(`:%d {
	bind 127.0.0.1
	wechat_login /login
	handle /pay/* {
		uri strip_prefix /pay
		wechat_auth
		wechatpay_api
	}
}`, PayEdgePort)
	}
	return fmt.Sprintf(`{
	admin localhost:2999
	auto_https off
	skip_install_trust
	servers :%[2]d {
		expected_underscore_headers X_Wechatpay_Event_Id X_Wechatpay_Event_Type X_Wechatpay_Resource_Type X_Wechatpay_Verified
		expected_dot_headers X.Wechatpay.Event.Id X.Wechatpay.Verified
	}
	%[12]s
	wechatpay {
		api_base %[4]s
		timeout 1s
		merchant %[5]s {
			private_key {file.%[6]s}
			serial_no %[7]s
			apiv3_key %[8]s
			appid %[9]s
			notify_url %[10]s
			%[11]s
			%[13]s
		}
	}
	%[14]s
}
:%[1]d {
	bind 127.0.0.1
	%[23]s
	wechatpay_api
}
:%[2]d {
	%[23]s
	handle %[15]s {
		wechatpay_notify {
			timeout %[16]s
		}
		reverse_proxy %[17]s {
			transport http {
				keepalive 2s
			}
		}
	}
	handle /pay/bare {
		wechatpay_notify
	}
}
:%[3]d {
	bind 127.0.0.1
	wechatpay_mock {
		private_key {file.%[18]s}
		public_key_id %[19]s
		retry_intervals 50ms 100ms 200ms
		notify_timeout 2s
		%[20]s
	}
}
%[21]s
%[22]s
`, PayAPIPort, PayNotifyPort, PayMockPort,
		s.APIBase, PayMchID, s.Files.MerchantKey, PayMchSerial, PayAPIv3Key, AppID, NotifyURL(),
		strings.Join(keys, "\n\t\t\t"), s.Global, s.Merchant, wechat,
		PayNotifyPath, timeout, backend, s.Files.WeChatKey, PayPubKeyID, s.Mock, edge, s.Sites, s.InSite)
}
